/** The registry on etcd (v3 API, the `etcd3` client: the most used Node client, pure JS over
 * gRPC, with leases, watches with start revisions and previous values, and transactions).
 * Everything lives under `/banana/<cluster>/`: records at `hosts/...` and `endpoints/...`, as
 * in the embedded backend, and two kinds of markers under `_meta/` that let every watcher tell
 * why a record vanished, which etcd itself does not say:
 * - a client delete is a transaction that also writes `_meta/deleted/<key>`: both changes share
 *   one revision, so the watcher sees them together ('delete');
 * - a revoke first writes `_meta/revoking/<lease>` ('lease-revoked');
 * - a leased record that vanishes with neither marker expired ('lease-expired'). */
import { Etcd3, type IKeyValue, type Lease as EtcdLeaseHandle, type Watcher } from 'etcd3';
import { RegistryError } from './errors.js';
import { ENDPOINTS_PREFIX, HOSTS_PREFIX, endpointKey, hostKey, keyType } from './keys.js';
import { validateEndpoint, validateHost, validateStoredHost, type EndpointRecord, type HostInput, type HostRecord } from './records.js';
import type { DeleteCause, EndpointFilter, Lease, RecordRef, Registry, Watch, WatchEvent, WatchListener, WatchOptions, WatchSelector } from './registry.js';
import { selectorMatcher } from './watch-selector.js';

export interface EtcdRegistrySettings {
  /** Client URLs of the etcd members, e.g. ['http://127.0.0.1:2379']. */
  readonly endpoints: readonly string[];
  /** Cluster name: the key root is /banana/<cluster>/. Default 'default'. */
  readonly cluster?: string;
  /** How long to wait for a member when connecting. Default 3000 ms. */
  readonly dialTimeoutMs?: number;
}

const DELETED = '_meta/deleted/';
const KEEPALIVE_ATTEMPTS = 4;
const MARKER_TTL_S = 60;
const REVOKING = '_meta/revoking/';

function ioError(op: string, e: unknown): RegistryError {
  if (e instanceof RegistryError) return e;
  const msg = (e as Error).message ?? String(e);
  if ((e as Error).name === 'EtcdLeaseInvalidError' || /lease not found|expired or revoked/i.test(msg)) return new RegistryError('lease-not-found', `${op}: the lease does not exist any more`, {}, { cause: e });
  return new RegistryError('io', `${op}: etcd: ${msg}`, {}, { cause: e });
}

class EtcdLease implements Lease {
  constructor(
    private readonly owner: EtcdRegistry,
    readonly id: string,
    readonly ttlMs: number,
    readonly handle: EtcdLeaseHandle,
  ) {}

