/** The wire demo on the DESIGN.md reference topology: vm1's backend (hostB) reaches hostA's
 * physical NIC over a `udp` wire across the fabric; vm1 talks to a server on the outside
 * network as if it were plugged into hostA. Two engines, one per host. */
import { Engine } from '../../dataplane/lib/index.js';
import { referenceTopology, TestBed } from '../../test/bed/index.js';
import { connectUdpWire } from '../../wires/udp/connect.js';
import { CountersTable } from './counters-table.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runUdpWireDemo(log: (s: string) => void = console.log): Promise<boolean> {
  const bed = await TestBed.create();
  const idle = { policy: 'backoff', spinLoops: 2000, maxSleepUs: 200 } as const;
  const a = new Engine({ idle });
  const b = new Engine({ idle });
  try {
    log('\nBuilding the reference topology: ext, hostA (nic0), hostB (vm1), hostC, a fabric bridge...');
    const topo = await referenceTopology(bed, { underlayMtu: 3000, ipv6: false });
    const nic0 = a.addPort({ ifname: 'nic0', netns: topo.hostA.ns.name });
    const ua = a.addPort({ ifname: topo.hostA.underlay.name, netns: topo.hostA.ns.name, underlay: {} });
    const tap = b.addPort({ ifname: topo.vm1.tap.name, netns: topo.hostB.ns.name });
    const ub = b.addPort({ ifname: topo.hostB.underlay.name, netns: topo.hostB.ns.name, underlay: {} });
    const [wireA, wireB] = await connectUdpWire({ engine: a, underlay: ua }, { engine: b, underlay: ub }, { wireId: 1 });
    a.start();
    b.start();
    log(`  hostA: Corm on ${nic0} (XDP ${nic0.mode}); ${wireA} over ${ua} (usable MTU ${wireA.mtu})`);
    log(`  hostB: Spike for vm1 on ${tap} (XDP ${tap.mode}); ${wireB} over ${ub}`);
    for (let i = 0; i < 50 && (wireA.state() !== 'up' || wireB.state() !== 'up'); i++) await sleep(20);
    log(`  wire state: hostA ${wireA.state()}, hostB ${wireB.state()} (keepalives)`);

    log(`\nping vm1 (${topo.vm1.ip}, hostB) -> ext (${topo.ext.ip}, outside network behind hostA's nic0):`);
    log((await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.ext.ip])).trim().split('\n').slice(-2).join('\n'));
    const neigh = JSON.parse(await topo.ext.ns.exec(['ip', '-j', 'neigh', 'show', topo.vm1.ip])) as { lladdr?: string }[];
    log(`ext sees vm1 at ${neigh[0]?.lladdr} (vm1's own MAC ${topo.vm1.mac}): the logical topology is preserved`);

    log('\nTCP iperf3 vm1 -> ext for 4 s across the wire, live counters:');
    const table = new CountersTable([tap, nic0]);
    table.render();
    const server = topo.ext.ns.spawn(['iperf3', '-s', '-1', '-B', topo.ext.ip]);
    await sleep(300);
    const client = topo.vm1.ns.exec(['iperf3', '-c', topo.ext.ip, '-t', '4', '-J'], { timeoutMs: 30_000 });
    for (let s = 0; s < 4; s++) {
      await sleep(1000);
      const w = wireB.counters();
      log(`\n[t=${s + 1}s] wire hostB->hostA: ${w.tx_packets} frames, ${w.tx_bytes} bytes, keepalives ${w.keepalive_tx}, mtu drops ${w.drop_mtu}`);
      log(table.render());
    }
    const report = JSON.parse(await client) as { end: { sum_received: { bits_per_second: number } } };
    server.kill();
    log(`\niperf3: ${(report.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s received by ext`);
    const ca = wireA.counters();
    log(`wire at hostA: rx ${ca.rx_packets} frames, sequence gaps ${ca.wire_seq_gaps}, late ${ca.wire_seq_late}`);
    const ok = a.auditFrames().ok && b.auditFrames().ok;
    log(`Frame audit on both engines: ${ok ? 'every frame accounted for' : 'FRAMES MISSING'}`);
    return ok && ca.wire_seq_gaps === 0n;
  } finally {
    a.close();
    b.close();
    await bed.close();
    log('Cleaned up.');
  }
}
