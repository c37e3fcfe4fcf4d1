// Corm switching and failover (issue: device hot-swap): hostA's nic0 and hostC's nic1 sit on one
// device network ("dev", a bridge in ext). vm1's Spike on hostB asks for any Corm of that network:
// it gets the closest, is switched between Corms make-before-break on command, and fails over to
// the other Corm when hostA's daemon dies.
import { afterAll, describe, expect, it } from 'vitest';
import type { SpikeView, WireView } from '../controller/model/views.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import { referenceTopology, type ReferenceTopology, type TestBed } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { DaemonCluster, type Daemon } from './support/daemons.js';
import { waitFor } from './support/engine.js';

/** The device network "dev": ext's eth0 (to hostA's nic0) and a new eth1 (to hostC's nic1) on a
 * bridge in ext, which takes ext's address. */
async function deviceNetwork(bed: TestBed, topo: ReferenceTopology): Promise<void> {
  const dev = await bed.createBridge(topo.ext.ns, 'devbr', { mac: topo.ext.eth0.mac });
  await topo.ext.ns.exec(['ip', 'addr', 'flush', 'dev', 'eth0']);
  await dev.addPort(topo.ext.eth0);
  await topo.ext.ns.exec(['ip', 'addr', 'add', topo.ext.cidr, 'dev', 'devbr']);
  const nic1 = await bed.createVeth({ ns: topo.ext.ns, name: 'eth1', mac: '02:ba:0e:00:00:02', txChecksum: false, up: false }, { ns: topo.hostC.ns, name: 'nic1', mac: '02:ba:0c:00:00:0a', txChecksum: false });
  await dev.addPort(nic1.a);
  await nic1.a.waitOperState('UP');
}

describe('a Spike on a device network with two Corms', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  let b: Daemon;
  const abort = new AbortController();
  const events: Record<string, unknown>[] = [];
  afterAll(async () => {
    abort.abort();
    await cluster?.stop();
  });

  const spike = async () => (await b.api.request<SpikeView[]>('GET', '/v1/spikes'))[0]!;
  const wireUp = async () => (await b.api.request<WireView[]>('GET', '/v1/wires')).find((w) => w.state === 'up');
  /** Sequence-numbered frames ext -> vm1 while `during` runs. */
  const underTraffic = async (flow: number, during: () => Promise<void>) => {
    const rate = 10_000;
    const count = rate * 3;
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow, expect: count, idleMs: 2500 });
    const sending = send({ ifname: 'devbr', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow, count, size: 200, rate });
    await new Promise((r) => setTimeout(r, 800));
    await during();
    await sending;
    return { got: await rx.done(), rate };
  };

  it('connects vm1 to the closest Corm of the network', async () => {
    topo = await referenceTopology(bed(), { ipv6: false });
    await deviceNetwork(bed(), topo);
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0', network: 'dev' }], labels: { rack: 'r1' } },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name, labels: { rack: 'r1' } },
      { name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name, corms: [{ name: 'nic1', ifname: 'nic1', network: 'dev' }], labels: { rack: 'r2' } },
    ]);
    b = cluster.get('hostB');
    void b.api.events((ev) => events.push(ev), abort.signal);
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    const w = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { network: 'dev' });
    expect(w).toMatchObject({ corm: 'hostA/nic0', type: 'udp' }); // same rack as hostB
    expect(await spike()).toMatchObject({ requested: { network: 'dev' }, connect: { corm: 'hostA/nic0' } });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });

  it('switches vm1 to the other Corm on command, make before break: nothing lost', async () => {
    const { got } = await underTraffic(81, async () => {
      const w = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostC/nic1' });
      expect(w).toMatchObject({ corm: 'hostC/nic1', type: 'udp' });
    });
    console.log(`Corm switch hostA/nic0 -> hostC/nic1 under 10 kpps: ${JSON.stringify({ lost: got.lost, duplicated: got.duplicated, reordered: got.reordered })}`);
    if (got.lost) {
      const c = cluster!.get('hostC');
      console.log('DEBUG', JSON.stringify({ fdb: await topo.ext.ns.exec(['bridge', 'fdb', 'show', 'br', 'devbr']), bw: await b.api.request('GET', '/v1/wires'), cw: await c.api.request('GET', '/v1/wires'), cc: await c.api.request('GET', '/v1/corms'), ev: events.slice(-12) }));
    }
    expect(got).toMatchObject({ lost: 0, duplicated: 0 });
    // The old wire kept delivering its tail, then went.
    await waitFor('old wire closed after its tail', async () => (await b.api.request<WireView[]>('GET', '/v1/wires')).length === 1);
    if (!events.some((e) => e.type === 'wire-down' && e.tail === true)) console.log(JSON.stringify(events));
    expect(events.some((e) => e.type === 'wire-down' && e.tail === true)).toBe(true);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
    // Asking for the network again brings it back to the closest Corm.
    expect(await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { network: 'dev' })).toMatchObject({ corm: 'hostA/nic0' });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });

  it('fails over to hostC/nic1 when hostA’s daemon is killed, and reports it', async () => {
    await waitFor('one wire, up', async () => (await b.api.request<WireView[]>('GET', '/v1/wires')).length === 1 && (await wireUp()) !== undefined);
    let rewiredMs = 0;
    const { got, rate } = await underTraffic(82, async () => {
      const killedAt = performance.now();
      cluster!.get('hostA').process.kill('SIGKILL');
      await waitFor('rewired to hostC/nic1', async () => (await spike()).connect?.corm === 'hostC/nic1' && (await wireUp())?.corm === 'hostC/nic1', 5000).catch(async (e: unknown) => {
        console.log(JSON.stringify({ events: events.slice(-15), spike: await spike(), wires: await b.api.request('GET', '/v1/wires') }));
        throw e;
      });
      rewiredMs = performance.now() - killedAt;
    });
    const gapMs = (got.lost / rate) * 1000;
    console.log(`failover after SIGKILL of hostA: ${got.lost} frames lost (~${gapMs.toFixed(0)} ms at ${rate} pps), rewired within ${rewiredMs.toFixed(0)} ms of the kill (as polled)`);
    expect(events.find((e) => e.type === 'rewired' && e.why === 'failover')).toMatchObject({ spike: 'vm1', corm: 'hostC/nic1', fromCorm: 'hostA/nic0' });
    expect(got.duplicated).toBe(0);
    expect(got.unique).toBeGreaterThan(0);
    expect(gapMs).toBeLessThan(1000);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });
});

