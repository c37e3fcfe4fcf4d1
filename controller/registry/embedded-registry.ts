/** The zero-setup registry: a directory that every bananad on the machine shares (network
 * namespaces do not separate the filesystem), one JSON file per record, one per lease, a
 * revision counter and an event log, all written under one lock. See README.md for the layout
 * and the invariants. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, watch as fsWatch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EmbeddedLease, LEASE_ID, type LeaseFile, type LeaseOwner } from './embedded-lease.js';
import { EmbeddedWatch } from './embedded-watch.js';
import { RegistryError, ioError } from './errors.js';
import { LogCursor, appendEntriesSync, type DeleteEntry, type SegmentSettings } from './event-log.js';
import { FileLock } from './file-lock.js';
import { ENDPOINTS_PREFIX, HOSTS_PREFIX, endpointKey, hostKey, keyType } from './keys.js';
import {
  ENDPOINT_KINDS,
  isValidName,
  validateEndpoint,
  validateHost,
  type EndpointKind,
  type EndpointRecord,
  type HostInput,
  type HostRecord,
} from './records.js';
import type { DeleteCause, EndpointFilter, Lease, Registry, Watch, WatchListener, WatchOptions, WatchSelector } from './registry.js';
import { StoreFiles, type StoredFile } from './store-files.js';
import { StoreLayout, segmentsOf } from './store-layout.js';
import { selectorMatcher } from './watch-selector.js';

export interface EmbeddedRegistrySettings {
  /** Cluster name; picks the default directory. Default 'default'. */
  readonly cluster?: string;
  /** The store directory, shared by every daemon of the cluster. Default /run/banana/registry/<cluster>. */
  readonly dir?: string;
  /** Watches rescan the event log this often, in case fs.watch missed a change. Default 250 ms. */
  readonly pollIntervalMs?: number;
  /** Expired leases are collected (their records deleted, with events) this often. Default 250 ms. */
  readonly gcIntervalMs?: number;
  /** A write waits at most this long for the store lock. Default 5000 ms. */
  readonly lockTimeoutMs?: number;
  /** Use fs.watch to wake watches as soon as the log changes. Default true; false leaves only the rescan. */
  readonly fsWatch?: boolean;
  /** Event log segment size before a new segment starts. Default 1 MiB. */
  readonly segmentBytes?: number;
  /** Event log segments kept. Default 4. */
  readonly segmentsKept?: number;
}

const DEFAULTS = {
  cluster: 'default',
  pollIntervalMs: 250,
  gcIntervalMs: 250,
  lockTimeoutMs: 5000,
  fsWatch: true,
  segmentBytes: 1 << 20,
  segmentsKept: 4,
} as const;

function positive(field: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new RegistryError('invalid', `${field} must be a positive integer, got ${String(v)}`, { field });
  return n;
}

export class EmbeddedRegistry implements Registry, LeaseOwner {
  readonly dir: string;
  private readonly layout: StoreLayout;
  private readonly files: StoreFiles;
  private readonly lock: FileLock;
  private readonly log: SegmentSettings;
  private readonly pollIntervalMs: number;
  private readonly useFsWatch: boolean;
  private readonly gcTimer: NodeJS.Timeout;
  private readonly pending = new Set<Promise<void>>();
  private readonly watches = new Set<EmbeddedWatch>();
  private fsWatcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private gcRunning = false;
  private closed = false;
  private closing: Promise<void> | undefined;

  /** Opens (creating if needed) the store directory. */
  static async open(settings: EmbeddedRegistrySettings = {}): Promise<EmbeddedRegistry> {
    const cluster = settings.cluster ?? DEFAULTS.cluster;
    if (!isValidName(cluster)) throw new RegistryError('invalid', `cluster must be a name, got ${JSON.stringify(cluster)}`, { field: 'cluster' });
    const dir = resolve(settings.dir ?? join('/run/banana/registry', cluster));
    const layout = new StoreLayout(dir);
    for (const d of [layout.records, layout.leases, layout.events]) {
      await mkdir(d, { recursive: true }).catch((e: unknown) => {
        throw ioError('create store directory', e, { path: d });
      });
    }
    return new EmbeddedRegistry(layout, settings);
  }

