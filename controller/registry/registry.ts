/** The contract every registry backend meets: the embedded one in this folder, and an etcd
 * adapter later. It is etcd-shaped on purpose (keys under prefixes, leases with a TTL, one
 * revision counter for the whole store, watches that resume by revision) so that adapter is
 * a thin mapping; see README.md for how each part maps. */
import type { EndpointKind, EndpointRecord, HostInput, HostRecord } from './records.js';

/** A time-limited grant. Records put with it vanish when it expires or is revoked: that is how
 * a dead host's endpoints leave the registry without anyone cleaning up after it. */
export interface Lease {
  readonly id: string;
  readonly ttlMs: number;
  /** Pushes the expiry to now + ttlMs. Rejects with reason 'lease-not-found' once the lease has
   * expired or was revoked: the caller must grant a new lease and put its records again. */
  keepAlive(): Promise<void>;
  /** Deletes the lease and its records at once. Idempotent. */
  revoke(): Promise<void>;
}

export type RecordRef = { readonly host: HostRecord; readonly endpoint?: never } | { readonly endpoint: EndpointRecord; readonly host?: never };

export type DeleteCause = 'delete' | 'lease-expired' | 'lease-revoked';

export type PutEvent = { readonly type: 'put'; readonly key: string; readonly revision: number; readonly lease?: string } & RecordRef;

export interface DeleteEvent {
  readonly type: 'delete';
  readonly key: string;
  readonly revision: number;
  readonly cause: DeleteCause;
  /** The record as it was; a backend that cannot tell (an etcd watch past compaction) omits it. */
  readonly prev?: RecordRef;
}

export type WatchEvent = PutEvent | DeleteEvent;

/** What a watch sees: every key under a prefix (a bare string is a prefix, e.g. `endpoints/`),
 * or one kind of record ('host', or endpoints of kind 'corm' / 'spike'). */
export type WatchSelector = string | { readonly prefix: string } | { readonly kind: 'host' | EndpointKind };

export type WatchListener = (event: WatchEvent) => void;

export interface WatchOptions {
  /** Deliver events from this revision on (list-then-watch without a gap). Default: only
   * changes committed after watch() returned. */
  readonly startRevision?: number;
  /** Called when the watch fails (it is then closed, e.g. 'compacted') or when the listener
   * throws (the watch goes on). Without it, failures become process warnings. */
  readonly onError?: (err: Error) => void;
}

export interface Watch {
  /** Resolves once the watch is established; for the embedded backend at once. Events for
   * changes committed after watch() returned are delivered either way. */
  readonly ready: Promise<void>;
  /** Stops delivery at once (no event reaches the listener after close() returns). Idempotent. */
  close(): void;
}

export interface EndpointFilter {
  readonly host?: string;
  readonly kind?: EndpointKind;
}

export interface Registry {
  /** Writes (creates or replaces) a host; returns the revision of the write. */
  putHost(rec: HostInput, lease?: Lease): Promise<number>;
  putEndpoint(rec: EndpointRecord, lease?: Lease): Promise<number>;
  /** Deletes one key (`hosts/<name>` or `endpoints/<id>`, see keys.ts); false if it was not
   * there (or its lease had already expired). Deleting a host does not delete its endpoints. */
  delete(key: string): Promise<boolean>;
  getHost(name: string): Promise<HostRecord | undefined>;
  /** All hosts, ordered by name. */
  listHosts(): Promise<HostRecord[]>;
  getEndpoint(id: string): Promise<EndpointRecord | undefined>;
  /** Endpoints, ordered by id, optionally only one host's or one kind's. */
  listEndpoints(filter?: EndpointFilter): Promise<EndpointRecord[]>;
  grantLease(ttlMs: number): Promise<Lease>;
  /** The store's current revision (the revision of the last write). */
  revision(): Promise<number>;
  watch(selector: WatchSelector, listener: WatchListener, options?: WatchOptions): Watch;
  /** Closes every watch and waits for operations in flight. Leases are left to expire (a
   * restarting daemon may keep them alive). Idempotent. */
  close(): Promise<void>;
}
