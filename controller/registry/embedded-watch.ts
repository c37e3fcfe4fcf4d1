/** One watch on the embedded store: a cursor on the event log, advanced whenever the registry
 * pokes it (fs.watch fired, or the periodic rescan). Scans never overlap, and the cursor only
 * moves forward, so each change is delivered once and in revision order however many pokes
 * arrive. */
import { RegistryError } from './errors.js';
import type { LogCursor, LogEntry } from './event-log.js';
import { keyType } from './keys.js';
import { validateEndpoint, validateStoredHost } from './records.js';
import type { RecordRef, Watch, WatchEvent, WatchListener } from './registry.js';

function recordRef(key: string, value: unknown): RecordRef {
  return keyType(key) === 'host' ? { host: validateStoredHost(value) } : { endpoint: validateEndpoint(value) };
}

export function eventOf(entry: LogEntry): WatchEvent {
  try {
    if (entry.type === 'put') {
      return { type: 'put', key: entry.key, revision: entry.rev, ...(entry.lease !== undefined ? { lease: entry.lease } : {}), ...recordRef(entry.key, entry.value) };
    }
    const prev = entry.prev === undefined ? {} : { prev: recordRef(entry.key, entry.prev) };
    return { type: 'delete', key: entry.key, revision: entry.rev, cause: entry.cause, ...prev };
  } catch (e) {
    const detail = e instanceof RegistryError ? e.detail : String(e);
    throw new RegistryError('corrupt', `event ${entry.rev} holds a bad record: ${detail}`, { key: entry.key, revision: entry.rev }, { cause: e });
  }
}

export class EmbeddedWatch implements Watch {
  readonly ready: Promise<void> = Promise.resolve();
  private closed = false;
  private scanning: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly cursor: LogCursor,
    private readonly match: (e: WatchEvent) => boolean,
    private readonly listener: WatchListener,
    private readonly onError: (err: Error) => void,
    private readonly onClose: (w: EmbeddedWatch) => void,
  ) {}

  /** Something may have changed: scan now, or right after the scan in progress. */
  poke(): void {
    if (this.closed) return;
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.scanning = this.scan().finally(() => {
      this.scanning = undefined;
      if (this.closed) void this.cursor.close();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    if (!this.scanning) void this.cursor.close();
  }

  /** Resolves when the watch is closed and its log file handle released. */
  async drained(): Promise<void> {
    await this.scanning;
    await this.cursor.close();
  }

  private async scan(): Promise<void> {
    try {
      do {
        this.again = false;
        for (const entry of await this.cursor.read()) {
          if (this.closed) return;
          this.deliver(entry);
        }
      } while (this.again && !this.closed);
    } catch (e) {
      if (this.closed) return;
      this.report(e);
      this.close();
    }
  }

  // The caller's onError may throw too; that must not become an unhandled rejection.
  private report(e: unknown): void {
    try {
      this.onError(e instanceof Error ? e : new Error(String(e)));
    } catch (again) {
      process.emitWarning(again instanceof Error ? again : String(again));
    }
  }

  private deliver(entry: LogEntry): void {
    let event: WatchEvent;
    try {
      event = eventOf(entry);
    } catch (e) {
      this.report(e);
      return;
    }
    if (!this.match(event)) return;
    try {
      this.listener(event);
    } catch (e) {
      this.report(e);
    }
  }
}
