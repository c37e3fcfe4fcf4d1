import type { PortCounters } from './counters.js';
import { ClosedError } from './errors.js';
import type { NapiTuning } from './napi-tuning.js';

export type XdpMode = 'auto' | 'native' | 'generic';
export type ZeroCopyPreference = 'auto' | 'required' | 'off';

/** A switch port on one interface (AF_XDP today, one socket per queue). */
export interface PortSettings {
  /** Interface name (at most 15 characters). */
  ifname: string;
  /** Network namespace name (under /run/netns) or path; default: the engine's own. */
  netns?: string;
  /** How many queues to bind, starting at firstQueue, or 'all'. Default 1. */
  queues?: number | 'all';
  /** First queue to bind. Default 0. */
  firstQueue?: number;
  /** XDP attach mode. 'auto' tries native, then generic, and reports which it got. Default 'auto'. */
  mode?: XdpMode;
  /** Zero-copy preference. 'required' fails where the driver cannot; default 'auto'. */
  zeroCopy?: ZeroCopyPreference;
  /** Entries in each of the four AF_XDP rings, a power of two. Default 2048. */
  ringSize?: number;
  /** Preferred busy polling: the worker runs the device's receive NAPI itself (a recvfrom()
   * per poll) instead of softirq on whichever core raised it. Default off. */
  busyPoll?: BusyPollSettings | false;
  /** Makes this the underlay of `udp` wires: only IPv4 UDP to udpPort (default 7471) is
   * taken from the interface; everything else stays with the kernel. Not a switch port. */
  underlay?: { udpPort?: number };
  /** Switching domain, 0..32767: frames switch and flood only between ports and wires of one
   * domain (a Corm with its endpoints, a Spike with its wire). Default 0. */
  domain?: number;
  /** The interface may arrive with a Banana XDP program still attached by another engine (a
   * VM's tap moved here from another host in a migration): replace it. A foreign program is
   * never touched (the port fails with EBUSY). Default false. */
  takeOverBananaXdp?: boolean;
}

export interface BusyPollSettings {
  /** Frames per busy-poll NAPI run. Default 64. */
  budget?: number;
  /** SO_BUSY_POLL microseconds. Default 20. */
  usecs?: number;
  /** NAPI knobs written for the port's life and restored at close; false leaves them.
   * Default { deferHardIrqs: 2, groFlushTimeoutNs: 200000 } (the kernel's AF_XDP guidance). */
  napi?: NapiTuning | false;
}

export interface QueueBinding {
  readonly queue: number;
  readonly worker: number;
}

/** What the engine needs from its side to serve a Port; keeps Port free of native details. */
export interface PortOwner {
  readonly closed: boolean;
  portCounters(port: Port): PortCounters;
  portCountersByWorker(port: Port): PortCounters[];
  removePort(port: Port): void;
}

export class Port {
  private removed = false;
  /** @internal kept by the engine; read it as `domain`. */
  currentDomain = 0;

  constructor(
    private readonly owner: PortOwner,
    /** Engine-wide id (slot and generation). */
    readonly id: number,
    readonly ifname: string,
    readonly netns: string,
    /** The XDP mode in use: never 'auto'. */
    readonly mode: 'native' | 'generic',
    /** Whether the sockets run in zero-copy mode. */
    readonly zeroCopy: boolean,
    readonly queues: readonly QueueBinding[],
    /** Set on an underlay port: the UDP port its wires use. */
    readonly underlayUdpPort?: number,
  ) {}

  get closed(): boolean {
    return this.removed || this.owner.closed;
  }

  /** The switching domain the port is in (Engine.setDomain moves it). */
  get domain(): number {
    return this.currentDomain;
  }

  /** Counters summed over all workers that serve this port. */
  counters(): PortCounters {
    this.check('counters');
    return this.owner.portCounters(this);
  }

  countersByWorker(): PortCounters[] {
    this.check('countersByWorker');
    return this.owner.portCountersByWorker(this);
  }

  /** Detaches the port: its sockets close, its frames return to the pools, its XDP program
   * is removed. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.owner.removePort(this);
    this.removed = true;
    this.onClose?.();
  }

  /** @internal called by the engine when it closes. */
  markRemoved(): void {
    this.removed = true;
  }

  /** @internal undo of settings applied outside the engine (NAPI tuning). */
  onClose: (() => void) | undefined;

  toString(): string {
    return `${this.netns ? `${this.netns}/` : ''}${this.ifname}`;
  }

  private check(op: string): void {
    if (this.closed) throw new ClosedError(`port ${this} is closed (${op})`, { ifname: this.ifname, netns: this.netns });
  }
}
