// Daemons on a three-member etcd: they advertise and wire through it, and keep working when
// one etcd member is killed.
import { afterAll, describe, expect, it } from 'vitest';
import type { WireView } from '../controller/model/views.js';
import type { EndpointRecord } from '../controller/registry/index.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { DaemonCluster, type Daemon } from './support/daemons.js';
import { waitFor } from './support/engine.js';
import { EtcdCluster } from './support/etcd-cluster.js';

describe('three bananad on a three-member etcd', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let etcd: EtcdCluster | undefined;
  let cluster: DaemonCluster | undefined;
  let b: Daemon;
  afterAll(async () => {
    await cluster?.stop();
    await etcd?.stop();
  });

  it('advertises hosts and Corms in etcd and wires vm1 to hostA/nic0', async () => {
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false });
    etcd = await EtcdCluster.start(3);
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }] },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name },
      { name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name },
    ], { type: 'etcd', endpoints: etcd.endpoints, cluster: 'lab' });
    b = cluster.get('hostB');
    expect((await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints?kind=corm')).map((e) => e.id)).toEqual(['hostA/nic0']);
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
  });

  it('keeps working when an etcd member dies: disconnect, connect, traffic', async () => {
    etcd!.kill(0);
    await b.api.request('POST', '/v1/spikes/vm1/disconnect');
    const w = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    expect(w.type).toBe('udp');
    await waitFor('wire up', async () => (await b.api.request<WireView[]>('GET', '/v1/wires'))[0]?.state === 'up', 10_000);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
    const eps = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints');
    expect(eps.map((e) => e.id)).toEqual(['hostA/nic0', 'hostA/nic0/hostB.vm1', 'hostB/vm1']);
  }, 60_000);

  it('sees hostA’s daemon die (SIGKILL) in bounded time, and rewires when it restarts', async () => {
    const events: Record<string, unknown>[] = [];
    const stream = new AbortController();
    void b.api.events((ev) => events.push({ ...ev, at: performance.now() }), stream.signal);
    try {
      await waitFor('stream open', () => b.api.request('GET', '/v1/wires').then(() => true));
      const t0 = performance.now();
      cluster!.get('hostA').process.kill('SIGKILL');
      await waitFor('wire down', () => events.some((e) => e.type === 'wire-state' && e.to === 'down'), 5000);
      const downMs = (events.find((e) => e.type === 'wire-state' && e.to === 'down')!.at as number) - t0;
      console.log(`hostB reported the wire down ${downMs.toFixed(0)} ms after hostA's daemon was killed`);
      expect(downMs).toBeLessThan(250);
      await cluster!.stopOne('hostA');
      const a2 = await cluster!.restart('hostA');
      // The restarted daemon cleared the XDP programs its dead predecessor left, then rebuilt its Corm.
      expect(a2.log()).toContain('"event":"stale-xdp-removed"');
      await waitFor('rewired by hostB', () => events.some((e) => e.type === 'rewired'), 15_000);
      await waitFor('wire up again', async () => (await b.api.request<WireView[]>('GET', '/v1/wires'))[0]?.state === 'up', 10_000);
      expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
      const eps = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints?host=hostA');
      expect(eps.map((e) => e.id)).toEqual(['hostA/nic0', 'hostA/nic0/hostB.vm1']);
    } finally {
      stream.abort();
    }
  }, 60_000);

  it('rebuilds its Spike and wire from the registry when the Spike’s host is killed and restarted', async () => {
    const a = cluster!.get('hostA');
    cluster!.get('hostB').process.kill('SIGKILL');
    await cluster!.stopOne('hostB');
    b = await cluster!.restart('hostB');
    expect(b.log()).toContain('"event":"spike-restored"');
    await waitFor('wire up after the restart', async () => (await b.api.request<WireView[]>('GET', '/v1/wires'))[0]?.state === 'up', 15_000);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
    // hostA replaced the old Corm end with the new one: one wire per Spike.
    const ends = await a.api.request<WireView[]>('GET', '/v1/wires');
    expect(ends.map((w) => w.id)).toEqual([(await b.api.request<WireView[]>('GET', '/v1/wires'))[0]!.id]);
    expect((await b.api.request<{ requested: unknown }>('GET', '/v1/spikes/vm1')).requested).toEqual({ corm: 'hostA/nic0', type: 'auto' });
  }, 60_000);

  it('drops a stopped host from etcd at once (its lease is revoked)', async () => {
    expect(await cluster!.stopOne('hostA')).toBe(0);
    const hosts = await b.api.request<{ name: string }[]>('GET', '/v1/hosts');
    expect(hosts.map((h) => h.name)).toEqual(['hostB', 'hostC']);
  });
});
