// Ready-made topologies shared by tests, bench and demo.
//
// Addresses and MACs are fixed, not random: every topology lives in its own
// namespaces, so fixed values cannot collide across runs, and they make
// captures and failure messages readable. MACs are locally administered
// (02:...) with a byte that says what the interface is.

import type { Bridge } from './bridge.js';
import type { Link } from './link.js';
import type { Netns } from './netns.js';
import type { TestBed } from './testbed.js';
import { createVm, type Vm, type VmDescription } from './vm.js';

// ---------------------------------------------------------------------------
// (1) One host, two or three VMs: the switch binds the taps and switches locally.

export interface TwoVmHostSettings {
  /** Add vm3. Default false. */
  vm3?: boolean;
  /** Short name of the host namespace. Default `host`. */
  hostName?: string;
  /** Passed to every VM (see VmSettings). */
  ipv6?: boolean;
  gro?: boolean;
}

export interface TwoVmHost {
  host: Netns;
  vm1: Vm;
  vm2: Vm;
  vm3: Vm | undefined;
  /** vm1, vm2 (, vm3). */
  vms: Vm[];
  subnet: string;
}

export const TWO_VM_SUBNET = '10.0.0.0/24';

/** vmN: 10.0.0.N/24, eth0 02:ba:00:00:0N:01, tap-vmN 02:ba:00:00:0N:fe. */
export async function twoVmHost(bed: TestBed, s: TwoVmHostSettings = {}): Promise<TwoVmHost> {
  const host = await bed.createNetns(s.hostName ?? 'host');
  const vms: Vm[] = [];
  for (let i = 1; i <= (s.vm3 ? 3 : 2); i++) {
    vms.push(
      await createVm(bed, {
        name: `vm${i}`,
        host,
        mac: `02:ba:00:00:0${i}:01`,
        tapMac: `02:ba:00:00:0${i}:fe`,
        cidr: `10.0.0.${i}/24`,
        ...(s.ipv6 === undefined ? {} : { ipv6: s.ipv6 }),
        ...(s.gro === undefined ? {} : { gro: s.gro }),
      }),
    );
  }
  const [vm1, vm2, vm3] = vms;
  if (!vm1 || !vm2) throw new Error('unreachable: two VMs were created');
  return { host, vm1, vm2, vm3, vms, subnet: TWO_VM_SUBNET };
}

// ---------------------------------------------------------------------------
// (2) The DESIGN.md reference topology.
//
//   ext  eth0 10.50.0.1/24 ---- nic0 (hostA; bound by Corm A)
//   hostA uA 10.99.0.1/24 -+
//   hostB uB 10.99.0.2/24 -+-- fabric: br0 (ports uA-br, uB-br, uC-br)
//   hostC uC 10.99.0.3/24 -+
//   vm1  eth0 10.50.0.11/24 ---- tap-vm1 (hostB; bound by Spike vm1)
//
// vm1 sits on the device network (ext's subnet): its frames leave nic0 as if
// the VM were plugged in on host A.

export const DEVICE_NET = {
  cidr: '10.50.0.0/24',
  prefixLen: 24,
  ext: '10.50.0.1',
  /** Reserved for host A's own stack on nic0; assigned only with `nic0Ip: true`. */
  hostA: '10.50.0.2',
  vm1: '10.50.0.11',
} as const;

export const UNDERLAY_NET = {
  cidr: '10.99.0.0/24',
  prefixLen: 24,
  hostA: '10.99.0.1',
  hostB: '10.99.0.2',
  hostC: '10.99.0.3',
} as const;

export const REFERENCE_MACS = {
  extEth0: '02:ba:0e:00:00:01',
  nic0: '02:ba:0a:00:00:01',
  vm1: '02:ba:00:00:01:01',
  tapVm1: '02:ba:00:00:01:fe',
  underlay: { hostA: '02:ba:0a:99:00:01', hostB: '02:ba:0b:99:00:01', hostC: '02:ba:0c:99:00:01' },
  fabricPort: { hostA: '02:ba:fa:99:00:01', hostB: '02:ba:fa:99:00:02', hostC: '02:ba:fa:99:00:03' },
  bridge: '02:ba:fa:00:00:01',
} as const;

export type HostName = 'hostA' | 'hostB' | 'hostC';

export interface ReferenceSettings {
  /**
   * MTU of the underlay (host ends, fabric ports, bridge). Default 9000: a
   * udp or tunnel wire adds its headers to a full 1500-byte VM frame, and
   * cluster fabrics run jumbo frames for exactly that reason.
   */
  underlayMtu?: number;
  /** Give nic0 DEVICE_NET.hostA, for plain-Linux checks before a Corm binds it. Default false. */
  nic0Ip?: boolean;
  /** Host whose namespace gets tap-vm1. Default hostB. */
  vm1Host?: HostName;
  /** Passed to vm1 (see VmSettings). */
  ipv6?: boolean;
}

export interface HostNode {
  name: HostName;
  ns: Netns;
  /** uA / uB / uC: the host's port on the fabric. */
  underlay: Link;
  underlayIp: string;
  underlayCidr: string;
}

export interface ReferenceTopology {
  ext: { ns: Netns; eth0: Link; ip: string; cidr: string };
  hostA: HostNode & { nic0: Link };
  hostB: HostNode;
  hostC: HostNode;
  hosts: [HostNode, HostNode, HostNode];
  fabric: { ns: Netns; bridge: Bridge; ports: Record<HostName, Link> };
  vm1: Vm;
  deviceNet: typeof DEVICE_NET;
  underlayNet: typeof UNDERLAY_NET & { mtu: number };
}

