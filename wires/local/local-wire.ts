/** A `local` wire: Spike and Corm on one host, in one engine. No encapsulation and no copy:
 * the Spike's port joins the Corm's switching domain, so its frames go straight to the NIC
 * queue (the fastest path the host has). Closing moves the port back to its own domain. */
import type { Engine, Port, PortCounters } from '../../dataplane/lib/index.js';
import type { WireEnd, WireState } from '../wire.js';

export interface LocalWireSettings {
  wireId: number;
  engine: Engine;
  /** The Spike's port (the VM's backend). */
  spikePort: Port;
  /** The Spike's own domain, where its port returns when the wire closes. */
  spikeDomain: number;
  /** The Corm's domain: its NIC port and its endpoints. */
  cormDomain: number;
  /** The smaller of the two interfaces' MTUs. */
  mtu: number;
}

export class LocalWire implements WireEnd {
  readonly type = 'local' as const;
  readonly wireId: number;
  readonly mtu: number;
  private open = true;

  constructor(private readonly s: LocalWireSettings) {
    this.wireId = s.wireId;
    this.mtu = s.mtu;
    s.engine.setDomain(s.spikePort, s.cormDomain);
  }

  get closed(): boolean {
    return !this.open || this.s.spikePort.closed;
  }

  state(): WireState {
    return this.closed ? 'down' : 'up';
  }

  /** The Spike port's counters: what the wire carried in each direction. */
  counters(): PortCounters {
    return this.s.spikePort.counters();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    if (!this.s.spikePort.closed) this.s.engine.setDomain(this.s.spikePort, this.s.spikeDomain);
  }

  toString(): string {
    return `local wire ${this.wireId} (${this.s.spikePort})`;
  }
}
