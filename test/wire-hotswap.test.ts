// Hot-swap of a `udp` wire under traffic (DESIGN.md rule 5, make before break): vm1 behind
// hostB's engine sends sequence-numbered frames to ext through hostA's nic0 while the wire is
// swapped to a new wire id again and again. Real engines, real veths, real encapsulation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import type { Engine, Port, UdpWire } from '../dataplane/lib/index.js';
import { connectUdpWire } from '../wires/udp/connect.js';
import { HotSwapError, localSwapEnd, runHotSwap } from '../wires/udp/hot-swap.js';
import { newEngine, waitFor } from './support/engine.js';
import { udpSwapPaths } from './support/reference-traffic.js';

const WIRE_PORT = 7471;

describe('hot-swap of a udp wire', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let a: Engine;
  let b: Engine;
  let underlayA: Port;
  let underlayB: Port;
  let wireA: UdpWire;
  let wireB: UdpWire;
  afterAll(() => {
    a?.close();
    b?.close();
  });

  /** The path each end swaps to: the same underlay, a new wire id. */
  const paths = (wireId: number) => udpSwapPaths(topo, underlayA, underlayB, wireId);
  const swapTo = (wireId: number) => {
    const [pa, pb] = paths(wireId);
    return runHotSwap(localSwapEnd('hostA', wireA, pa), localSwapEnd('hostB', wireB, pb));
  };

  beforeAll(async () => {
    topo = await referenceTopology(bed(), { ipv6: false });
    a = newEngine();
    b = newEngine();
    a.addPort({ ifname: 'nic0', netns: topo.hostA.ns.name });
    underlayA = a.addPort({ ifname: topo.hostA.underlay.name, netns: topo.hostA.ns.name, underlay: { udpPort: WIRE_PORT } });
    b.addPort({ ifname: topo.vm1.tap.name, netns: topo.hostB.ns.name });
    underlayB = b.addPort({ ifname: topo.hostB.underlay.name, netns: topo.hostB.ns.name, underlay: { udpPort: WIRE_PORT } });
    // Keepalives every 10 ms: a new path is verified within one period.
    [wireA, wireB] = await connectUdpWire({ engine: a, underlay: underlayA }, { engine: b, underlay: underlayB }, { wireId: 1, keepaliveMs: 10 });
    a.start();
    b.start();
    await waitFor('wire up', () => wireA.state() === 'up' && wireB.state() === 'up', 3000);
  });

  it('swaps to a new wire id and ping passes over it', async () => {
    const report = await swapTo(2);
    expect(report.settled).toBe(true);
    expect(wireA.wireId).toBe(2);
    expect(wireB.wireId).toBe(2);
    expect(wireA.swapInfo()).toMatchObject({ phase: 'none', txWireId: 2, rxWireId: 2, otherWireId: undefined, held: 0 });
    expect(await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.1', topo.ext.ip])).toMatch(/3 received/);
  });

  it('swaps 100 times under continuous sequence-numbered traffic both ways: 0 lost, 0 duplicated, 0 reordered', async () => {
    const rate = 30_000;
    const count = rate * 15; // outlasts 100 swaps on a loaded machine; checked below
    const toExt = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow: 41, expect: count, idleMs: 3000 });
    const toVm = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: 42, expect: count, idleMs: 3000 });
    const beforeA = wireA.counters();
    const beforeB = wireB.counters();
    let sending = 2;
    const senders = [
      send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow: 41, count, size: 128, rate }),
      send({ ifname: 'eth0', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: 42, count, size: 128, rate }),
    ].map((p) => p.finally(() => sending--));
    let swapsUnderTraffic = 0;
    let unsettled = 0;
    for (let i = 0; i < 100; i++) {
      const r = await swapTo(10 + i);
      if (sending === 2) swapsUnderTraffic++;
      if (!r.settled) unsettled++;
    }
    await Promise.all(senders);
    const [gotExt, gotVm] = await Promise.all([toExt.done(), toVm.done()]);
    if (gotExt.lost || gotVm.lost) {
      const nz = (c: Record<string, bigint>) => Object.fromEntries(Object.entries(c).filter(([k, v]) => v !== 0n && k !== 'peer_last_rx_ns').map(([k, v]) => [k, String(v)]));
      const counters = Object.fromEntries([a, b].flatMap((e, i) => [...e.ports(), ...e.wires()].map((p) => [`${i ? 'B' : 'A'} ${p}`, nz(p.counters() as unknown as Record<string, bigint>)])));
      console.log(JSON.stringify({ gotExt, gotVm, counters }, null, 1));
    }
    expect(swapsUnderTraffic).toBe(100);
    expect(unsettled).toBe(0);
    expect(gotExt).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
    expect(gotVm).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
    for (const [wire, before] of [[wireA, beforeA], [wireB, beforeB]] as const) {
      const after = wire.counters();
      // Every swap ended the old path with a marker each way, and none had to time out.
      expect(after.swap_markers_rx - before.swap_markers_rx).toBe(100n);
      expect(after.swap_markers_tx - before.swap_markers_tx).toBe(100n);
      expect(after.swap_marker_timeouts).toBe(0n);
      expect(after.drop_swap_hold_full).toBe(0n);
      expect(after.wire_seq_gaps).toBe(0n);
      expect(after.wire_seq_late).toBe(0n);
    }
  }, 120_000);

  it('holds the new path when a drain marker is lost, and delivers the held frames in order on the marker timeout', async () => {
    const port = topo.fabric.ports.hostB.name;
    const fabric = topo.fabric.ns;
    // hostB's drain markers die on the fabric: the Banana type byte (3) sits 29 bytes into the IP header.
    await fabric.exec(['nft', 'add table bridge lose_markers']);
    try {
      await fabric.exec(['nft', 'add chain bridge lose_markers drop_them { type filter hook forward priority 0 ; }']);
      await fabric.exec(['nft', `add rule bridge lose_markers drop_them iifname ${port} ip protocol udp @nh,232,8 3 counter drop`]);
      const beforeA = wireA.counters();
      const beforeB = wireB.counters();
      const count = 4000;
      const rx = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow: 43, expect: count, idleMs: 2000 });
      const sending = send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow: 43, count, size: 128, rate: 2000 });
      await new Promise((r) => setTimeout(r, 500));
      const report = await swapTo(900);
      await sending;
      expect(await rx.done()).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
      const a1 = wireA.counters();
      const b1 = wireB.counters();
      // hostA waited for the marker that never came, holding hostB's new-path frames...
      expect(a1.swap_markers_rx - beforeA.swap_markers_rx).toBe(0n);
      expect(a1.swap_marker_timeouts - beforeA.swap_marker_timeouts).toBe(1n);
      expect(a1.swap_held - beforeA.swap_held).toBeGreaterThan(100n);
      expect(a1.wire_seq_gaps - beforeA.wire_seq_gaps).toBe(0n);
      expect(a1.wire_seq_late - beforeA.wire_seq_late).toBe(0n);
      // ...for the engine's marker timeout (200 ms); hostB got hostA's marker as usual.
      expect(report.settleMs).toBeGreaterThan(150);
      expect(b1.swap_markers_rx - beforeB.swap_markers_rx).toBe(1n);
      expect(a.auditFrames().ok).toBe(true);
      expect(await fabric.exec(['nft', 'list table bridge lose_markers'])).toMatch(/counter packets 1 /);
    } finally {
      await fabric.exec(['nft', 'delete table bridge lose_markers']);
    }
  });

  it('refuses a swap to a wire id in use or onto another underlay, and a second swap at once, leaving the wire untouched', async () => {
    const current = wireA.wireId;
    const [pa] = paths(current);
    expect(() => wireA.prepareSwap(pa)).toThrow(/wire id \d+ is already in use/);
    const nic0 = a.ports().find((p) => p.ifname === 'nic0')!;
    expect(() => wireA.prepareSwap({ ...paths(500)[0], underlay: nic0 })).toThrow(/not an underlay port/);
    wireA.prepareSwap(paths(501)[0]);
    expect(() => wireA.prepareSwap(paths(502)[0])).toThrow(/already being swapped/);
    wireA.finishSwap(); // abandons 501
    expect(wireA.swapInfo()).toMatchObject({ phase: 'none', txWireId: current });
    expect(() => wireA.cutover()).toThrow(/no prepared path/);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });

  it('abandons a swap whose new path never carries a keepalive, and the old wire keeps working', async () => {
    const current = wireA.wireId;
    const [pa, pb] = paths(600);
    // hostB's end points the new path at an address nobody has: hostA never hears it.
    const deaf = { ...pb, remoteIp: '10.255.255.254' };
    const err = await runHotSwap(localSwapEnd('hostA', wireA, pa), localSwapEnd('hostB', wireB, deaf), { verifyMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HotSwapError);
    expect((err as HotSwapError).step).toBe('verify');
    expect(wireA.swapInfo()).toMatchObject({ phase: 'none', txWireId: current });
    expect(wireB.swapInfo()).toMatchObject({ phase: 'none', txWireId: current });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });

  it('accounts for every frame on both engines', () => {
    expect(a.auditFrames().ok).toBe(true);
    expect(b.auditFrames().ok).toBe(true);
  });
});
