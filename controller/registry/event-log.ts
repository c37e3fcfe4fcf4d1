/** The embedded store's event log: one JSON line per committed change, in revision order,
 * split into segments named by their first revision. Writers append under the store lock;
 * watchers tail it with a LogCursor. It is what lets a watch in another process see every
 * change once, in order, including deletes (which leave no file to notice). */
import { appendFileSync, close, open, openSync, read, readdirSync, statSync, unlinkSync } from 'node:fs';
import { listDir } from './atomic-file.js';
import { RegistryError, ioError } from './errors.js';
import type { DeleteCause } from './registry.js';
import { StoreLayout, segmentsOf } from './store-layout.js';

export interface PutEntry {
  readonly rev: number;
  readonly type: 'put';
  readonly key: string;
  readonly value: unknown;
  readonly lease?: string;
}

export interface DeleteEntry {
  readonly rev: number;
  readonly type: 'delete';
  readonly key: string;
  readonly cause: DeleteCause;
  readonly prev?: unknown;
}

export type LogEntry = PutEntry | DeleteEntry;

export interface SegmentSettings {
  /** A segment that has grown past this many bytes is closed; the next write starts a new one. */
  readonly segmentBytes: number;
  /** Segments kept; older ones are deleted (compaction). A watch that falls further behind fails with 'compacted'. */
  readonly segmentsKept: number;
}

/** Appends entries (consecutive revisions) to the newest segment. Synchronous: call only
 * inside the store lock's critical section. */
export function appendEntriesSync(layout: StoreLayout, settings: SegmentSettings, entries: readonly LogEntry[]): void {
  const first = entries[0];
  if (first === undefined) return;
  let path = layout.events;
  try {
    const segments = segmentsOf(readdirSync(layout.events));
    let current = segments.at(-1);
    if (current === undefined || statSync(layout.segmentFile(current)).size >= settings.segmentBytes) {
      current = first.rev;
      segments.push(current);
      for (const old of segments.slice(0, Math.max(0, segments.length - settings.segmentsKept))) unlinkSync(layout.segmentFile(old));
    }
    path = layout.segmentFile(current);
    appendFileSync(path, entries.map((e) => JSON.stringify(e) + '\n').join(''));
  } catch (e) {
    throw ioError('append event', e, { path, revision: first.rev });
  }
}

const NEWLINE = 0x0a;
const CHUNK = 64 * 1024;

// The cursor works on raw fds rather than FileHandles because its first segment is opened
// synchronously (see the constructor), and a FileHandle can only be opened asynchronously.
const openFd = (path: string): Promise<number> => new Promise((res, rej) => open(path, 'r', (e, fd) => (e ? rej(e) : res(fd))));
const readAt = (fd: number, buf: Buffer, pos: number): Promise<number> =>
  new Promise((res, rej) => read(fd, buf, 0, buf.length, pos, (e, n) => (e ? rej(e) : res(n))));
const closeFd = (fd: number): Promise<void> => new Promise((res) => close(fd, () => res()));

/** Reads the log from a revision on. Keeps its segment open, so a segment compacted away
 * while the cursor is inside it can still be read to its end (unlinked files stay readable). */
export class LogCursor {
  private segment: number | undefined;
  private fd: number | undefined;
  private offset = 0;
  private partial: Buffer = Buffer.alloc(0);
  private chunk: Buffer | undefined;
  private pendingError: unknown;
  private closing: Promise<void> | undefined;
  private closed = false;

