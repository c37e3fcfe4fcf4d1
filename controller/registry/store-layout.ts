/** Where the embedded registry keeps things inside its directory (see README.md, "On disk"). */
import { join } from 'node:path';

export const SEGMENT_SUFFIX = '.log';
export const RECORD_SUFFIX = '.json';

export class StoreLayout {
  readonly records: string;
  readonly leases: string;
  readonly events: string;
  /** The revision counter: the revision of the last write, as decimal text. */
  readonly rev: string;
  /** The writers' lock (O_EXCL lock file). */
  readonly lock: string;

  constructor(readonly dir: string) {
    this.records = join(dir, 'records');
    this.leases = join(dir, 'leases');
    this.events = join(dir, 'events');
    this.rev = join(dir, 'rev');
    this.lock = join(dir, 'lock');
  }

  // Keys contain '/', file names cannot: encodeURIComponent turns it into %2F and leaves the
  // characters record names may use ([A-Za-z0-9._-]) alone, so names stay readable.
  recordFile(key: string): string {
    return join(this.records, encodeURIComponent(key) + RECORD_SUFFIX);
  }

  recordFilePrefix(keyPrefix: string): string {
    return encodeURIComponent(keyPrefix);
  }

  leaseFile(id: string): string {
    return join(this.leases, id + RECORD_SUFFIX);
  }

  // Zero-padded so that name order is revision order.
  segmentFile(firstRev: number): string {
    return join(this.events, String(firstRev).padStart(20, '0') + SEGMENT_SUFFIX);
  }
}

/** First revisions of the event log's segments, oldest first, from a listing of events/. */
export function segmentsOf(names: readonly string[]): number[] {
  return names
    .filter((n) => n.endsWith(SEGMENT_SUFFIX) && /^\d{20}\.log$/.test(n))
    .map((n) => Number(n.slice(0, -SEGMENT_SUFFIX.length)))
    .sort((a, b) => a - b);
}
