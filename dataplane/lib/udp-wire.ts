import type { PortCounters } from './counters.js';
import { ClosedError } from './errors.js';

/** What the engine needs from its side to serve a UdpWire. */
export interface WireOwner {
  readonly closed: boolean;
  wireCounters(wire: UdpWire): PortCounters;
  removeWire(wire: UdpWire): void;
}

export type WireState = 'connecting' | 'up' | 'down';

/** A `udp` wire as a port of the switch: frames switched to it leave its underlay port
 * encapsulated; frames for its wire id arriving on the underlay come in through it. */
export class UdpWire {
  readonly type = 'udp' as const;
  private removed = false;
  /** @internal kept by the engine; read it as `domain`. */
  currentDomain = 0;

  constructor(
    private readonly owner: WireOwner,
    /** Engine-wide port id of the wire. */
    readonly id: number,
    /** The id both ends agreed on, carried in every frame. */
    readonly wireId: number,
    /** Largest inner Ethernet frame (without FCS) the underlay carries: its MTU minus
     * IPv4, UDP and Banana headers. Larger frames are dropped and counted (drop_mtu). */
    readonly maxInnerFrame: number,
    /** A peer silent for longer than this is reported down. */
    readonly deadAfterMs: number,
    readonly remote: string,
  ) {}

  get closed(): boolean {
    return this.removed || this.owner.closed;
  }

  /** The switching domain the wire's port is in. */
  get domain(): number {
    return this.currentDomain;
  }

  /** The usable MTU for the endpoints: the inner frame minus its Ethernet header. */
  get mtu(): number {
    return this.maxInnerFrame - 14;
  }

  counters(): PortCounters {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (counters)`);
    return this.owner.wireCounters(this);
  }

  /** From the keepalives: 'connecting' until the peer was heard, 'down' once it fell silent. */
  state(): WireState {
    const last = this.counters().peer_last_rx_ns;
    if (last === 0n) return 'connecting';
    const ageMs = Number(process.hrtime.bigint() - last) / 1e6;
    return ageMs > this.deadAfterMs ? 'down' : 'up';
  }

  close(): void {
    if (this.closed) return;
    this.owner.removeWire(this);
    this.removed = true;
  }

  /** @internal */
  markRemoved(): void {
    this.removed = true;
  }

  toString(): string {
    return `udp wire ${this.wireId} to ${this.remote}`;
  }
}
