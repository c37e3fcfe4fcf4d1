// Migration of vm1's backend from hostB to hostC at the engine level (DESIGN.md: a live
// migration moves the VM's tap to the new host): hostA's Corm end quiesces (frames for vm1 are
// queued), its path is swapped from hostB to hostC, and resumes once hostC's engine has bound
// the tap. Sequence-numbered traffic towards the VM runs throughout: nothing may be lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import type { Engine, Port, UdpWire } from '../dataplane/lib/index.js';
import { connectUdpWire } from '../wires/udp/connect.js';
import { openUdpEnd, udpPathTo } from '../wires/udp/udp-end.js';
import { describeUnderlay } from '../wires/udp/underlay.js';
import { newEngine, waitFor } from './support/engine.js';

const WIRE_PORT = 7471;
const SPIKE_DOMAIN = 5;

describe('migrating vm1 from hostB to hostC under traffic (engines)', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  const engines: Engine[] = [];
  let a: Engine;
  let b: Engine;
  let c: Engine;
  let underlayA: Port;
  let wireA: UdpWire;
  let wireB: UdpWire;
  afterAll(() => engines.forEach((e) => e.close()));

  beforeAll(async () => {
    topo = await referenceTopology(bed(), { ipv6: false });
    // hostA's pool as a daemon sizes it (16384 frames): its quiesce queue holds a quarter, 4096
    // frames, 400 ms of this traffic; the tests' smaller default (2048) overflowed under ASan.
    [a, b, c] = [newEngine({ framesPerWorker: 16384 }), newEngine(), newEngine()];
    engines.push(a, b, c);
    a.addPort({ ifname: 'nic0', netns: topo.hostA.ns.name });
    underlayA = a.addPort({ ifname: topo.hostA.underlay.name, netns: topo.hostA.ns.name, underlay: { udpPort: WIRE_PORT } });
    b.addPort({ ifname: topo.vm1.tap.name, netns: topo.hostB.ns.name, domain: SPIKE_DOMAIN });
    const underlayB = b.addPort({ ifname: topo.hostB.underlay.name, netns: topo.hostB.ns.name, underlay: { udpPort: WIRE_PORT } });
    [wireA, wireB] = await connectUdpWire({ engine: a, underlay: underlayA }, { engine: b, underlay: underlayB }, { wireId: 1, keepaliveMs: 10 });
    b.setDomain(wireB, SPIKE_DOMAIN);
    for (const e of engines) e.start();
    await waitFor('wire up', () => wireA.state() === 'up' && wireB.state() === 'up', 3000);
    // As a real VM's NIC would: no ARP flush when the carrier blinks during the move.
    await topo.vm1.ns.exec(['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_evict_nocarrier=0']);
  });

  it('queues what is sent to vm1 while it moves and delivers all of it, in order, from hostC', async () => {
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
    // prepare: hostC's wire end (a Spike domain with no port yet) and hostA's new path to it.
    const underlayC = c.addPort({ ifname: topo.hostC.underlay.name, netns: topo.hostC.ns.name, underlay: { udpPort: WIRE_PORT } });
    const [ua, uc] = await Promise.all([describeUnderlay(topo.hostA.ns.name, topo.hostA.underlay.name), describeUnderlay(topo.hostC.ns.name, topo.hostC.underlay.name)]);
    const wireC = await openUdpEnd({ engine: c, underlayPort: underlayC, local: uc, peer: { ip: ua.ip, mtu: ua.mtu, udpPort: WIRE_PORT }, wireId: 2, domain: SPIKE_DOMAIN, keepaliveMs: 10 });
    const since = process.hrtime.bigint();
    wireA.prepareSwap(await udpPathTo({ underlayPort: underlayA, local: ua, peer: { ip: uc.ip, mtu: uc.mtu, udpPort: WIRE_PORT }, wireId: 2 }));
    await waitFor('new path verified both ways', () => wireA.swapInfo().otherHeardSince(since) && wireC.state() === 'up', 2000);

    const count = 20_000;
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: 61, expect: count, idleMs: 3000 });
    const sending = send({ ifname: 'eth0', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: 61, count, size: 200, rate: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    const before = wireA.counters();
    // quiesce, move the tap, then switch: hostC binds it; hostA cuts over to hostC, drops the
    // path to hostB and sends what it queued, in one step.
    wireA.quiesce();
    // The tap arrives down; hostC binds it before it comes up (as a VM's backend is set up
    // before the VM resumes), so nothing but the switch itself is left once it is up.
    await topo.vm1.tap.moveTo(topo.hostC.ns);
    const t0 = performance.now();
    c.addPort({ ifname: topo.vm1.tap.name, netns: topo.hostC.ns.name, domain: SPIKE_DOMAIN, takeOverBananaXdp: true });
    const boundMs = performance.now() - t0;
    await topo.vm1.tap.up();
    const up = performance.now();
    wireA.switchOver();
    const switchMs = performance.now() - up;
    const queued = wireA.counters().quiesce_queued - before.quiesce_queued;
    // hostB lets go of what it had: the tap's port (its interface is gone) and its wire end.
    for (const p of b.ports()) if (p.ifname === topo.vm1.tap.name) p.close();
    wireB.close();
    await sending;
    const got = await rx.done();
    if (got.lost) {
      const nz = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([k, v]) => v !== 0n && k !== 'peer_last_rx_ns').map(([k, v]) => [k, String(v)]));
      console.log(JSON.stringify({ got, counters: Object.fromEntries([a, b, c].flatMap((e, i) => [...e.ports(), ...e.wires()].map((p) => [`${'ABC'[i]} ${p}`, nz(p.counters() as unknown as Record<string, bigint>)]))) }, null, 1));
    }
    console.log(`migration: switch ${switchMs.toFixed(3)} ms (tap up on hostC -> queue sent; bound before it came up, in ${boundMs.toFixed(2)} ms), ${queued} frames queued`);
    expect(got).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
    expect(queued).toBeGreaterThan(0n);
    expect(wireA.counters().drop_quiesce_full).toBe(0n);
    expect(wireA.swapInfo()).toMatchObject({ phase: 'none', quiesced: false, queued: 0, txWireId: 2, rxWireId: 2 });
    // And the VM talks to the outside through hostC now.
    expect(await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.1', topo.ext.ip])).toMatch(/3 received/);
    expect(wireC.counters().tx_packets).toBeGreaterThan(0n);
    for (const e of [a, b, c]) expect(e.auditFrames().ok).toBe(true);
  }, 60_000);
});
