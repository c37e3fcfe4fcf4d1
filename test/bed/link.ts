// Network interfaces inside bed namespaces: veth pairs, moving a link between
// namespaces, and reading its state and counters.
//
// Everything goes through `ip -j` inside the owning namespace. Counters come
// from `ip -s -j link` rather than /sys/class/net: nsenter --net does not
// remount /sys, so /sys/class/net would show the caller's namespace.

import { CommandError, BedTimeoutError, ClosedError } from './errors.js';
import { checkIfName } from './names.js';
import type { Netns } from './netns.js';

export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  rxErrors: number;
  rxDropped: number;
  rxMulticast: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  /** On a veth: frames sent while the peer was down or gone (e.g. during a simulated migration). */
  txDropped: number;
  txCarrierErrors: number;
}

export interface LinkInfo {
  name: string;
  ifindex: number;
  mac: string;
  mtu: number;
  /** Kernel operstate: UP, DOWN, LOWERLAYERDOWN, UNKNOWN, ... */
  operstate: string;
  flags: string[];
  /** Bridge the link is a port of, if any. */
  master: string | undefined;
  /** Addresses as CIDR strings, IPv4 and IPv6 (including link-local). */
  addresses: string[];
}

interface IpLinkJson {
  ifname: string;
  ifindex: number;
  address: string;
  mtu: number;
  operstate: string;
  flags: string[];
  master?: string;
  addr_info?: { local: string; prefixlen: number }[];
  stats64?: {
    rx: { bytes: number; packets: number; errors: number; dropped: number; multicast: number };
    tx: { bytes: number; packets: number; errors: number; dropped: number; carrier_errors: number };
  };
}

/**
 * A handle to one interface. The namespace can change (moveTo), the name and
 * MAC stay: that is exactly what a migrating VM NIC looks like.
 */
export class Link {
  #ns: Netns;
  #mac: string;
  #closed = false;

  constructor(
    readonly name: string,
    ns: Netns,
    mac: string,
  ) {
    checkIfName(name);
    this.#ns = ns;
    this.#mac = mac;
  }

  /** Wraps an interface that already exists in ns, reading its MAC. */
  static async open(name: string, ns: Netns): Promise<Link> {
    const link = new Link(name, ns, '');
    await link.refresh();
    return link;
  }

  /** The namespace the link currently lives in. */
  get ns(): Netns {
    return this.#ns;
  }