export async function referenceTopology(bed: TestBed, s: ReferenceSettings = {}): Promise<ReferenceTopology> {
  const mtu = s.underlayMtu ?? 9000;
  const extNs = await bed.createNetns('ext');
  const nsOf: Record<HostName, Netns> = {
    hostA: await bed.createNetns('hostA'),
    hostB: await bed.createNetns('hostB'),
    hostC: await bed.createNetns('hostC'),
  };
  const fabricNs = await bed.createNetns('fabric');
  const bridge = await bed.createBridge(fabricNs, 'br0', { mac: REFERENCE_MACS.bridge, mtu });

  // Every veth end below sends with full checksums (txChecksum: false): any of
  // their peers may be an AF_XDP socket, which cannot finish a partial one.
  const device = await bed.createVeth(
    { ns: extNs, name: 'eth0', mac: REFERENCE_MACS.extEth0, addresses: [`${DEVICE_NET.ext}/${DEVICE_NET.prefixLen}`], txChecksum: false },
    {
      ns: nsOf.hostA,
      name: 'nic0',
      mac: REFERENCE_MACS.nic0,
      addresses: s.nic0Ip ? [`${DEVICE_NET.hostA}/${DEVICE_NET.prefixLen}`] : [],
      txChecksum: false,
    },
  );

  const hosts: HostNode[] = [];
  const ports: Partial<Record<HostName, Link>> = {};
  for (const name of ['hostA', 'hostB', 'hostC'] as const) {
    const letter = name.slice(-1);
    const ip = UNDERLAY_NET[name];
    const cidr = `${ip}/${UNDERLAY_NET.prefixLen}`;
    const pair = await bed.createVeth(
      { ns: nsOf[name], name: `u${letter}`, mac: REFERENCE_MACS.underlay[name], mtu, addresses: [cidr], txChecksum: false },
      { ns: fabricNs, name: `u${letter}-br`, mac: REFERENCE_MACS.fabricPort[name], mtu, txChecksum: false, up: false },
    );
    await bridge.addPort(pair.b);
    ports[name] = pair.b;
    hosts.push({ name, ns: nsOf[name], underlay: pair.a, underlayIp: ip, underlayCidr: cidr });
  }
  const [hostA, hostB, hostC] = hosts;
  if (!hostA || !hostB || !hostC || !ports.hostA || !ports.hostB || !ports.hostC) throw new Error('unreachable');

  // Ready means forwarding: bridge ports only forward once linkwatch saw their carrier.
  for (const l of [device.a, device.b, ...hosts.map((h) => h.underlay), ports.hostA, ports.hostB, ports.hostC]) {
    await l.waitOperState('UP');
  }

  const vm1 = await createVm(bed, {
    name: 'vm1',
    host: nsOf[s.vm1Host ?? 'hostB'],
    mac: REFERENCE_MACS.vm1,
    tapMac: REFERENCE_MACS.tapVm1,
    cidr: `${DEVICE_NET.vm1}/${DEVICE_NET.prefixLen}`,
    ...(s.ipv6 === undefined ? {} : { ipv6: s.ipv6 }),
  });

  // Same object in `hostA` and `hosts[0]`, so either view sees the same handles.
  const hostAWithNic = Object.assign(hostA, { nic0: device.b });
  return {
    ext: { ns: extNs, eth0: device.a, ip: DEVICE_NET.ext, cidr: `${DEVICE_NET.ext}/${DEVICE_NET.prefixLen}` },
    hostA: hostAWithNic,
    hostB,
    hostC,
    hosts: [hostAWithNic, hostB, hostC],
    fabric: { ns: fabricNs, bridge, ports: { hostA: ports.hostA, hostB: ports.hostB, hostC: ports.hostC } },
    vm1,
    deviceNet: DEVICE_NET,
    underlayNet: { ...UNDERLAY_NET, mtu },
  };
}

/** Link as plain data. */
export interface LinkDescription {
  netns: string;
  ifname: string;
  mac: string;
}

/** The reference topology as plain JSON, e.g. to hand to a bench child process or print in a report. */
export interface ReferenceDescription {
  ext: LinkDescription & { ip: string; cidr: string };
  hosts: Record<HostName, { netns: string; underlay: LinkDescription & { ip: string; cidr: string } }>;
  nic0: LinkDescription;
  fabric: { netns: string; bridge: string; ports: Record<HostName, LinkDescription> };
  vm1: VmDescription;
  deviceNet: { cidr: string; prefixLen: number };
  underlayNet: { cidr: string; prefixLen: number; mtu: number };
}

function linkDesc(l: Link): LinkDescription {
  return { netns: l.ns.name, ifname: l.name, mac: l.mac };
}

export function describeReference(t: ReferenceTopology): ReferenceDescription {
  const host = (h: HostNode): ReferenceDescription['hosts'][HostName] => ({
    netns: h.ns.name,
    underlay: { ...linkDesc(h.underlay), ip: h.underlayIp, cidr: h.underlayCidr },
  });
  return {
    ext: { ...linkDesc(t.ext.eth0), ip: t.ext.ip, cidr: t.ext.cidr },
    hosts: { hostA: host(t.hostA), hostB: host(t.hostB), hostC: host(t.hostC) },
    nic0: linkDesc(t.hostA.nic0),
    fabric: {
      netns: t.fabric.ns.name,
      bridge: t.fabric.bridge.name,
      ports: { hostA: linkDesc(t.fabric.ports.hostA), hostB: linkDesc(t.fabric.ports.hostB), hostC: linkDesc(t.fabric.ports.hostC) },
    },
    vm1: t.vm1.describe(),
    deviceNet: { cidr: t.deviceNet.cidr, prefixLen: t.deviceNet.prefixLen },
    underlayNet: { cidr: t.underlayNet.cidr, prefixLen: t.underlayNet.prefixLen, mtu: t.underlayNet.mtu },
  };
}
