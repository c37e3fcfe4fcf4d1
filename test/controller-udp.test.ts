// The Banana model end to end on the reference topology: three bananad processes on an
// embedded registry; vm1 (hostB) wired over `udp` to hostA's Corm on nic0 through the API.
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiError } from '../controller/api/api-client.js';
import type { HostView, SpikeView, SwapView, WireRttView, WireView } from '../controller/model/views.js';
import { banana } from './support/banana-cli.js';
import type { EndpointRecord } from '../controller/registry/index.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { DaemonCluster, TEST_SECRET, type Daemon } from './support/daemons.js';
import { waitFor } from './support/engine.js';
import { captureFabricUdp, iperfVm1ToExt } from './support/reference-traffic.js';

const WIRE_PORT = 7471;

describe('controllers wiring vm1 (hostB) to hostA/nic0 over udp', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  let a: Daemon;
  let b: Daemon;
  let wire: WireView;
  afterAll(async () => cluster?.stop());

  const wires = async (d: Daemon) => d.api.request<WireView[]>('GET', '/v1/wires');

  it('starts three daemons that advertise themselves and hostA’s Corm', async () => {
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }], labels: { rack: 'r1' } },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name, labels: { rack: 'r2' } },
      { name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name },
    ]);
    a = cluster.get('hostA');
    b = cluster.get('hostB');
    const hosts = await b.api.request<{ name: string; underlay: string }[]>('GET', '/v1/hosts');
    expect(hosts.map((h) => h.name)).toEqual(['hostA', 'hostB', 'hostC']);
    expect(hosts[0]?.underlay).toBe(topo.hostA.underlayIp);
    const corms = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints?kind=corm');
    expect(corms.map((e) => e.id)).toEqual(['hostA/nic0']);
    expect(corms[0]?.mac).toBe(topo.hostA.nic0.mac);
  });

  it('creates vm1’s Spike and connects it to hostA/nic0 over udp', async () => {
    const spike = await b.api.request<SpikeView>('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    expect(spike.id).toBe('hostB/vm1');
    wire = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'udp' });
    expect(wire).toMatchObject({ type: 'udp', side: 'spike', spike: 'hostB/vm1', corm: 'hostA/nic0', peerHost: 'hostA', mtu: 3000 - 44 - 14 });
    await waitFor('wire up on both ends', async () => {
      const [wa] = await wires(a);
      const [wb] = await wires(b);
      return wa?.state === 'up' && wb?.state === 'up';
    });
    const [wa] = await wires(a);
    expect(wa).toMatchObject({ id: wire.id, side: 'corm', spike: 'hostB/vm1', corm: 'hostA/nic0', peerHost: 'hostB' });
    const vfs = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints?host=hostA');
    expect(vfs.find((e) => e.id === 'hostA/nic0/hostB.vm1')).toMatchObject({ kind: 'corm', mac: topo.vm1.mac });
    const [corm] = await a.api.request<{ endpoints: string[] }[]>('GET', '/v1/corms');
    expect(corm?.endpoints).toEqual(['hostB/vm1']);
  });

  it('carries ping from vm1 to the outside network, with vm1’s own MAC on hostA’s nic0', async () => {
    expect(await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.ext.ip])).toMatch(/3 received/);
    const neigh = JSON.parse(await topo.ext.ns.exec(['ip', '-j', 'neigh', 'show', topo.vm1.ip])) as { lladdr?: string }[];
    expect(neigh[0]?.lladdr).toBe(topo.vm1.mac);
    expect(await topo.ext.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.vm1.ip])).toMatch(/3 received/);
  });

  it('carries TCP iperf3 both ways without sequence gaps', async () => {
    expect(await iperfVm1ToExt(topo, false)).toBeGreaterThan(1_000_000);
    expect(await iperfVm1ToExt(topo, true)).toBeGreaterThan(1_000_000);
    const [wa] = await wires(a);
    const [wb] = await wires(b);
    expect(wa?.sequence?.gaps).toBe(0);
    expect(wb?.sequence?.gaps).toBe(0);
    expect(wb!.counters.tx_packets).toBeGreaterThan(1000);
  });

  it('puts the documented header with the negotiated wire id on the fabric', async () => {
    const frames = await captureFabricUdp(topo, WIRE_PORT, () => topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.1', topo.ext.ip]));
    expect(frames.length).toBeGreaterThan(3);
    for (const f of frames) {
      expect(f[42]).toBe(1); // version
      expect([1, 2]).toContain(f[43]); // data or keepalive
      expect(f.readUInt32BE(46)).toBe(wire.id);
    }
  });

  it('counts exactly the frames the traffic tool sent, end to end', async () => {
    const before = (await wires(a))[0]!;
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow: 21, expect: 5000, idleMs: 1000 });
    await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow: 21, count: 5000, size: 256, rate: 20000 });
    const got = await rx.done();
    expect(got).toMatchObject({ unique: 5000, lost: 0, duplicated: 0, reordered: 0 });
    const after = (await wires(a))[0]!;
    expect(after.counters.rx_packets - before.counters.rx_packets).toBeGreaterThanOrEqual(5000);
    expect(after.sequence!.gaps).toBe(0);
  });

  it('exposes Prometheus metrics from the shared-memory counters that match the traffic sent', async () => {
    const scrape = async (d: Daemon) => {
      const text = await (await fetch(`http://${d.address}/metrics`)).text();
      const get = (name: string, labels: Record<string, string>) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
        return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      return { text, get };
    };
    const ids = { wire: String(wire.id) };
    const [a0, b0] = [await scrape(a), await scrape(b)];
    expect(b0.text).toContain('# TYPE banana_wire_tx_packets_total counter');
    expect(b0.get('banana_wire_up', { ...ids, side: 'spike', type: 'udp', spike: 'hostB/vm1', corm: 'hostA/nic0' })).toBe(1);
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow: 23, expect: 3000, idleMs: 1000 });
    await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow: 23, count: 3000, size: 300, rate: 20000 });
    expect(await rx.done()).toMatchObject({ unique: 3000, lost: 0 });
    const [a1, b1] = [await scrape(a), await scrape(b)];
    const delta = (x: typeof a0, y: typeof a0, name: string, labels: Record<string, string>) => (y.get(name, labels) ?? NaN) - (x.get(name, labels) ?? NaN);
    // vm1's own stack may add an ARP or two: the traffic tool's frames are a floor, and nearly all.
    const within = (v: number) => expect(v >= 3000 && v <= 3010).toBe(true);
    within(delta(b0, b1, 'banana_port_rx_packets_total', { port: 'hostB/vm1', role: 'spike' }));
    within(delta(b0, b1, 'banana_wire_tx_packets_total', { ...ids, side: 'spike' }));
    within(delta(a0, a1, 'banana_wire_rx_packets_total', { ...ids, side: 'corm' }));
    within(delta(a0, a1, 'banana_port_tx_packets_total', { port: 'hostA/nic0', role: 'corm' }));
    expect(delta(b0, b1, 'banana_wire_tx_bytes_total', { ...ids, side: 'spike' })).toBeGreaterThanOrEqual(3000 * 300);
    expect(a1.get('banana_wire_seq_gaps_total', { ...ids, side: 'corm' })).toBe(0);
    expect(a1.get('banana_port_drops_total', { port: 'hostA/nic0', role: 'corm', reason: 'tx_ring_full' })).toBe(0);
    expect(a1.get('banana_worker_loops_total', { worker: '0' })).toBeGreaterThan(0);
  });

  it("measures the wire's own round trip from either end through the API, and refuses what it cannot measure", async () => {
    const fromSpike = await b.api.request<WireRttView>('POST', `/v1/wires/${wire.id}/rtt`, { count: 200, bytes: 64 });
    expect(fromSpike).toMatchObject({ id: wire.id, type: 'udp', bytes: 64, sent: 200, received: 200, lost: 0 });
    expect(fromSpike.p50Us).toBeGreaterThan(0);
    expect(fromSpike.p99Us).toBeGreaterThanOrEqual(fromSpike.p50Us);
    const fromCorm = await a.api.request<WireRttView>('POST', `/v1/wires/${wire.id}/rtt`, { count: 50, bytes: wire.mtu + 14 });
    expect(fromCorm.received).toBe(50);
    const status = async (p: Promise<unknown>) => p.then(() => 200, (e: ApiError) => ({ status: e.status, body: e.body }));
    expect(await status(b.api.request('POST', `/v1/wires/${wire.id}/rtt`, { bytes: wire.mtu + 15 }))).toMatchObject({ status: 400 });
    expect(await status(b.api.request('POST', `/v1/wires/${wire.id}/rtt`, { count: 0 }))).toMatchObject({ status: 400, body: { field: 'count' } });
    expect(await status(b.api.request('POST', '/v1/wires/99999/rtt', {}))).toMatchObject({ status: 404 });
    const cli = await banana(['wire', 'rtt', String(wire.id), '--count', '20', '--bytes', '256', '--config', b.configFile]);
    expect(cli.err).toBe('');
    expect(cli.out).toMatch(new RegExp(`wire ${wire.id} \\(udp\\), 256 B: 20/20 echoes back, round trip p50 [\\d.]+ us`));
    console.log(`udp wire echo through the API: p50 ${fromSpike.p50Us} us, p99 ${fromSpike.p99Us} us (64 B); CLI: ${cli.out.trim()}`);
  });

  it('answers bad requests with 4xx naming the field or the reason', async () => {
    const status = async (p: Promise<unknown>) => p.then(() => 200, (e: ApiError) => ({ status: e.status, body: e.body }));
    expect(await status(b.api.request('POST', '/v1/spikes', { name: 'vm2', ifname: 'x', mac: '01:00:5e:00:00:01' }))).toMatchObject({
      status: 400, body: { error: 'bad-request', field: 'mac' },
    });
    expect(await status(b.api.request('POST', '/v1/spikes', { name: 'vm2', ifname: 'x', mac: '02:00:00:00:00:01', colour: 'red' }))).toMatchObject({ status: 400 });
    expect(await status(b.api.request('POST', '/v1/spikes', { name: '../etc', ifname: 'x', mac: '02:00:00:00:00:01' }))).toMatchObject({
      status: 400, body: { field: 'name' },
    });
    expect(await status(b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'nic0' }))).toMatchObject({ status: 400, body: { field: 'corm' } });
    expect(await status(b.api.request('POST', '/v1/spikes/ghost/connect', { corm: 'hostA/nic0' }))).toMatchObject({ status: 404 });
    expect(await status(b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostZ/nic9' }))).toMatchObject({ status: 404 });
    expect(await status(b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac }))).toMatchObject({ status: 409 });
    expect(await status(b.api.request('POST', '/v1/spikes', { name: 'vm9', ifname: 'nosuchif', mac: '02:00:00:00:00:09' }))).toMatchObject({ status: 404 });
    const local = await status(b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'local' }));
    expect(local).toMatchObject({ status: 409, body: { error: 'no-wire-fits' } });
    expect(JSON.stringify(local)).toContain('local: not on the same host (hostA and hostB)');
    const bad = await fetch(`http://${b.address}/v1/spikes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
    expect(bad.status).toBe(400); // not JSON: refused before anything else
    // The failed requests left the running wire alone.
    expect((await wires(b))[0]).toMatchObject({ id: wire.id, state: 'up' });
  });

  it('refuses unsigned, wrongly signed, replayed and misdirected control requests', async () => {
    const plain = await fetch(`http://${a.address}/v1/wires`);
    expect(plain.status).toBe(401);
    expect(await plain.json()).toMatchObject({ reason: 'unsigned' });
    const wrong = new ApiClient({ address: a.address, secret: 'not-the-cluster-secret', caller: 'hostB' });
    await expect(wrong.request('GET', '/v1/wires')).rejects.toMatchObject({ status: 401, body: { reason: 'bad-signature' } });
    // Replay: send the exact same signed request twice.
    const { signRequest } = await import('../controller/api/request-signing.js');
    const headers = signRequest(TEST_SECRET, 'hostB', a.address, 'DELETE', `/v1/peer/wires/${wire.id}`, '');
    expect((await fetch(`http://${a.address}/v1/peer/wires/999`, { method: 'DELETE', headers })).status).toBe(401); // path is signed too
    const stale = signRequest(TEST_SECRET, 'hostB', a.address, 'GET', '/v1/wires', '', Date.now() - 120_000);
    expect(await (await fetch(`http://${a.address}/v1/wires`, { headers: stale })).json()).toMatchObject({ reason: 'stale' });
    const once = signRequest(TEST_SECRET, 'cli', a.address, 'GET', '/v1/wires', '');
    // The same request meant for hostB does not count at hostA.
    const elsewhere = signRequest(TEST_SECRET, 'cli', b.address, 'GET', '/v1/wires', '');
    expect(await (await fetch(`http://${a.address}/v1/wires`, { headers: elsewhere })).json()).toMatchObject({ reason: 'bad-signature' });
    expect((await fetch(`http://${a.address}/v1/wires`, { headers: once })).status).toBe(200);
    expect(await (await fetch(`http://${a.address}/v1/wires`, { headers: once })).json()).toMatchObject({ reason: 'replayed' });
    // hostC may not tear down hostB's wire, nor open one for hostB's Spike.
    const asC = new ApiClient({ address: a.address, secret: TEST_SECRET, caller: 'hostC' });
    await expect(asC.request('DELETE', `/v1/peer/wires/${wire.id}`)).rejects.toMatchObject({ status: 403 });
    await expect(asC.request('POST', '/v1/peer/wires', {
      wireId: 77, corm: 'nic0', spike: 'hostB/vm1', spikeMac: topo.vm1.mac, underlay: { ip: topo.hostC.underlayIp, mtu: 3000, udpPort: WIRE_PORT },
    })).rejects.toMatchObject({ status: 403 });
    const host = await a.api.request<HostView & { authRefusals: Record<string, number> }>('GET', '/v1/host');
    expect(host.authRefusals).toMatchObject({ unsigned: 1, 'bad-signature': 3, stale: 1, replayed: 1 });
    expect(a.log()).toContain('"event":"request-refused"');
    expect((await wires(a))[0]).toMatchObject({ id: wire.id, state: 'up' });
  });

  it('counts and drops malformed packets injected on the underlay, and keeps carrying traffic', async () => {
    const before = (await a.api.request<HostView>('GET', '/v1/host')).underlay.counters.drops;
    const inject = (hex: string) =>
      topo.hostC.ns.exec(['python3', '-c', `import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(bytes.fromhex(sys.argv[1]),('${topo.hostA.underlayIp}',${WIRE_PORT}))`, hex]);
    const hdr = (version: number, wireId: number) => {
      const h = Buffer.alloc(80);
      h[0] = version;
      h[1] = 1;
      h.writeUInt32BE(wireId, 4);
      return h.toString('hex');
    };
    await inject('0102'); // truncated
    await inject(hdr(7, wire.id)); // wrong version
    await inject(hdr(1, (wire.id % 1000) + 5)); // unknown wire id
    await inject(hdr(1, wire.id)); // right wire id, wrong peer (hostC, not hostB)
    await waitFor('four drops counted', async () => {
      const d = (await a.api.request<HostView>('GET', '/v1/host')).underlay.counters.drops;
      return (d.wire_peer ?? 0) > (before.wire_peer ?? 0);
    });
    const after = (await a.api.request<HostView>('GET', '/v1/host')).underlay.counters.drops;
    for (const reason of ['malformed', 'bad_version', 'unknown_wire', 'wire_peer']) expect((after[reason] ?? 0) - (before[reason] ?? 0)).toBe(1);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await (await fetch(`http://${a.address}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/spikes', '/v1/spikes/{name}/connect', '/v1/wires/{id}', '/v1/peer/wires']));
  });

  it('hot-swaps the wire 20 times under sequence-numbered traffic both ways: 0 lost, duplicated or reordered', async () => {
    const rate = 10_000;
    const count = rate * 8; // outlasts the swaps; checked below
    const toExt = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow: 51, expect: count, idleMs: 3000 });
    const toVm = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: 52, expect: count, idleMs: 3000 });
    let sending = 2;
    const senders = [
      send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow: 51, count, size: 200, rate }),
      send({ ifname: 'eth0', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: 52, count, size: 200, rate }),
    ].map((p) => p.finally(() => sending--));
    let id = (await wires(b))[0]!.id;
    let underTraffic = 0;
    for (let i = 0; i < 20; i++) {
      const r = await b.api.request<SwapView>('POST', '/v1/spikes/vm1/swap', {});
      expect(r).toMatchObject({ spike: 'hostB/vm1', corm: 'hostA/nic0', type: 'udp', from: id, settled: true });
      expect(r.to).not.toBe(id);
      id = r.to;
      if (sending === 2) underTraffic++;
    }
    await Promise.all(senders);
    const [gotExt, gotVm] = await Promise.all([toExt.done(), toVm.done()]);
    if (gotExt.lost || gotVm.lost) {
      // Where did they go? The wire ends' and hosts' counters tell the switch's loss from the kernel's.
      const hosts = await Promise.all([a, b].map(async (d) => ({ host: d.host, wires: await wires(d), host_: await d.api.request('GET', '/v1/host') })));
      console.log(JSON.stringify({ gotExt, gotVm, hosts }, null, 1));
    }
    expect(underTraffic).toBe(20);
    expect(gotExt).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
    expect(gotVm).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
    // Both ends answer to the new id; the Corm's VF record names it.
    expect((await wires(a))[0]).toMatchObject({ id, side: 'corm', state: 'up' });
    expect((await wires(b))[0]).toMatchObject({ id, side: 'spike', state: 'up' });
    const vf = (await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints?host=hostA')).find((e) => e.id === 'hostA/nic0/hostB.vm1');
    expect(vf?.attributes.wireId).toBe(String(id));
    wire = (await wires(b))[0]!;
  }, 120_000);

  it('swaps from the CLI by wire id, serializes concurrent swaps, and refuses what cannot be swapped', async () => {
    const out = await banana(['wire', 'swap', String(wire.id), '--config', b.configFile]);
    expect(out.err).toBe('');
    expect(out.out).toMatch(new RegExp(`hostB/vm1 -> hostA/nic0: udp wire ${wire.id} swapped to \\d+ \\(verified in`));
    const [r1, r2] = await Promise.all([b.api.request<SwapView>('POST', '/v1/spikes/vm1/swap', {}), b.api.request<SwapView>('POST', '/v1/spikes/vm1/swap', {})]);
    expect(r2.from).toBe(r1.to);
    const status = async (p: Promise<unknown>) => p.then(() => 200, (e: ApiError) => ({ status: e.status, body: e.body }));
    expect(await status(b.api.request('POST', '/v1/spikes/ghost/swap', {}))).toMatchObject({ status: 404 });
    const toLocal = await status(b.api.request('POST', '/v1/spikes/vm1/swap', { type: 'local' }));
    expect(toLocal).toMatchObject({ status: 409, body: { error: 'no-wire-fits' } });
    expect(JSON.stringify(toLocal)).toContain('local: not on the same host');
    const toRdma = await status(b.api.request('POST', '/v1/spikes/vm1/swap', { type: 'rdma' }));
    expect(JSON.stringify(toRdma)).toMatch(/rdma: .*RDMA/);
    expect(await status(b.api.request('POST', '/v1/spikes/vm1/swap', { type: 'carrier-pigeon' }))).toMatchObject({ status: 400, body: { field: 'type' } });
    // Only the host that opened a Corm end may swap it.
    const asC = new ApiClient({ address: a.address, secret: TEST_SECRET, caller: 'hostC' });
    expect(await status(asC.request('POST', `/v1/peer/wires/${r2.to}/swap`, { step: 'cutover' }))).toMatchObject({ status: 403 });
    const fromCormSide = await banana(['wire', 'swap', String(r2.to), '--config', a.configFile]);
    expect(fromCormSide.code).not.toBe(0);
    expect(fromCormSide.err).toContain('run the swap there');
    expect((await wires(b))[0]).toMatchObject({ id: r2.to, state: 'up' });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
    wire = (await wires(b))[0]!;
  });

  it('disconnects both ends, and connects again', async () => {
    await b.api.request('POST', '/v1/spikes/vm1/disconnect');
    expect(await wires(b)).toEqual([]);
    await waitFor('Corm end closed by the peer request', async () => (await wires(a)).length === 0);
    const vfs = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints?host=hostA');
    expect(vfs.map((e) => e.id)).toEqual(['hostA/nic0']);
    await expect(topo.vm1.ns.exec(['ping', '-c', '1', '-W', '1', topo.ext.ip])).rejects.toThrow();
    const again = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    expect(again.type).toBe('udp'); // auto: the Corm is on another host
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
  });

  it('serializes concurrent requests on one Spike: whatever order they land in, both ends agree', async () => {
    const ops = Array.from({ length: 8 }, (_, i) =>
      i % 2 === 0
        ? b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'udp' })
        : b.api.request('POST', '/v1/spikes/vm1/disconnect').catch((e: ApiError) => (e.status === 409 ? 'not connected' : Promise.reject(e))),
    );
    await Promise.all(ops);
    const spike = await b.api.request<SpikeView>('GET', '/v1/spikes/vm1');
    const onB = await wires(b);
    await waitFor('the Corm side matches the Spike side', async () => (await wires(a)).map((w) => w.id).join() === onB.map((w) => w.id).join());
    expect(onB.length).toBe(spike.connect ? 1 : 0);
    expect(spike.wire).toBe(onB[0]?.id ?? null);
    if (!spike.connect) await b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'udp' });
  });

  it('connects and disconnects 100 times under traffic without leaking fds, frames or wires', async () => {
    await b.api.request('POST', '/v1/spikes/vm1/disconnect');
    await waitFor('clean', async () => (await wires(a)).length === 0);
    const fds = { a: a.openFds(), b: b.openFds() };
    const load = topo.vm1.ns.spawn(['ping', '-q', '-i', '0.005', '-W', '1', topo.ext.ip]);
    const ids = new Set<number>();
    try {
      for (let i = 0; i < 100; i++) {
        const w = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'udp' });
        ids.add(w.id);
        await b.api.request('POST', '/v1/spikes/vm1/disconnect');
      }
    } finally {
      load.kill('SIGINT');
    }
    expect(ids.size).toBe(100);
    expect(await wires(a)).toEqual([]);
    expect(await wires(b)).toEqual([]);
    expect(a.openFds()).toBe(fds.a);
    expect(b.openFds()).toBe(fds.b);
    for (const d of [a, b]) {
      const audit = await d.api.request<{ ok: boolean }>('GET', '/v1/audit');
      expect(audit.ok).toBe(true);
    }
    const eps = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints');
    expect(eps.map((e) => e.id)).toEqual(['hostA/nic0', 'hostB/vm1']);
    // Counters stay consistent after the churn: a fresh wire counts exactly what crosses it.
    const w = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0', type: 'udp' });
    await waitFor('wire up', async () => (await wires(a))[0]?.state === 'up');
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow: 22, expect: 2000, idleMs: 1000 });
    await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow: 22, count: 2000, size: 128, rate: 20000 });
    expect(await rx.done()).toMatchObject({ unique: 2000, lost: 0 });
    const wa = (await wires(a))[0]!;
    const wb = (await b.api.request<WireView>('GET', `/v1/wires/${w.id}`));
    expect(wa.sequence!.gaps).toBe(0);
    expect(wb.counters.tx_packets).toBeGreaterThanOrEqual(2000);
    expect(wa.counters.rx_packets).toBeGreaterThanOrEqual(2000);
  });

  it('removes a Spike with its wire, and stops cleanly on SIGTERM (XDP detached)', async () => {
    await b.api.request('DELETE', '/v1/spikes/vm1');
    await waitFor('Corm end closed', async () => (await wires(a)).length === 0);
    expect(await b.api.request('GET', '/v1/spikes')).toEqual([]);
    expect(await cluster!.stopOne('hostA')).toBe(0);
    expect(a.log()).toContain('"event":"stopped"');
    const link = JSON.parse(await topo.hostA.ns.exec(['ip', '-j', 'link', 'show', 'dev', 'nic0'])) as { xdp?: unknown }[];
    expect(link[0]?.xdp).toBeUndefined();
    // Its lease was revoked: hostA and its Corm left the registry at once.
    const hosts = await b.api.request<{ name: string }[]>('GET', '/v1/hosts');
    expect(hosts.map((h) => h.name)).toEqual(['hostB', 'hostC']);
  });
});