  async keepAlive(): Promise<void> {
    // A lease's keepalive goes to one member; if that member died, the next try reaches another.
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.handle.keepaliveOnce();
        if (Number(res.TTL) <= 0) throw new RegistryError('lease-not-found', 'keepAlive: the lease expired or was revoked', { lease: this.id });
        return;
      } catch (e) {
        const err = ioError('keepAlive', e);
        if (err.reason !== 'io' || attempt >= KEEPALIVE_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  async revoke(): Promise<void> {
    await this.owner.revokeLease(this);
  }
}

class EtcdWatch implements Watch {
  readonly ready: Promise<void>;
  private watcher: Watcher | undefined;
  private closed = false;
  /** Leases announced as being revoked: their records' deletes are 'lease-revoked'. */
  private readonly revoking = new Set<string>();

  constructor(
    private readonly registry: EtcdRegistry,
    private readonly root: string,
    private readonly match: (e: WatchEvent) => boolean,
    private readonly listener: WatchListener,
    private readonly options: WatchOptions,
    private readonly onClose: (w: EtcdWatch) => void,
  ) {
    this.ready = this.start();
    this.ready.catch((e: unknown) => this.fail(e as Error));
  }

  private async start(): Promise<void> {
    let b = this.registry.client.watch().prefix(this.root).withPreviousKV();
    if (this.options.startRevision !== undefined) b = b.startRevision(String(this.options.startRevision));
    const w = await b.create();
    if (this.closed) {
      await w.cancel();
      return;
    }
    this.watcher = w;
    w.on('data', (res) => {
      if (this.closed) return;
      const deleted = new Set<string>();
      for (const ev of res.events) {
        const key = ev.kv.key.toString().slice(this.root.length);
        if (ev.type === 'Put' && key.startsWith(DELETED)) deleted.add(`${ev.kv.mod_revision}:${key.slice(DELETED.length)}`);
        if (ev.type === 'Put' && key.startsWith(REVOKING)) {
          this.revoking.add(key.slice(REVOKING.length));
          // Revokes are announced right before they happen: a short memory is enough.
          if (this.revoking.size > 1024) this.revoking.delete(this.revoking.values().next().value as string);
        }
      }
      for (const ev of res.events) {
        const key = ev.kv.key.toString().slice(this.root.length);
        if (!key.startsWith(HOSTS_PREFIX) && !key.startsWith(ENDPOINTS_PREFIX)) continue;
        const revision = Number(ev.kv.mod_revision);
        let out: WatchEvent;
        // One bad value (a newer writer's extra field, a hand edit) is reported and skipped:
        // it must not take the watch, or the daemon, down with it.
        let rec: RecordRef | undefined;
        let prev: RecordRef | undefined;
        try {
          rec = ev.type === 'Put' ? parseRecord(key, ev.kv.value) : undefined;
          prev = ev.type !== 'Put' && ev.prev_kv?.value?.length ? parseRecord(key, ev.prev_kv.value) : undefined;
        } catch (e) {
          this.report(e as Error);
          continue;
        }
        if (ev.type === 'Put') {
          const lease = ev.kv.lease !== '0' ? ev.kv.lease : undefined;
          out = { type: 'put', key, revision, ...(lease ? { lease } : {}), ...rec } as WatchEvent;
        } else {
          const prevLease = ev.prev_kv && ev.prev_kv.lease !== '0' ? ev.prev_kv.lease : undefined;
          const cause: DeleteCause = deleted.has(`${revision}:${key}`) || !prevLease ? 'delete' : this.revoking.has(prevLease) ? 'lease-revoked' : 'lease-expired';
          out = { type: 'delete', key, revision, cause, ...(prev ? { prev } : {}) };
        }
        if (!this.match(out)) continue;
        try {
          this.listener(out);
        } catch (e) {
          this.report(e as Error);
        }
      }
    });
    w.on('error', (e) => this.fail(e));
  }

  private report(e: Error): void {
    if (this.options.onError) this.options.onError(e);
    else process.emitWarning(e);
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.report(ioError('watch', e));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    void this.watcher?.cancel().catch(() => undefined);
  }
}

function parseRecord(key: string, value: Buffer): RecordRef {
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString());
  } catch {
    throw new RegistryError('corrupt', `value of ${key} is not JSON`, { key });
  }
  return key.startsWith(HOSTS_PREFIX) ? { host: validateStoredHost(raw) } : { endpoint: validateEndpoint(raw) };
}

export class EtcdRegistry implements Registry {
  private closed = false;
  private readonly watches = new Set<EtcdWatch>();
  private readonly root: string;
  /** The newest revision any response showed us: a watch without a start revision starts
   * after it, so it sees every change committed after watch() returned (and maybe a few before,
   * never fewer), although etcd establishes the watch asynchronously. */
  private lastRevision = 0;
  private marker: { id: string; at: number } | undefined;

  private seen(revision: string | number): number {
    const r = Number(revision);
    if (r > this.lastRevision) this.lastRevision = r;
    return r;
  }

  private constructor(
    readonly client: Etcd3,
    cluster: string,
  ) {
    this.root = `/banana/${cluster}/`;
  }

  /** Connects and checks that a member answers (a wrong address fails here, not later). */
  static async open(s: EtcdRegistrySettings): Promise<EtcdRegistry> {
    if (s.endpoints.length === 0) throw new RegistryError('invalid', 'etcd endpoints must not be empty', { field: 'endpoints' });
    const client = new Etcd3({ hosts: [...s.endpoints], dialTimeout: s.dialTimeoutMs ?? 3000 });
    const reg = new EtcdRegistry(client, s.cluster ?? 'default');
    try {
      await reg.revision();
    } catch (e) {
      client.close();
      throw ioError(`connect to ${s.endpoints.join(',')}`, e);
    }
    return reg;
  }

  private live(op: string): void {
    if (this.closed) throw new RegistryError('closed', `${op} on a closed registry`);
  }

  private async put(key: string, value: unknown, lease: Lease | undefined): Promise<number> {
    this.live('put');
    try {
      let req = this.client.put(this.root + key).value(JSON.stringify(value));
      if (lease) req = req.lease(lease.id);
      const res = await req.exec();
      return this.seen(res.header.revision);
    } catch (e) {
      const err = ioError(`put ${key}`, e);
      throw err.reason === 'lease-not-found' ? new RegistryError('lease-not-found', `put ${key}: lease ${lease?.id ?? ''} does not exist any more`, { key, lease: lease?.id ?? '' }) : err;
    }
  }

  async putHost(rec: HostInput, lease?: Lease): Promise<number> {
    this.live('putHost');
    const h = validateHost(rec);
    return this.put(hostKey(h.name), h, lease);
  }

  async putEndpoint(rec: EndpointRecord, lease?: Lease): Promise<number> {
    this.live('putEndpoint');
    const e = validateEndpoint(rec);
    return this.put(endpointKey(e.id), e, lease);
  }

