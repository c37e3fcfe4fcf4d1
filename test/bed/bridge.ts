// A Linux bridge: the cluster fabric, or a throw-away L2 join in a test.

import { CommandError } from './errors.js';
import { Link } from './link.js';
import type { Netns } from './netns.js';

export interface BridgeSettings {
  /** Default: kernel-chosen. */
  mac?: string;
  /** Default: the kernel's (follows the smallest port MTU). */
  mtu?: number;
  /** Bring the bridge up. Default true. */
  up?: boolean;
}

export class Bridge extends Link {
  /**
   * Creates a bridge that behaves like a dumb switch: STP off and no forward
   * delay, so a port forwards as soon as it is up (tests would otherwise wait
   * 15 s or more); multicast snooping off, so IPv6 neighbour discovery and
   * other multicast is always flooded, like on a plain unmanaged fabric.
   */
  static async create(ns: Netns, name: string, settings: BridgeSettings = {}): Promise<Bridge> {
    await ns.exec([
      'ip', 'link', 'add', 'name', name,
      ...(settings.mac ? ['address', settings.mac] : []),
      ...(settings.mtu ? ['mtu', String(settings.mtu)] : []),
      'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0',
    ]);
    const br = new Bridge(name, ns, settings.mac?.toLowerCase() ?? '');
    try {
      if (!settings.mac) await br.refresh();
      if (settings.up ?? true) await br.up();
    } catch (err) {
      await br.close().catch(() => undefined);
      throw err;
    }
    return br;
  }

  /** Enslaves link (which must live in the bridge's namespace) and brings it up. */
  async addPort(link: Link): Promise<void> {
    this.#sameNs(link);
    await this.ns.exec(['ip', 'link', 'set', 'dev', link.name, 'master', this.name]);
    await link.up();
  }

  /** Releases link from the bridge; a port that is already gone is not an error. */
  async removePort(link: Link): Promise<void> {
    this.#sameNs(link);
    try {
      await this.ns.exec(['ip', 'link', 'set', 'dev', link.name, 'nomaster']);
    } catch (err) {
      if (!(err instanceof CommandError && err.isGone)) throw err;
    }
  }

  /** Names of the current ports. */
  async ports(): Promise<string[]> {
    const out = await this.ns.exec(['ip', '-j', 'link', 'show', 'master', this.name]);
    return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
  }

  #sameNs(link: Link): void {
    if (link.ns !== this.ns) {
      throw new Error(`${link.toString()} is not in ${this.ns.toString()}, where bridge ${this.name} lives`);
    }
  }

  override toString(): string {
    return `bridge ${this.name} (netns ${this.ns.name})`;
  }
}