  /** `at`: where in the log revision `nextRev` will be (a position taken when the watch
   * started); without it the cursor searches the segments for `nextRev`. */
  constructor(
    private readonly layout: StoreLayout,
    private nextRev: number,
    at?: { readonly segment: number; readonly offset: number },
  ) {
    if (at) {
      this.segment = at.segment;
      this.offset = at.offset;
      // Opened now, not at the first read: the segment may be compacted before that read, and
      // a new watch must not lose its starting point to a burst of writes.
      try {
        this.fd = openSync(layout.segmentFile(at.segment), 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  /** Entries committed since the last call, in revision order. */
  async read(): Promise<LogEntry[]> {
    if (this.pendingError) throw this.pendingError;
    const out: LogEntry[] = [];
    try {
      await this.readInto(out);
    } catch (e) {
      // The cursor has moved past what is in `out`: deliver it, fail on the next read.
      if (out.length === 0) throw e;
      this.pendingError = e;
    }
    return out;
  }

  private async readInto(out: LogEntry[]): Promise<void> {
    while (!this.closed) {
      // List before reading: if a newer segment exists now, nobody appends to ours any more,
      // so reading ours to its end finishes it.
      const segments = segmentsOf(await listDir(this.layout.events));
      if (this.segment === undefined && !this.seek(segments)) return;
      const segment = this.segment as number;
      this.fd ??= await this.openSegment(segment);
      await this.readToEnd(out);
      const next = segments.find((s) => s > segment);
      if (next === undefined) return;
      // Segments between ours and the next kept one were compacted while we read ours: fail
      // rather than skip silently (read() still hands over what we have).
      if (next > this.nextRev) {
        throw new RegistryError('compacted', `events from revision ${this.nextRev} to ${next - 1} were compacted while the watch read an older segment`, {
          revision: this.nextRev,
          path: this.layout.events,
        });
      }
      await this.closeFile();
      this.segment = next;
      this.offset = 0;
      this.partial = Buffer.alloc(0);
    }
  }

  /** Idempotent; every caller's promise resolves once the file is really closed. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.closeFile();
    return this.closing;
  }

  private seek(segments: readonly number[]): boolean {
    const first = segments[0];
    if (first === undefined) return false;
    if (first > this.nextRev) {
      throw new RegistryError('compacted', `events from revision ${this.nextRev} were compacted; the oldest kept is ${first}`, {
        revision: this.nextRev,
        path: this.layout.events,
      });
    }
    this.segment = segments.filter((s) => s <= this.nextRev).at(-1);
    this.offset = 0;
    return true;
  }

  private async openSegment(segment: number): Promise<number> {
    const path = this.layout.segmentFile(segment);
    try {
      return await openFd(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new RegistryError('compacted', `event segment ${segment} was compacted before the watch read it`, { revision: this.nextRev, path });
      }
      throw ioError('open event segment', e, { path });
    }
  }

  private async readToEnd(out: LogEntry[]): Promise<void> {
    const fd = this.fd as number;
    for (;;) {
      const buf = (this.chunk ??= Buffer.allocUnsafe(CHUNK));
      let bytesRead: number;
      try {
        bytesRead = await readAt(fd, buf, this.offset);
      } catch (e) {
        throw ioError('read event segment', e, { path: this.layout.segmentFile(this.segment ?? 0) });
      }
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      let data = Buffer.concat([this.partial, buf.subarray(0, bytesRead)]);
      // A writer's append may be visible in part: keep an unterminated tail for the next read.
      let nl = data.indexOf(NEWLINE);
      while (nl >= 0) {
        const entry = this.parse(data.subarray(0, nl));
        if (entry.rev >= this.nextRev) {
          out.push(entry);
          this.nextRev = entry.rev + 1;
        }
        data = data.subarray(nl + 1);
        nl = data.indexOf(NEWLINE);
      }
      this.partial = Buffer.from(data);
    }
  }

  private parse(line: Buffer): LogEntry {
    let entry: unknown;
    try {
      entry = JSON.parse(line.toString('utf8'));
    } catch {
      entry = undefined;
    }
    const e = entry as Partial<LogEntry> | undefined;
    if (!e || typeof e.rev !== 'number' || typeof e.key !== 'string' || (e.type !== 'put' && e.type !== 'delete')) {
      throw new RegistryError('corrupt', `bad event log line ${JSON.stringify(line.toString('utf8').slice(0, 120))}`, {
        path: this.layout.segmentFile(this.segment ?? 0),
      });
    }
    return e as LogEntry;
  }

  private async closeFile(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await closeFd(fd);
  }
}
