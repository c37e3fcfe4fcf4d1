// Netbus authorization: which hosts and tenants may attach Spikes to a Corm. Every refusal
// names the reason, is counted, logged and published as an event.
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiError } from '../controller/api/api-client.js';
import type { HostView, WireView } from '../controller/model/views.js';
import { createVm, referenceTopology, type ReferenceTopology, type Vm } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { DaemonCluster, type Daemon } from './support/daemons.js';

describe('who may attach to hostA/nic0 (allow: hosts hostB, tenant blue)', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let vm2: Vm;
  let cluster: DaemonCluster | undefined;
  let a: Daemon;
  let b: Daemon;
  let c: Daemon;
  afterAll(async () => cluster?.stop());
  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: ApiError) => ({ status: e.status, message: e.message }));

  it('starts hostA with a Corm that admits hostB and tenant blue', async () => {
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false });
    vm2 = await createVm(bed(), { name: 'vm2', host: topo.hostC.ns, mac: '02:ba:00:00:02:01', cidr: '10.50.0.12/24', ipv6: false });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0', allow: { hosts: ['hostB'], tenants: ['blue'] } }] },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name },
      { name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name },
    ]);
    [a, b, c] = [cluster.get('hostA'), cluster.get('hostB'), cluster.get('hostC')];
  });

  it('admits an allowed host with an allowed tenant', async () => {
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac, tenant: 'blue' });
    const w = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    expect(w.type).toBe('udp');
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
  });

  it('refuses a host the Corm does not admit, with the reason, and counts it', async () => {
    await c.api.request('POST', '/v1/spikes', { name: 'vm2', ifname: vm2.tap.name, mac: vm2.mac, tenant: 'blue' });
    const r = await refusal(c.api.request('POST', '/v1/spikes/vm2/connect', { corm: 'hostA/nic0' }));
    expect(r).toMatchObject({ status: 403 });
    expect(r?.message).toContain('hostA refused: hostC may not attach hostC/vm2 to hostA/nic0: the Corm admits hosts hostB');
    expect(await c.api.request<WireView[]>('GET', '/v1/wires')).toEqual([]);
  });

  it('refuses a tenant the Corm does not admit', async () => {
    await b.api.request('POST', '/v1/spikes/vm1/disconnect');
    await b.api.request('DELETE', '/v1/spikes/vm1');
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac, tenant: 'red' });
    const r = await refusal(b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' }));
    expect(r?.message).toContain('tenant red of hostB/vm1 may not attach to hostA/nic0: the Corm admits tenants blue');
    const host = await a.api.request<HostView & { authRefusals: Record<string, number> }>('GET', '/v1/host');
    expect(host.authRefusals.forbidden).toBe(2);
    const metrics = await (await fetch(`http://${a.address}/metrics`)).text();
    expect(metrics).toContain('banana_api_refused_total{reason="forbidden"} 2');
    expect(a.log()).toMatch(/"event":"request-refused","reason":"forbidden"/);
  });
});