  private constructor(layout: StoreLayout, settings: EmbeddedRegistrySettings) {
    this.layout = layout;
    this.files = new StoreFiles(layout);
    this.dir = layout.dir;
    this.lock = new FileLock(layout.lock, { timeoutMs: positive('lockTimeoutMs', settings.lockTimeoutMs, DEFAULTS.lockTimeoutMs) });
    this.log = {
      segmentBytes: positive('segmentBytes', settings.segmentBytes, DEFAULTS.segmentBytes),
      segmentsKept: positive('segmentsKept', settings.segmentsKept, DEFAULTS.segmentsKept),
    };
    this.pollIntervalMs = positive('pollIntervalMs', settings.pollIntervalMs, DEFAULTS.pollIntervalMs);
    this.useFsWatch = settings.fsWatch ?? DEFAULTS.fsWatch;
    const gcIntervalMs = positive('gcIntervalMs', settings.gcIntervalMs, DEFAULTS.gcIntervalMs);
    // unref: an open registry alone must not keep a process alive; close() is the contract.
    this.gcTimer = setInterval(() => void this.collect(), gcIntervalMs).unref();
  }

  // ---- records --------------------------------------------------------------------------

  putHost(rec: HostInput, lease?: Lease): Promise<number> {
    return this.op(async () => {
      const host = validateHost(rec);
      return this.put(hostKey(host.name), host, lease);
    });
  }

  putEndpoint(rec: EndpointRecord, lease?: Lease): Promise<number> {
    return this.op(async () => {
      const endpoint = validateEndpoint(rec);
      return this.put(endpointKey(endpoint.id), endpoint, lease);
    });
  }

  delete(key: string): Promise<boolean> {
    return this.op(async () => {
      keyType(key);
      return this.lock.with(() => {
        const old = this.files.readRecordSync(key);
        if (old === undefined) return false;
        // A record whose lease expired is already gone for readers; removing it now is the
        // expiry the collector would have announced, so say so.
        const visible = this.files.visibleSync(old);
        this.removeLocked([{ key, prev: old.value, cause: visible ? 'delete' : 'lease-expired' }]);
        return visible;
      });
    });
  }

  getHost(name: string): Promise<HostRecord | undefined> {
    return this.op(async () => {
      if (!isValidName(name)) throw new RegistryError('invalid', `not a host name: ${JSON.stringify(name)}`, { field: 'name' });
      const file = await this.files.readRecord(hostKey(name));
      return file !== undefined && (await this.files.visible(file)) ? this.files.hostOf(file) : undefined;
    });
  }

  listHosts(): Promise<HostRecord[]> {
    return this.op(async () => (await this.files.readVisible(HOSTS_PREFIX)).map((f) => this.files.hostOf(f)));
  }

  getEndpoint(id: string): Promise<EndpointRecord | undefined> {
    return this.op(async () => {
      const segments = typeof id === 'string' ? id.split('/') : [];
      if (segments.length < 2 || !segments.every(isValidName)) {
        throw new RegistryError('invalid', `not an endpoint id: ${JSON.stringify(id)}`, { field: 'id' });
      }
      const file = await this.files.readRecord(endpointKey(id));
      return file !== undefined && (await this.files.visible(file)) ? this.files.endpointOf(file) : undefined;
    });
  }

  listEndpoints(filter: EndpointFilter = {}): Promise<EndpointRecord[]> {
    return this.op(async () => {
      if (filter.host !== undefined && !isValidName(filter.host)) {
        throw new RegistryError('invalid', `filter.host is not a host name: ${JSON.stringify(filter.host)}`, { field: 'host' });
      }
      if (filter.kind !== undefined && !ENDPOINT_KINDS.includes(filter.kind as EndpointKind)) {
        throw new RegistryError('invalid', `filter.kind must be corm or spike, got ${JSON.stringify(filter.kind)}`, { field: 'kind' });
      }
      const prefix = filter.host !== undefined ? `${ENDPOINTS_PREFIX}${filter.host}/` : ENDPOINTS_PREFIX;
      const all = (await this.files.readVisible(prefix)).map((f) => this.files.endpointOf(f));
      return filter.kind === undefined ? all : all.filter((e) => e.kind === filter.kind);
    });
  }

  revision(): Promise<number> {
    return this.op(() => this.files.readRev());
  }

  // ---- leases ---------------------------------------------------------------------------

