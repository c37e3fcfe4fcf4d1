/** A lease of the embedded store: a file leases/<id>.json holding its expiry time. The object
 * is a handle; all state is in the file, so any process on the store can renew or revoke it. */
import type { Lease } from './registry.js';

export interface LeaseFile {
  readonly id: string;
  readonly ttlMs: number;
  /** Wall-clock ms (Date.now()): processes do not share a monotonic clock origin, but they do share this one. */
  readonly expiresAt: number;
  /** Who granted it, for people reading the store. */
  readonly pid: number;
  /** Keys put with this lease (etcd keeps the same set). Revocation and expiry delete those
   * of them that still carry the lease; a key re-put without it stays listed but is spared. */
  readonly keys: readonly string[];
}

export const LEASE_ID = /^[0-9a-f]{16}$/;

export interface LeaseOwner {
  keepAliveLease(id: string, ttlMs: number): Promise<void>;
  revokeLease(id: string): Promise<void>;
}

export class EmbeddedLease implements Lease {
  constructor(
    readonly id: string,
    readonly ttlMs: number,
    private readonly owner: LeaseOwner,
  ) {}

  keepAlive(): Promise<void> {
    return this.owner.keepAliveLease(this.id, this.ttlMs);
  }

  revoke(): Promise<void> {
    return this.owner.revokeLease(this.id);
  }
}

export function parseLeaseFile(text: string): LeaseFile | undefined {
  try {
    const raw = JSON.parse(text) as Partial<LeaseFile>;
    if (typeof raw.id === 'string' && typeof raw.ttlMs === 'number' && typeof raw.expiresAt === 'number' && Array.isArray(raw.keys)) {
      return raw as LeaseFile;
    }
  } catch {
    // fall through: an unreadable lease is treated as no lease, so its records are invisible
  }
  return undefined;
}
