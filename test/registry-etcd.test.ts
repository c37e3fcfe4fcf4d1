// The registry contract on a real etcd server (Debian's etcd-server), then what matters for a
// cluster: a three-member etcd keeps serving when one member dies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdRegistry, RegistryError } from '../controller/registry/index.js';
import { EtcdCluster } from './support/etcd-cluster.js';
import { endpoint, host, record, registryContract, waitFor } from './support/registry-contract.js';

let single: EtcdCluster | undefined;
let stores = 0;
beforeAll(async () => {
  single = await EtcdCluster.start(1);
}, 30_000);
afterAll(async () => single?.stop());

// Each test gets an empty store: its own key root on the shared server.
registryContract(
  'etcd',
  async () => {
    const cluster = `contract${process.pid}x${++stores}`;
    const endpoints = single!.endpoints;
    return {
      spec: `etcd:${cluster}@${endpoints.join(',')}`,
      connect: () => EtcdRegistry.open({ cluster, endpoints }),
      dispose: async () => undefined,
    };
  },
  // etcd counts lease TTLs in whole seconds, and its minimum here is one.
  { shortTtlMs: 1000 },
);

describe('etcd registry', () => {
  it('fails to open against an address where no etcd answers, naming it', async () => {
    await expect(EtcdRegistry.open({ endpoints: ['http://127.0.0.1:9'], dialTimeoutMs: 500 })).rejects.toThrow(
      expect.objectContaining({ reason: 'io', message: expect.stringMatching(/127\.0\.0\.1:9/) as unknown as string }) as RegistryError,
    );
  });

  it('keeps serving reads, writes, leases and watches when one of three members is killed', async () => {
    const three = await EtcdCluster.start(3);
    try {
      const reg = await EtcdRegistry.open({ endpoints: three.endpoints, cluster: 'trio' });
      const seen = record(reg, '');
      // Long enough to outlive a leader election under load.
      const lease = await reg.grantLease(30_000);
      await reg.putHost(host('hostA'), lease);
      await waitFor('first event', () => seen.events.length === 1);
      three.kill(0);
      // The client fails over to a live member; the two survivors keep a quorum.
      const t0 = Date.now();
      await reg.putEndpoint(endpoint('hostA/nic0/vf0'), lease);
      console.log(`first write after the kill took ${Date.now() - t0} ms`);
      await lease.keepAlive();
      expect((await reg.listEndpoints()).map((e) => e.id)).toEqual(['hostA/nic0/vf0']);
      expect(await reg.delete('endpoints/hostA/nic0/vf0')).toBe(true);
      await waitFor('events after the kill', () => seen.events.length === 3, 10_000);
      expect(seen.events.map((e) => `${e.type} ${e.key}`)).toEqual(['put hosts/hostA', 'put endpoints/hostA/nic0/vf0', 'delete endpoints/hostA/nic0/vf0']);
      seen.close();
      await reg.close();
    } finally {
      await three.stop();
    }
  }, 60_000);
});
