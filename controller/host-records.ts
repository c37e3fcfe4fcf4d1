/** What this host publishes in the registry: its host record and its endpoints, all under one
 * lease kept alive while the daemon runs, so a dead host's records expire on their own. If the
 * lease is lost (the registry was unreachable for longer than its TTL), a new one is granted
 * and everything is put again. */
import type { Logger } from 'pino';
import type { HostConfig } from './config/host-config.js';
import { endpointKey, type EndpointRecord, type Lease, type Registry } from './registry/index.js';

export const HOST_LEASE_TTL_MS = 10_000;

export class HostRecords {
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly endpoints = new Map<string, EndpointRecord>();
  private readonly durable = new Set<string>();
  private ticking = false;
  private needsPublish = false;
  private labels: Record<string, string>;

  constructor(
    readonly registry: Registry,
    private readonly config: HostConfig,
    private readonly underlayIp: string,
    private readonly log: Logger,
  ) {
    this.labels = { ...config.labels };
  }

  async updateHostLabels(labels: Record<string, string>): Promise<void> {
    this.labels = { ...labels };
    const c = this.config;
    await this.registry.putHost({ name: c.host, labels: this.labels, controller: c.listen, underlay: this.underlayIp }, this.lease);
  }

  /** Publishes the host and its endpoints; `durable` records a previous run left are kept as
   * they are (the controller rebuilds their objects and then rewrites them). */
  async start(endpoints: EndpointRecord[], durable: EndpointRecord[] = []): Promise<void> {
    for (const e of endpoints) this.endpoints.set(e.id, e);
    for (const e of durable) {
      this.endpoints.set(e.id, e);
      this.durable.add(e.id);
    }
    await this.publishAll();
    // Records a previous run of this host left (its lease not yet expired after a crash) name
    // wires and Spikes that no longer exist here: remove them. Other hosts' records stay.
    for (const stale of await this.registry.listEndpoints({ host: this.config.host })) {
      if (!this.endpoints.has(stale.id)) {
        await this.registry.delete(endpointKey(stale.id));
        this.log.info({ event: 'stale-record-removed', endpoint: stale.id }, 'removed a record a previous run left');
      }
    }
    this.timer = setInterval(() => void this.keepAlive(), HOST_LEASE_TTL_MS / 4);
    this.timer.unref();
  }

  /** Durable records outlive the host's lease (a Spike's desired state); the others die with it. */
  async putEndpoint(rec: EndpointRecord, o: { durable?: boolean } = {}): Promise<void> {
    this.endpoints.set(rec.id, rec);
    if (o.durable) this.durable.add(rec.id);
    else this.durable.delete(rec.id);
    await this.registry.putEndpoint(rec, o.durable ? undefined : this.lease);
  }

  async deleteEndpoint(id: string): Promise<void> {
    this.endpoints.delete(id);
    this.durable.delete(id);
    await this.registry.delete(endpointKey(id));
  }

  /** Revokes the lease: this host's records leave the registry at once. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.lease?.revoke().catch(() => undefined);
    await this.registry.close();
  }

  private async publishAll(): Promise<void> {
    this.lease = await this.registry.grantLease(HOST_LEASE_TTL_MS);
    const c = this.config;
    await this.registry.putHost({ name: c.host, labels: this.labels, controller: c.listen, underlay: this.underlayIp }, this.lease);
    for (const e of this.endpoints.values()) await this.registry.putEndpoint(e, this.durable.has(e.id) ? undefined : this.lease);
  }

  private async keepAlive(): Promise<void> {
    // Ticks never overlap (a slow registry must not grant two leases), and a publish that
    // failed half way is redone until it succeeds whole.
    if (this.ticking) return;
    this.ticking = true;
    try {
      if (!this.needsPublish) {
        try {
          await this.lease?.keepAlive();
          return;
        } catch (err) {
          this.log.warn({ event: 'lease-lost', err: (err as Error).message }, 'registry lease lost; publishing again');
        }
      }
      try {
        await this.publishAll();
        this.needsPublish = false;
      } catch (e) {
        this.needsPublish = true;
        this.log.error({ event: 'registry-failed', err: (e as Error).message }, 'cannot publish to the registry; trying again');
      }
    } finally {
      this.ticking = false;
    }
  }
}
