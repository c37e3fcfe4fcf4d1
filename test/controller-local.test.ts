// A `local` wire: vm1's Spike and the Corm on nic0 on the same host, through one daemon.
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiError } from '../controller/api/api-client.js';
import type { CormView, WireView } from '../controller/model/views.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { banana } from './support/banana-cli.js';
import { DaemonCluster, type Daemon } from './support/daemons.js';
import { iperfVm1ToExt } from './support/reference-traffic.js';


describe('a local wire between vm1 and hostA/nic0 on one host', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  let a: Daemon;
  afterAll(async () => cluster?.stop());

  it('connects with type auto, which picks local on the same host', async () => {
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false, vm1Host: 'hostA' });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }] },
    ]);
    a = cluster.get('hostA');
    await a.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    const refused = await a.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'udp' }).catch((e: ApiError) => e);
    expect(refused).toMatchObject({ status: 409, code: 'no-wire-fits' });
    expect((refused as ApiError).message).toContain('udp: both ends are on hostA (local joins them without a network)');
    expect((refused as ApiError).body).toMatchObject({ explanation: { proximity: 'same-host', chosen: 'local' } });
    const wire = await a.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    expect(wire).toMatchObject({ type: 'local', side: 'both', spike: 'hostA/vm1', corm: 'hostA/nic0', state: 'up', peerHost: null });
    const [corm] = await a.api.request<CormView[]>('GET', '/v1/corms');
    expect(corm?.endpoints).toEqual(['hostA/vm1']);
  });

  it('carries ping and TCP iperf3 both ways, with vm1’s own MAC on nic0', async () => {
    expect(await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.ext.ip])).toMatch(/3 received/);
    const neigh = JSON.parse(await topo.ext.ns.exec(['ip', '-j', 'neigh', 'show', topo.vm1.ip])) as { lladdr?: string }[];
    expect(neigh[0]?.lladdr).toBe(topo.vm1.mac);
    expect(await iperfVm1ToExt(topo, false)).toBeGreaterThan(1_000_000);
    expect(await iperfVm1ToExt(topo, true)).toBeGreaterThan(1_000_000);
  });

  it('counts exactly what the traffic tool sent across it', async () => {
    const before = (await a.api.request<WireView[]>('GET', '/v1/wires'))[0]!;
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow: 31, expect: 5000, idleMs: 1000 });
    await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow: 31, count: 5000, size: 200, rate: 20000 });
    expect(await rx.done()).toMatchObject({ unique: 5000, lost: 0, duplicated: 0, reordered: 0 });
    const after = (await a.api.request<WireView[]>('GET', '/v1/wires'))[0]!;
    expect(after.counters.rx_packets - before.counters.rx_packets).toBe(5000);
    expect(after.counters.rx_bytes - before.counters.rx_bytes).toBe(5000 * 200);
  });

  it('disconnects: vm1 is cut off from nic0, then connects again', async () => {
    await a.api.request('POST', '/v1/spikes/vm1/disconnect');
    expect(await a.api.request('GET', '/v1/wires')).toEqual([]);
    await expect(topo.vm1.ns.exec(['ping', '-c', '1', '-W', '1', topo.ext.ip])).rejects.toThrow();
    await a.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'local' });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
    expect((await a.api.request<{ ok: boolean }>('GET', '/v1/audit')).ok).toBe(true);
  });

  it('is driven by the banana CLI too: tables by default, JSON with --json, clear errors', async () => {
    const c = ['--config', a.configFile];
    await a.api.request('POST', '/v1/spikes/vm1/disconnect');
    const connected = await banana(['connect', 'vm1', 'hostA/nic0', ...c]);
    expect(connected.out).toMatch(/hostA\/vm1 -> hostA\/nic0: local wire \d+, mtu 1500, up/);
    const table = await banana(['wire', 'ls', ...c]);
    expect(table.out.split('\n')[0]).toMatch(/^\s*id\s+type\s+side\s+spike\s+corm/);
    expect(table.out).toMatch(/local\s+both\s+hostA\/vm1\s+hostA\/nic0/);
    const json = JSON.parse((await banana(['spike', 'ls', '--json', ...c])).out) as { id: string; connect: unknown }[];
    expect(json).toEqual([expect.objectContaining({ id: 'hostA/vm1', connect: { corm: 'hostA/nic0', type: 'local' } })]);
    const bad = await banana(['spike', 'connect', 'vm1', 'hostB/nic0', ...c]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/404 no Corm hostB\/nic0 in the registry/);
    const usage = await banana(['spike', 'frobnicate', ...c]);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/unknown command 'spike frobnicate'/);
  });
});
