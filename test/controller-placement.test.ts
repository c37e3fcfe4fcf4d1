// Placement in the running controllers: `explain` through the API and the CLI, profiles
// detected on the Corm's real veth, and live re-evaluation when a host's policy or labels change.
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiError } from '../controller/api/api-client.js';
import type { Explanation } from '../controller/placement/choose-wire.js';
import type { SpikeView, WireView } from '../controller/model/views.js';
import type { EndpointRecord } from '../controller/registry/index.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { banana } from './support/banana-cli.js';
import { DaemonCluster, type Daemon } from './support/daemons.js';
import { waitFor } from './support/engine.js';


describe('placement-aware wiring between hostB/vm1 and hostA/nic0', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  let a: Daemon;
  let b: Daemon;
  afterAll(async () => cluster?.stop());
  const reachable = async () => topo.vm1.ns.exec(['ping', '-c', '1', '-W', '1', topo.ext.ip]).then(() => true, () => false);

  it('runs the Corm from the veth profile detected on nic0 and advertises its capabilities', async () => {
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }], labels: { site: 's1', cluster: 'c1', rack: 'r1' } },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name, labels: { site: 's1', cluster: 'c1', rack: 'r2' } },
    ]);
    a = cluster.get('hostA');
    b = cluster.get('hostB');
    const [corm] = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints?kind=corm');
    expect(corm?.attributes).toMatchObject({ profile: 'veth', mode: 'native', wires: 'local,udp', underlayMtu: '3000' });
    expect(a.log()).toMatch(/"event":"corm-up".*"profile":"veth","profileFrom":"driver"/);
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
  });

  it('explains the choice with every candidate, through the API and the CLI', async () => {
    const x = await b.api.request<Explanation>('GET', '/v1/explain?spike=vm1&corm=hostA/nic0');
    expect(x).toMatchObject({ ends: ['hostA', 'hostB'], proximity: 'same-cluster', chosen: 'udp' });
    const reason = (t: string) => x.candidates.find((c) => c.type === t)?.reason;
    expect(reason('local')).toBe('local: not on the same host (hostA and hostB)');
    expect(reason('rdma')).toBe('rdma: hostA has no RDMA device');
    expect(reason('tunnel')).toBe('tunnel: not built in this version');
    const cli = await banana(['wire', 'explain', 'vm1', 'hostA/nic0', '--config', b.configFile]);
    expect(cli.out).toContain('hostA <-> hostB: same-cluster; chosen: udp');
    expect(cli.out).toMatch(/\* udp\s+score/);
  });

  it('moves the live connection when the Corm host’s policy forbids its wire, and back when it allows it', async () => {
    const wire = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    expect(wire.type).toBe('udp');
    expect(await reachable()).toBe(true);
    const load = topo.vm1.ns.spawn(['ping', '-q', '-i', '0.01', topo.ext.ip]);
    try {
      await a.api.request('PUT', '/v1/host/policy', { forbid: ['udp'] });
      // hostB learns it from the Corm's registry record (a watch) and takes the wire down.
      await waitFor('hostB re-evaluated', async () => (await b.api.request<WireView[]>('GET', '/v1/wires')).length === 0, 10_000);
      const spike = await b.api.request<SpikeView>('GET', '/v1/spikes/vm1');
      expect(spike).toMatchObject({ connect: null, requested: { corm: 'hostA/nic0', type: 'auto' } });
      expect(spike.blocked).toBe("no wire type fits hostA/nic0 (local: not on the same host (hostA and hostB); udp: forbidden by hostA's policy; rdma: hostA has no RDMA device)");
      await waitFor('the Corm end closed too', async () => (await a.api.request<WireView[]>('GET', '/v1/wires')).length === 0);
      expect(await reachable()).toBe(false);
      expect(b.log()).toContain('"event":"wire-blocked"');
      const refused = await b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'udp' }).catch((e: ApiError) => e);
      expect(refused).toMatchObject({ status: 409, body: { explanation: { chosen: null } } });
      expect((refused as ApiError).message).toContain("udp: forbidden by hostA's policy");

      await a.api.request('PUT', '/v1/host/policy', {});
      await waitFor('rewired by placement', async () => (await b.api.request<WireView[]>('GET', '/v1/wires'))[0]?.state === 'up', 10_000);
      expect((await b.api.request<SpikeView>('GET', '/v1/spikes/vm1')).blocked).toBeNull();
      expect(b.log()).toMatch(/"event":"rewired".*"from":null,"to":"udp"/);
      await waitFor('traffic flows again', reachable);
    } finally {
      load.kill('SIGINT');
    }
  });

  it('re-evaluates when labels change: proximity follows them', async () => {
    await a.api.request('PUT', '/v1/host/labels', { site: 's1', cluster: 'c1', rack: 'r2' });
    await waitFor('labels published', async () => (await b.api.request<Explanation>('GET', '/v1/explain?spike=vm1&corm=hostA/nic0')).proximity === 'same-rack');
    await a.api.request('PUT', '/v1/host/labels', { site: 's9' });
    await waitFor('labels published', async () => (await b.api.request<Explanation>('GET', '/v1/explain?spike=vm1&corm=hostA/nic0')).proximity === 'remote');
    // Still udp: with local and udp the only types built, distance changes scores, not the winner.
    expect((await b.api.request<WireView[]>('GET', '/v1/wires'))[0]).toMatchObject({ type: 'udp', state: 'up' });
    const bad = await a.api.request('PUT', '/v1/host/policy', { forbid: ['pigeon'] }).catch((e: ApiError) => e);
    expect(bad).toMatchObject({ status: 400, body: { field: 'forbid[0]' } });
  });
});
