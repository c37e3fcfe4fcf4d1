// A simulated VM: namespace `<prefix>-<name>` with `eth0`, whose veth peer
// `tap-<name>` sits in a host namespace. The tap is what the switch (a Spike)
// binds with AF_XDP; moving it to another host is a live migration.

import { checkIfName } from './names.js';
import type { Link } from './link.js';
import type { Netns } from './netns.js';
import type { TestBed } from './testbed.js';

export interface VmSettings {
  /** Short name, e.g. `vm1`: namespace `<prefix>-vm1`, tap `tap-vm1`. */
  name: string;
  /** Host namespace that gets the tap end. */
  host: Netns;
  /** MAC of the VM's eth0. */
  mac: string;
  /** Address of eth0 in CIDR form, e.g. `10.0.0.1/24`. */
  cidr: string;
  /** Default `tap-<name>` (at most 15 characters). */
  tapName?: string;
  /** Default: kernel-chosen. */
  tapMac?: string;
  /** MTU of both ends. Default 1500. */
  mtu?: number;
  /** GRO on eth0 and the tap. Default: kernel default (off). */
  gro?: boolean;
  /**
   * Checksum offload on the VM's eth0. Default false: the tap's reader is an
   * AF_XDP socket, which gets no checksum metadata, so the VM must send
   * complete checksums (and MTU-sized frames: no TSO without tx checksum).
   */
  txChecksum?: boolean;
  /**
   * IPv6 in the VM. Default true, like a real guest, which means eth0 sends
   * router solicitations, MLD reports and DAD probes on its own; tests that
   * count exact frames on the tap can turn it off.
   */
  ipv6?: boolean;
}

/**
 * Sysctls that make eth0 behave like a virtio NIC across a migration. Moving
 * the tap drops carrier on eth0 for a moment; by default Linux then flushes
 * the neighbour cache and the next ARP retry costs about a second, which a
 * real VM (whose NIC never loses carrier) does not pay. The `all`/`default`
 * keys are set before eth0 exists, eth0's own keys right after.
 */
const NS_SYSCTLS = {
  'net.ipv4.conf.all.arp_evict_nocarrier': 0,
  'net.ipv4.conf.default.arp_evict_nocarrier': 0,
  'net.ipv6.conf.all.ndisc_evict_nocarrier': 0,
  'net.ipv6.conf.default.ndisc_evict_nocarrier': 0,
} as const;

export interface VmDescription {
  name: string;
  netns: string;
  ifname: string;
  mac: string;
  ip: string;
  prefixLen: number;
  cidr: string;
  tap: string;
  tapMac: string;
  /** Namespace the tap is in now. */
  hostNetns: string;
}

export class Vm {
  readonly ip: string;
  readonly prefixLen: number;

  constructor(
    readonly name: string,
    /** The VM's own namespace. */
    readonly ns: Netns,
    /** The VM's NIC, inside ns. */
    readonly eth0: Link,
    /** Host end of the vNIC; its namespace changes on move(). */
    readonly tap: Link,
    readonly cidr: string,
  ) {
    const [ip, len] = cidr.split('/');
    this.ip = ip ?? cidr;
    this.prefixLen = Number(len ?? 32);
  }

  get mac(): string {
    return this.eth0.mac;
  }

  /** Namespace currently holding the tap. */
  get host(): Netns {
    return this.tap.ns;
  }

  /**
   * Simulated live migration: moves the tap to toHost and brings it up. The
   * VM keeps eth0, MAC and IP. Returns once the tap is up on the new host;
   * whoever measures downtime should pause the VM's senders around this call.
   */
  async move(toHost: Netns): Promise<void> {
    if (toHost === this.tap.ns) return;
    await this.tap.moveTo(toHost);
    await this.tap.up();
  }

  describe(): VmDescription {
    return {
      name: this.name,
      netns: this.ns.name,
      ifname: this.eth0.name,
      mac: this.eth0.mac,
      ip: this.ip,
      prefixLen: this.prefixLen,
      cidr: this.cidr,
      tap: this.tap.name,
      tapMac: this.tap.mac,
      hostNetns: this.tap.ns.name,
    };
  }

  /** Deletes the vNIC and the VM namespace (the bed would too; this is for early removal). */
  async close(): Promise<void> {
    await this.tap.close();
    await this.ns.close();
  }

  toString(): string {
    return `vm ${this.name} (${this.cidr}, ${this.mac}, tap ${this.tap.name}@${this.tap.ns.name})`;
  }
}

/** Builds a VM owned by bed. */
export async function createVm(bed: TestBed, s: VmSettings): Promise<Vm> {
  const tapName = checkIfName(s.tapName ?? `tap-${s.name}`);
  const ipv6Off: Record<string, number> =
    s.ipv6 === false ? { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 } : {};
  const ns = await bed.createNetns(s.name, { sysctls: { ...NS_SYSCTLS, ...ipv6Off } });
  const pair = await bed.createVeth(
    {
      ns,
      name: 'eth0',
      mac: s.mac,
      mtu: s.mtu ?? 1500,
      txChecksum: s.txChecksum ?? false,
      ...(s.gro === undefined ? {} : { gro: s.gro }),
      up: false,
    },
    {
      ns: s.host,
      name: tapName,
      mtu: s.mtu ?? 1500,
      ...(s.tapMac ? { mac: s.tapMac } : {}),
      ...(s.gro === undefined ? {} : { gro: s.gro }),
    },
  );
  await ns.sysctl('net.ipv4.conf.eth0.arp_evict_nocarrier', 0);
  await ns.sysctl('net.ipv6.conf.eth0.ndisc_evict_nocarrier', 0);
  await pair.a.addAddress(s.cidr);
  await pair.a.up();
  // Ready means the VM can send: carrier and operstate are up on eth0.
  await pair.a.waitOperState('UP');
  return new Vm(s.name, ns, pair.a, pair.b, s.cidr);
}
