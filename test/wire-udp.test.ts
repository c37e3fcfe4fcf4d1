// The `udp` wire across hosts (DESIGN.md reference topology): vm1 behind hostB's engine uses
// hostA's nic0 through a wire over the fabric. Real engines, real encapsulation on veths.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { send } from '../bench/traffic/traffic.js';
import type { Engine, Port, UdpWire } from '../dataplane/lib/index.js';
import { connectUdpWire } from '../wires/udp/connect.js';
import { newEngine, waitFor } from './support/engine.js';
import { captureFabricUdp, iperfVm1ToExt } from './support/reference-traffic.js';

const WIRE_PORT = 7471;

describe('udp wire between hostB (Spike vm1) and hostA (Corm nic0)', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let a: Engine;
  let b: Engine;
  let underlayA: Port;
  let wireA: UdpWire;
  let wireB: UdpWire;
  afterAll(() => {
    a?.close();
    b?.close();
  });

  beforeAll(async () => {
    // 3000: native XDP on veth refuses an MTU of 3520 or more; still room for 1500-byte VM frames.
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false });
    a = newEngine();
    b = newEngine();
    a.addPort({ ifname: 'nic0', netns: topo.hostA.ns.name });
    underlayA = a.addPort({ ifname: topo.hostA.underlay.name, netns: topo.hostA.ns.name, underlay: { udpPort: WIRE_PORT } });
    b.addPort({ ifname: topo.vm1.tap.name, netns: topo.hostB.ns.name });
    const underlayB = b.addPort({ ifname: topo.hostB.underlay.name, netns: topo.hostB.ns.name, underlay: { udpPort: WIRE_PORT } });
    [wireA, wireB] = await connectUdpWire({ engine: a, underlay: underlayA }, { engine: b, underlay: underlayB }, { wireId: 1 });
    a.start();
    b.start();
  });

  it('comes up on keepalives and reports its usable MTU', async () => {
    await waitFor('wire up on both ends', () => wireA.state() === 'up' && wireB.state() === 'up', 3000);
    expect(wireA.mtu).toBe(3000 - 44 - 14);
    // Up may come from a data frame first (ext's own chatter, flooded); keepalives follow
    // whenever the wire is idle for a period.
    await waitFor('keepalives from the peer', () => wireB.counters().keepalive_rx > 0n && wireA.counters().keepalive_rx > 0n, 2000);
  });

  it('carries ping from vm1 to the outside server, leaving nic0 with vm1 own MAC', async () => {
    const out = await topo.vm1.ns.exec(['ping', '-c', '5', '-i', '0.2', topo.ext.ip]);
    expect(out).toMatch(/5 received/);
    const neigh = JSON.parse(await topo.ext.ns.exec(['ip', '-j', 'neigh', 'show', topo.deviceNet.vm1])) as { lladdr?: string }[];
    expect(neigh[0]?.lladdr).toBe(topo.vm1.mac);
    expect(wireB.counters().tx_packets).toBeGreaterThanOrEqual(5n);
    expect(wireA.counters().rx_packets).toBeGreaterThanOrEqual(5n);
  });

  it('carries TCP iperf3 both ways', async () => {
    expect(await iperfVm1ToExt(topo, false)).toBeGreaterThan(1_000_000);
    expect(await iperfVm1ToExt(topo, true)).toBeGreaterThan(1_000_000);
    expect(wireA.counters().wire_seq_gaps).toBe(0n);
    expect(wireB.counters().wire_seq_gaps).toBe(0n);
  });

  it('puts the documented header on the fabric', async () => {
    const frames = await captureFabricUdp(topo, WIRE_PORT, () => topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.1', topo.ext.ip]));
    expect(frames.length).toBeGreaterThan(3);
    const data = frames.filter((f) => f[43] === 1);
    for (const f of frames) {
      expect(f.readUInt16BE(36)).toBe(WIRE_PORT); // UDP destination port
      expect(f[20]! & 0x40).toBe(0x40); // don't fragment
      expect(f[42]).toBe(1); // Banana version
      expect([1, 2]).toContain(f[43]); // data or keepalive
      expect(f.readUInt32BE(46)).toBe(1); // wire id
    }
    // A data frame carries vm1's frame whole: its source MAC right after our header.
    const fromVm1 = data.filter((f) => f.subarray(58 + 6, 58 + 12).toString('hex') === topo.vm1.mac.replaceAll(':', ''));
    expect(fromVm1.length).toBeGreaterThan(0);
    const seqs = fromVm1.map((f) => f.readBigUInt64BE(50));
    expect([...seqs].sort((x, y) => (x < y ? -1 : 1))).toEqual(seqs);
  });

  it('drops and counts malformed, wrong-version, unknown-wire and wrong-peer packets, and keeps working', async () => {
    const before = underlayA.counters();
    const hdr = (version: number, wireId: number) => {
      const h = Buffer.alloc(16 + 64);
      h[0] = version;
      h[1] = 1;
      h.writeUInt32BE(wireId, 4);
      return h.toString('hex');
    };
    const sendFrom = (host: typeof topo.hostB, hex: string) =>
      host.ns.exec(['python3', '-c',
        `import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(bytes.fromhex(sys.argv[1]),('${topo.hostA.underlayIp}',${WIRE_PORT}))`, hex]);
    await sendFrom(topo.hostB, 'deadbeef'); // truncated
    await sendFrom(topo.hostB, hdr(9, 1)); // wrong version
    await sendFrom(topo.hostB, hdr(1, 999)); // unknown wire id
    await sendFrom(topo.hostC, hdr(1, 1)); // right wire, wrong peer
    await waitFor('drops counted', () => {
      const c = underlayA.counters();
      return c.drop_wire_peer - before.drop_wire_peer >= 1n;
    });
    const after = underlayA.counters();
    expect(after.drop_malformed - before.drop_malformed).toBe(1n);
    expect(after.drop_bad_version - before.drop_bad_version).toBe(1n);
    expect(after.drop_unknown_wire - before.drop_unknown_wire).toBe(1n);
    expect(after.drop_wire_peer - before.drop_wire_peer).toBe(1n);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
  });

  it('drops and counts frames too large for a wire', async () => {
    // A second wire from hostB with a small MTU: broadcasts flood into it and do not fit.
    const underlayB = b.ports().find((p) => p.underlayUdpPort !== undefined)!;
    const narrow = b.addUdpWire({
      wireId: 2, underlay: underlayB, localMac: topo.hostB.underlay.mac, nextHopMac: topo.hostA.underlay.mac,
      localIp: topo.hostB.underlayIp, remoteIp: topo.hostA.underlayIp, underlayMtu: 576,
    });
    expect(narrow.maxInnerFrame).toBe(576 - 44);
    await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: 'ff:ff:ff:ff:ff:ff', flow: 2, count: 10, size: 1000 });
    await waitFor('mtu drops', () => narrow.counters().drop_mtu >= 10n);
    expect(narrow.counters().tx_packets).toBe(0n);
    narrow.close();
  });

  it("measures the wire's own round trip with echoes the peer engine turns around, never switched to a VM", async () => {
    const vmTapB = b.ports().find((p) => p.underlayUdpPort === undefined)!;
    const tapBefore = vmTapB.counters().tx_packets;
    const small = await wireB.measureRtt({ count: 300, bytes: 64 });
    expect(small.lost).toBe(0);
    expect(small.rttNs).toHaveLength(300);
    for (const ns of small.rttNs) expect(ns).toBeGreaterThan(0);
    // Largest frame the wire carries; one byte more is refused with both sizes named.
    const big = await wireA.measureRtt({ count: 100, bytes: wireA.maxInnerFrame });
    expect(big.rttNs).toHaveLength(100);
    await expect(wireA.measureRtt({ count: 1, bytes: wireA.maxInnerFrame + 1 })).rejects.toThrow(
      new RegExp(`probe of ${wireA.maxInnerFrame + 1} bytes > wire 1's largest frame \\(${wireA.maxInnerFrame} bytes\\)`),
    );
    await expect(wireA.measureRtt({ count: 0 })).rejects.toThrow(/probe count 0/);
    // A second run starts from nothing: the first run's samples are gone.
    const again = await wireB.measureRtt({ count: 10 });
    expect(again.rttNs).toHaveLength(10);
    // One run per wire at a time.
    const running = wireB.measureRtt({ count: 200 });
    await expect(wireB.measureRtt({ count: 1 })).rejects.toThrow(/already running/);
    expect((await running).rttNs).toHaveLength(200);
    // An underlay MTU above the frame size: probes are bounded by what fits a frame, not the MTU.
    const underlayB = b.ports().find((p) => p.underlayUdpPort !== undefined)!;
    const wide = b.addUdpWire({
      wireId: 3, underlay: underlayB, localMac: topo.hostB.underlay.mac, nextHopMac: topo.hostA.underlay.mac,
      localIp: topo.hostB.underlayIp, remoteIp: topo.hostA.underlayIp, underlayMtu: 9000,
    });
    await expect(wide.measureRtt({ count: 1, bytes: 5000 })).rejects.toThrow(/probe of 5000 bytes > wire 3's largest frame \(3782 bytes\)/);
    wide.close();
    // No echo reached vm1's tap (ARP or other chatter may: a few frames at most, not 400).
    expect(vmTapB.counters().tx_packets - tapBefore).toBeLessThan(50n);
  });

  it('accounts for every frame on both engines', () => {
    expect(a.auditFrames().ok).toBe(true);
    expect(b.auditFrames().ok).toBe(true);
  });
});
