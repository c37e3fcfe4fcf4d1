/** Two hosts joined by an underlay veth, a "VM" on each: the topology of the wire
 * benchmarks. vmB -> tapB (hostB) ==wire== tapA (hostA) -> vmA. With `sameHost`, both taps
 * sit in hostA (the `local` wire's case): vmB -> tapB (hostA) == tapA (hostA) -> vmA. */
import { TestBed, type Netns } from '../../test/bed/index.js';

export const WIRE_BENCH = {
  vmB: { mac: '02:ba:be:0b:00:01', ip: '10.60.0.2' },
  vmA: { mac: '02:ba:be:0a:00:01', ip: '10.60.0.1' },
  underlay: { hostA: '10.98.0.1', hostB: '10.98.0.2', mtu: 3000 },
  vni: 42,
} as const;

export interface WireTopology {
  bed: TestBed;
  vmA: Netns;
  vmB: Netns;
  hostA: Netns;
  hostB: Netns;
}

export async function buildWireTopology(o: { sameHost?: boolean } = {}): Promise<WireTopology> {
  const bed = await TestBed.create();
  const hostA = await bed.createNetns('hostA');
  const hostB = await bed.createNetns('hostB');
  const vmA = await bed.createNetns('vmA');
  const vmB = await bed.createNetns('vmB');
  const u = WIRE_BENCH.underlay;
  await bed.createVeth(
    { ns: hostA, name: 'uA', mtu: u.mtu, addresses: [`${u.hostA}/24`] },
    { ns: hostB, name: 'uB', mtu: u.mtu, addresses: [`${u.hostB}/24`] },
  );
  // The VMs compute their checksums: AF_XDP carries no checksum-offload metadata, so a
  // CHECKSUM_PARTIAL frame would arrive at the far VM with a wrong UDP/TCP checksum.
  await bed.createVeth({ ns: vmA, name: 'eth0', mac: WIRE_BENCH.vmA.mac, addresses: [`${WIRE_BENCH.vmA.ip}/24`], txChecksum: false }, { ns: hostA, name: 'tapA' });
  await bed.createVeth({ ns: vmB, name: 'eth0', mac: WIRE_BENCH.vmB.mac, addresses: [`${WIRE_BENCH.vmB.ip}/24`], txChecksum: false }, { ns: o.sameHost ? hostA : hostB, name: 'tapB' });
  return { bed, vmA, vmB, hostA, hostB };
}