  async delete(key: string): Promise<boolean> {
    this.live('delete');
    keyType(key);
    try {
      const k = this.root + key;
      const res = await this.client
        .if(k, 'Create', '>', 0)
        .then(this.client.put(this.root + DELETED + key).value('').lease(await this.markerLease()), this.client.delete().key(k))
        .commit();
      this.seen(res.header.revision);
      return res.succeeded;
    } catch (e) {
      throw ioError(`delete ${key}`, e);
    }
  }

  private async getOne(key: string): Promise<RecordRef | undefined> {
    this.live('get');
    let v: Buffer | null;
    try {
      v = await this.client.get(this.root + key).buffer();
    } catch (e) {
      throw ioError(`get ${key}`, e);
    }
    return v === null ? undefined : parseRecord(key, v);
  }

  async getHost(name: string): Promise<HostRecord | undefined> {
    return (await this.getOne(hostKey(name)))?.host;
  }

  async getEndpoint(id: string): Promise<EndpointRecord | undefined> {
    if (typeof id !== 'string' || id.split('/').length < 2) {
      throw new RegistryError('invalid', `id must be <host>/<segment>/..., got ${JSON.stringify(id)}`, { field: 'id' });
    }
    keyType(endpointKey(id));
    return (await this.getOne(endpointKey(id)))?.endpoint;
  }

  private async list(prefix: string): Promise<RecordRef[]> {
    this.live('list');
    let kvs: IKeyValue[];
    try {
      const res = await this.client.getAll().prefix(this.root + prefix).exec();
      this.seen(res.header.revision);
      kvs = res.kvs;
    } catch (e) {
      throw ioError(`list ${prefix}`, e);
    }
    const out: RecordRef[] = [];
    for (const kv of kvs) {
      const key = kv.key.toString().slice(this.root.length);
      try {
        out.push(parseRecord(key, kv.value));
      } catch (e) {
        // A bad record is skipped, not fatal: the rest of the cluster stays readable.
        process.emitWarning(`registry: skipping ${key}: ${(e as Error).message}`);
      }
    }
    return out;
  }

  async listHosts(): Promise<HostRecord[]> {
    return (await this.list(HOSTS_PREFIX)).flatMap((r) => (r.host ? [r.host] : [])).sort((a, b) => a.name.localeCompare(b.name));
  }

  async listEndpoints(filter: EndpointFilter = {}): Promise<EndpointRecord[]> {
    const prefix = filter.host !== undefined ? `${ENDPOINTS_PREFIX}${filter.host}/` : ENDPOINTS_PREFIX;
    return (await this.list(prefix))
      .flatMap((r) => (r.endpoint ? [r.endpoint] : []))
      .filter((e) => (filter.kind === undefined || e.kind === filter.kind) && (filter.host === undefined || e.host === filter.host))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    this.live('grantLease');
    if (!Number.isFinite(ttlMs) || ttlMs < 1) throw new RegistryError('invalid', `ttlMs must be >= 1, got ${ttlMs}`, { field: 'ttlMs' });
    // etcd counts leases in whole seconds.
    const handle = this.client.lease(Math.max(1, Math.ceil(ttlMs / 1000)), { autoKeepAlive: false });
    try {
      const id = await handle.grant();
      return new EtcdLease(this, id, ttlMs, handle);
    } catch (e) {
      throw ioError('grantLease', e);
    }
  }

  /** Markers only need to outlive the watch responses that carry them: they share a lease of
   * a minute, granted anew every half minute, so they vanish on their own. */
  private async markerLease(): Promise<string> {
    const now = Date.now();
    if (!this.marker || now - this.marker.at > MARKER_TTL_S * 500) {
      const id = await this.client.lease(MARKER_TTL_S, { autoKeepAlive: false }).grant();
      this.marker = { id, at: now };
    }
    return this.marker.id;
  }

  /** @internal EtcdLease.revoke: announce, then revoke, so watchers name the cause. Idempotent. */
  async revokeLease(lease: EtcdLease): Promise<void> {
    this.live('revoke');
    try {
      await this.client.put(this.root + REVOKING + lease.id).value('').lease(await this.markerLease()).exec();
      await lease.handle.revoke();
    } catch (e) {
      const err = ioError('revoke', e);
      if (err.reason !== 'lease-not-found') throw err;
    }
  }

  async revision(): Promise<number> {
    this.live('revision');
    try {
      return this.seen((await this.client.get(`${this.root}_meta/revision`).exec()).header.revision);
    } catch (e) {
      throw ioError('revision', e);
    }
  }

  watch(selector: WatchSelector, listener: WatchListener, options: WatchOptions = {}): Watch {
    this.live('watch()');
    const match = selectorMatcher(selector);
    const start = options.startRevision ?? this.lastRevision + 1;
    const w = new EtcdWatch(this, this.root, match, listener, { ...options, startRevision: start }, (x) => this.watches.delete(x));
    this.watches.add(w);
    return w;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    this.client.close();
  }
}