  get mac(): string {
    return this.#mac;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #ip(...args: string[]): Promise<string> {
    if (this.#closed) return Promise.reject(new ClosedError(this.toString()));
    return this.#ns.exec(['ip', ...args]);
  }

  async up(): Promise<void> {
    await this.#ip('link', 'set', 'dev', this.name, 'up');
  }

  async down(): Promise<void> {
    await this.#ip('link', 'set', 'dev', this.name, 'down');
  }

  async setMtu(mtu: number): Promise<void> {
    await this.#ip('link', 'set', 'dev', this.name, 'mtu', String(mtu));
  }

  async setMac(mac: string): Promise<void> {
    await this.#ip('link', 'set', 'dev', this.name, 'address', mac);
    this.#mac = mac.toLowerCase();
  }

  /** Adds an address in CIDR form, e.g. `10.0.0.1/24`. */
  async addAddress(cidr: string): Promise<void> {
    await this.#ip('addr', 'add', cidr, 'dev', this.name);
  }

  async delAddress(cidr: string): Promise<void> {
    await this.#ip('addr', 'del', cidr, 'dev', this.name);
  }

  async flushAddresses(): Promise<void> {
    await this.#ip('addr', 'flush', 'dev', this.name);
  }

  /** `ethtool -K IF FEATURE on|off`, e.g. feature `gro`, `tx` (checksum), `tso`. */
  async setFeature(feature: string, on: boolean): Promise<void> {
    if (this.#closed) throw new ClosedError(this.toString());
    await this.#ns.exec(['ethtool', '-K', this.name, feature, on ? 'on' : 'off']);
  }

  async setGro(on: boolean): Promise<void> {
    await this.setFeature('gro', on);
  }

  /** Current offload state as `ethtool -k` reports it (feature name -> on). */
  async features(): Promise<Record<string, boolean>> {
    if (this.#closed) throw new ClosedError(this.toString());
    const out = await this.#ns.exec(['ethtool', '-k', this.name]);
    const result: Record<string, boolean> = {};
    for (const m of out.matchAll(/^\s*([\w-]+): (on|off)/gm)) if (m[1] && m[2]) result[m[1]] = m[2] === 'on';
    return result;
  }

  async #json(stats: boolean): Promise<IpLinkJson> {
    const out = await this.#ip('-j', ...(stats ? ['-s'] : []), 'addr', 'show', 'dev', this.name);
    const parsed = JSON.parse(out) as IpLinkJson[];
    const first = parsed[0];
    if (!first) throw new Error(`${this.toString()}: ip -j addr show returned nothing`);
    return first;
  }

  async info(): Promise<LinkInfo> {
    const j = await this.#json(false);
    return {
      name: j.ifname,
      ifindex: j.ifindex,
      mac: j.address,
      mtu: j.mtu,
      operstate: j.operstate,
      flags: j.flags,
      master: j.master,
      addresses: (j.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
    };
  }

  /** Re-reads the link state and updates the cached MAC (after something outside changed it). */
  async refresh(): Promise<LinkInfo> {
    const info = await this.info();
    this.#mac = info.mac;
    return info;
  }

  async stats(): Promise<LinkStats> {
    const s = (await this.#json(true)).stats64;
    if (!s) throw new Error(`${this.toString()}: no stats64 in ip -s -j output`);
    return {
      rxPackets: s.rx.packets,
      rxBytes: s.rx.bytes,
      rxErrors: s.rx.errors,
      rxDropped: s.rx.dropped,
      rxMulticast: s.rx.multicast,
      txPackets: s.tx.packets,
      txBytes: s.tx.bytes,
      txErrors: s.tx.errors,
      txDropped: s.tx.dropped,
      txCarrierErrors: s.tx.carrier_errors,
    };
  }

  /** Whether the interface exists in its current namespace. */
  async exists(): Promise<boolean> {
    if (this.#closed || !this.#ns.exists()) return false;
    try {
      await this.#ns.exec(['ip', 'link', 'show', 'dev', this.name]);
      return true;
    } catch (err) {
      if (err instanceof CommandError && err.isGone) return false;
      throw err;
    }
  }

  /**
   * Moves the link to another namespace. The kernel keeps name, MAC, MTU and
   * offloads but drops addresses and leaves the link down, so callers bring
   * it up again (Vm.move does).
   */
  async moveTo(target: Netns): Promise<void> {
    if (target === this.#ns) return;
    await this.#ip('link', 'set', 'dev', this.name, 'netns', target.name);
    this.#ns = target;
  }

  /** Polls operstate until it equals `state` (veth: UP once both ends are up). */
  async waitOperState(state: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      last = (await this.info()).operstate;
      if (last === state) return;
      if (Date.now() >= deadline) {
        throw new BedTimeoutError(`operstate ${state}`, timeoutMs, { link: this.name, netns: this.#ns.name, last });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Deletes the interface (for a veth, both ends). Idempotent; a link whose
   * namespace or peer already took it away is not an error.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ns.exists() || this.#ns.closed) return;
    try {
      await this.#ns.exec(['ip', 'link', 'del', 'dev', this.name]);
    } catch (err) {
      if (!(err instanceof CommandError && err.isGone)) throw err;
    }
  }

  toString(): string {
    return `link ${this.name} (netns ${this.#ns.name})`;
  }
}

/** One end of a veth pair to create. */
export interface VethEnd {
  ns: Netns;
  name: string;
  /** Default: kernel-chosen random MAC. */
  mac?: string;
  /** Default 1500. */
  mtu?: number;
  /** CIDR addresses to add. */
  addresses?: readonly string[];
  /** Bring the end up. Default true. */
  up?: boolean;
  /** `ethtool -K gro`; default: leave the kernel default (off on veth). */
  gro?: boolean;
  /**
   * `ethtool -K tx` (checksum offload); default: kernel default (on). Turn it
   * off on ends whose peer an AF_XDP socket binds: frames then carry complete
   * checksums, as on a real wire, instead of CHECKSUM_PARTIAL that AF_XDP
   * cannot represent. Off also disables TSO, so frames stay MTU-sized.
   */
  txChecksum?: boolean;
  /** Any other `ethtool -K` features, applied after gro/txChecksum. */
  features?: Readonly<Record<string, boolean>>;
  /**
   * Explicit ifindex. TestBed.createVeth hands out indexes unique within the
   * bed, because the kernel treats a carrier change on a veth whose ifindex
   * equals its peer's (easy: both are often 2 in fresh namespaces) as a
   * non-urgent linkwatch event, batched up to 1 s. Until linkwatch runs, a
   * bridge port does not forward and operstate lags, so the first ping over a
   * new fabric or a just-moved tap could stall for a second. Unique indexes
   * also keep an index across a move (the target never has it taken).
   */
  ifindex?: number;
}

/** Both ends of a veth. Closing either end removes the pair. */
export class VethPair {
  constructor(
    readonly a: Link,
    readonly b: Link,
  ) {}

  async close(): Promise<void> {
    await this.a.close();
    await this.b.close();
  }

  toString(): string {
    return `veth ${this.a.name}@${this.a.ns.name} <-> ${this.b.name}@${this.b.ns.name}`;
  }
}

/**
 * Creates a veth pair with each end directly in its namespace. Creating in
 * place (rather than in the caller's namespace and then moving) means a name
 * like `eth0` never clashes with the machine's own interfaces. On a failure
 * after creation the pair is deleted again.
 */
export async function createVeth(a: VethEnd, b: VethEnd): Promise<VethPair> {
  checkIfName(a.name);
  checkIfName(b.name);
  const endArgs = (e: VethEnd): string[] => [
    'name',
    e.name,
    ...(e.mac ? ['address', e.mac] : []),
    ...(e.mtu ? ['mtu', String(e.mtu)] : []),
    ...(e.ifindex ? ['index', String(e.ifindex)] : []),
    'netns',
    e.ns.name,
  ];
  // Run in a's namespace so nothing ever appears in the caller's; `netns` still pins each end.
  await a.ns.exec(['ip', 'link', 'add', ...endArgs(a), 'type', 'veth', 'peer', ...endArgs(b)]);
  const linkA = new Link(a.name, a.ns, a.mac?.toLowerCase() ?? '');
  const linkB = new Link(b.name, b.ns, b.mac?.toLowerCase() ?? '');
  const pair = new VethPair(linkA, linkB);
  try {
    for (const [end, link] of [
      [a, linkA],
      [b, linkB],
    ] as const) {
      await configure(end, link);
    }
  } catch (err) {
    await pair.close().catch(() => undefined);
    throw err;
  }
  return pair;
}

async function configure(end: VethEnd, link: Link): Promise<void> {
  if (!end.mac) await link.refresh();
  if (end.gro !== undefined) await link.setGro(end.gro);
  if (end.txChecksum !== undefined) await link.setFeature('tx', end.txChecksum);
  for (const [f, on] of Object.entries(end.features ?? {})) await link.setFeature(f, on);
  for (const cidr of end.addresses ?? []) await link.addAddress(cidr);
  if (end.up ?? true) await link.up();
}