// Issue #5's end-to-end case: a policy change moves a live connection to the newly best wire
// type. vm1 lives on hostC, next to nic1: `local` to hostC/nic1 is best; hostC forbidding
// `local` makes `udp` to hostA/nic0 the best; lifting it brings `local` back.
describe('a policy change moving a live connection between wire types', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  afterAll(async () => cluster?.stop());

  it('moves vm1 from local to udp and back while traffic runs', async () => {
    topo = await referenceTopology(bed(), { ipv6: false, vm1Host: 'hostC' });
    await deviceNetwork(bed(), topo);
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0', network: 'dev' }] },
      { name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name, corms: [{ name: 'nic1', ifname: 'nic1', network: 'dev' }] },
    ]);
    const c = cluster.get('hostC');
    await c.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    expect(await c.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { network: 'dev' })).toMatchObject({ type: 'local', corm: 'hostC/nic1' });
    const current = async () => (await c.api.request<SpikeView[]>('GET', '/v1/spikes'))[0]!.connect;

    const rate = 10_000;
    const count = rate * 4;
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: 91, expect: count, idleMs: 2500 });
    const sending = send({ ifname: 'devbr', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: 91, count, size: 200, rate });
    await new Promise((r) => setTimeout(r, 800));
    await c.api.request('PUT', '/v1/host/policy', { forbid: ['local'] });
    await waitFor('moved to udp', async () => (await current())?.type === 'udp');
    expect(await current()).toEqual({ corm: 'hostA/nic0', type: 'udp' });
    await new Promise((r) => setTimeout(r, 800));
    await c.api.request('PUT', '/v1/host/policy', {});
    await waitFor('back to local', async () => (await current())?.type === 'local');
    expect(await current()).toEqual({ corm: 'hostC/nic1', type: 'local' });
    await sending;
    const got = await rx.done();
    console.log(`local -> udp -> local under 10 kpps: ${JSON.stringify({ lost: got.lost, duplicated: got.duplicated, reordered: got.reordered })}`);
    // Make before break both ways: leaving local, the new udp wire first delivers beside the
    // Spike's port in the old Corm's domain until the new Corm announced the VM; leaving udp,
    // its tail delivers. What is left are the frames in flight at the last step (measured: 32
    // of 40 000; the naive order lost ~1 600). Frames arrive reordered across the two paths.
    expect(got.lost).toBeLessThan(1000);
    expect(got.duplicated).toBe(0);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });
});