  grantLease(ttlMs: number): Promise<Lease> {
    return this.op(async () => {
      if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 2 ** 31 - 1) {
        throw new RegistryError('invalid', `ttlMs must be an integer from 1 to 2^31-1, got ${String(ttlMs)}`, { field: 'ttlMs' });
      }
      const id = randomBytes(8).toString('hex');
      const file: LeaseFile = { id, ttlMs, expiresAt: Date.now() + ttlMs, pid: process.pid, keys: [] };
      this.files.writeLeaseSync(file);
      return new EmbeddedLease(id, ttlMs, this);
    });
  }

  /** @internal LeaseOwner: called by EmbeddedLease.keepAlive(). */
  keepAliveLease(id: string, ttlMs: number): Promise<void> {
    return this.op(async () => {
      this.checkLeaseId(id);
      // Under the lock, so a renewal cannot revive a lease the collector is deleting.
      await this.lock.with(() => {
        const lease = this.files.readLeaseSync(id);
        if (lease === undefined || lease.expiresAt <= Date.now()) {
          throw new RegistryError('lease-not-found', 'lease expired or was revoked; grant a new one and put its records again', { lease: id });
        }
        this.files.writeLeaseSync({ ...lease, ttlMs, expiresAt: Date.now() + ttlMs });
      });
    });
  }

  /** @internal LeaseOwner: called by EmbeddedLease.revoke(). */
  revokeLease(id: string): Promise<void> {
    return this.op(async () => {
      this.checkLeaseId(id);
      await this.lock.with(() => {
        const lease = this.files.readLeaseSync(id);
        if (lease === undefined) return;
        this.dropLeasesLocked([lease], lease.expiresAt <= Date.now() ? 'lease-expired' : 'lease-revoked');
      });
    });
  }

  // ---- watches --------------------------------------------------------------------------

  // Synchronous on purpose: the watch's starting point is fixed before watch() returns, so
  // "changes after the watch started" has an exact meaning.
  watch(selector: WatchSelector, listener: WatchListener, options: WatchOptions = {}): Watch {
    if (this.closed) throw new RegistryError('closed', 'watch() on a closed registry', { path: this.dir });
    const match = selectorMatcher(selector);
    const start = options.startRevision;
    if (start !== undefined && (!Number.isInteger(start) || start < 1)) {
      throw new RegistryError('invalid', `startRevision must be an integer >= 1, got ${String(start)}`, { field: 'startRevision' });
    }
    const cursor = start !== undefined ? new LogCursor(this.layout, start) : this.cursorAtNow();
    const onError = options.onError ?? ((e: Error) => process.emitWarning(e));
    const w = new EmbeddedWatch(cursor, match, listener, onError, (x) => this.forget(x));
    this.watches.add(w);
    this.startNotifier();
    w.poke();
    return w;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    clearInterval(this.gcTimer);
    // Closing a watch adds its draining to pending (see forget), so this waits for those too.
    for (const w of [...this.watches]) w.close();
    this.closing = Promise.allSettled([...this.pending]).then(() => undefined);
    return this.closing;
  }

  // ---- internals ------------------------------------------------------------------------

  /** Runs a public operation: refused after close(), and awaited by close(). */
  private op<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new RegistryError('closed', 'registry is closed', { path: this.dir }));
    const p = fn();
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return p;
  }

  private async put(key: string, value: HostRecord | EndpointRecord, lease: Lease | undefined): Promise<number> {
    if (lease !== undefined) this.checkLeaseId(lease.id);
    return this.lock.with(() => {
      const l = lease !== undefined ? this.files.readLeaseSync(lease.id) : undefined;
      if (lease !== undefined && (l === undefined || l.expiresAt <= Date.now())) {
        throw new RegistryError('lease-not-found', 'cannot attach a record to an expired or revoked lease', { key, lease: lease.id });
      }
      const old = this.files.readRecordSync(key);
      const rev = this.files.readRevSync() + 1;
      const leased = lease !== undefined ? { lease: lease.id } : {};
      const createRevision = old !== undefined && this.files.visibleSync(old) ? old.createRevision : rev;
      const file: StoredFile = { key, value, createRevision, modRevision: rev, ...leased };
      // Counter first: a writer that dies half-way leaves a gap in revisions, never a reuse.
      this.files.writeRevSync(rev);
      // The lease learns the key before the record exists, so no crash leaves a leased record
      // its lease does not know about (and that expiry would therefore never delete).
      if (l !== undefined && !l.keys.includes(key)) this.files.writeLeaseSync({ ...l, keys: [...l.keys, key] });
      this.files.writeRecordSync(file);
      appendEntriesSync(this.layout, this.log, [{ rev, type: 'put', key, value, ...leased }]);
      return rev;
    });
  }

  /** Deletes records with one revision each. Only inside the lock's critical section. */
  private removeLocked(removals: readonly { key: string; prev: unknown; cause: DeleteCause }[]): void {
    if (removals.length === 0) return;
    const base = this.files.readRevSync();
    this.files.writeRevSync(base + removals.length);
    const entries: DeleteEntry[] = [];
    for (const [i, r] of removals.entries()) {
      this.files.removeRecordSync(r.key);
      entries.push({ rev: base + 1 + i, type: 'delete', key: r.key, cause: r.cause, prev: r.prev });
    }
    appendEntriesSync(this.layout, this.log, entries);
  }

  /** Deletes leases and the records that still carry them. Only inside the lock's critical
   * section. Records go first, the lease file last: a crash in between leaves the lease for
   * the next collection. */
  private dropLeasesLocked(leases: readonly LeaseFile[], cause: DeleteCause): void {
    const removals: { key: string; prev: unknown; cause: DeleteCause }[] = [];
    for (const lease of leases) {
      for (const key of lease.keys) {
        const file = this.files.readRecordSync(key);
        if (file?.lease === lease.id) removals.push({ key, prev: file.value, cause });
      }
    }
    this.removeLocked(removals);
    for (const lease of leases) this.files.removeLeaseSync(lease.id);
  }

  /** The collector: expired leases lose their records (with delete events), and temp files of
   * writers that died are removed. Every registry on the store runs it; the lock makes that safe. */
  private async collect(): Promise<void> {
    if (this.gcRunning || this.closed) return;
    this.gcRunning = true;
    try {
      await this.op(async () => {
        const now = Date.now();
        const expired = (await this.files.readLeases()).filter((l) => l.expiresAt <= now).map((l) => l.id);
        if (expired.length > 0) {
          await this.lock.with(() => {
            // Re-read under the lock: another registry may have collected them meanwhile.
            const still = expired.map((id) => this.files.readLeaseSync(id)).filter((l): l is LeaseFile => l !== undefined && l.expiresAt <= Date.now());
            this.dropLeasesLocked(still, 'lease-expired');
          });
        }
        await this.files.removeOldTemps();
      });
    } catch (e) {
      if (!(e instanceof RegistryError && (e.reason === 'closed' || e.reason === 'lock-timeout'))) process.emitWarning(e as Error);
    } finally {
      this.gcRunning = false;
    }
  }

  private checkLeaseId(id: string): void {
    if (typeof id !== 'string' || !LEASE_ID.test(id)) {
      throw new RegistryError('invalid', `not a lease of this registry: ${JSON.stringify(id)}`, { field: 'lease', lease: String(id) });
    }
  }

  /** A cursor at the current end of the log. Order matters: the log position is taken before
   * the revision, and writers bump the revision before appending, so every event past the
   * position has a revision above the one read here, and none is skipped. */
  private cursorAtNow(): LogCursor {
    try {
      const last = segmentsOf(readdirSync(this.layout.events)).at(-1);
      let at: { segment: number; offset: number } | undefined;
      if (last !== undefined) {
        try {
          at = { segment: last, offset: statSync(this.layout.segmentFile(last)).size };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      let text: string | undefined;
      try {
        text = readFileSync(this.layout.rev, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      return new LogCursor(this.layout, this.files.parseRev(text) + 1, at);
    } catch (e) {
      throw ioError('start watch', e, { path: this.layout.events });
    }
  }

  private startNotifier(): void {
    const pokeAll = (): void => {
      for (const w of this.watches) w.poke();
    };
    if (this.useFsWatch && this.fsWatcher === undefined) {
      try {
        mkdirSync(this.layout.events, { recursive: true });
        this.fsWatcher = fsWatch(this.layout.events, { persistent: false }, pokeAll);
        // If inotify gives up (watch limit, directory gone), the periodic rescan carries on alone.
        this.fsWatcher.on('error', () => this.stopFsWatcher());
      } catch {
        this.fsWatcher = undefined;
      }
    }
    this.pollTimer ??= setInterval(pokeAll, this.pollIntervalMs).unref();
  }

  private stopFsWatcher(): void {
    this.fsWatcher?.close();
    this.fsWatcher = undefined;
  }

  private forget(w: EmbeddedWatch): void {
    this.watches.delete(w);
    const drained = w.drained();
    const settled = drained.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    if (this.watches.size > 0) return;
    this.stopFsWatcher();
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }
}
