import type { PortCounters } from './counters.js';
import type { UdpPathSettings, WirePathSettings } from './engine.js';
import { ClosedError, SettingsError } from './errors.js';
import { isRdmaPath, type RdmaCarrier } from './rdma.js';
import type { NativeWireInfo } from './native.js';
import type { WireProbeSettings, WireRtt } from './wire-probe.js';

/** What the engine needs from its side to serve a UdpWire. */
export interface WireOwner {
  readonly closed: boolean;
  wireCounters(wire: UdpWire): PortCounters;
  removeWire(wire: UdpWire): void;
  prepareWireSwap(wire: UdpWire, settings: WirePathSettings): number;
  removeRdmaCarrier(c: RdmaCarrier): void;
  wireSwapStep(wire: UdpWire, step: 'cutover' | 'finish' | 'quiesce' | 'resume' | 'switch'): void;
  wireInfo(wire: UdpWire): NativeWireInfo;
  measureWireRtt(wire: UdpWire, settings?: WireProbeSettings): Promise<WireRtt>;
}

/** Where a hot-swap of the wire's path stands, on this end. */
export interface WireSwapInfo {
  /** none; prepared: the new path receives (data held) and sends keepalives; cut-over: frames
   * leave on the new path, the old one drains. */
  phase: NativeWireInfo['phase'];
  /** The wire id frames leave with. */
  txWireId: number;
  /** The wire id frames are delivered from (the other path's frames are held). */
  rxWireId: number;
  /** The other path's wire id, during a swap. */
  otherWireId: number | undefined;
  /** Frames of the new path held until the old path's drain markers arrive. */
  held: number;
  /** The peer was heard on the other path since `since` (process.hrtime.bigint()). */
  otherHeardSince(since: bigint): boolean;
  /** This end delivers from the path it sends on, with nothing held: the peer's old path drained. */
  settled: boolean;
  /** Quiesced: frames for the peer are queued (`queued` of them) until resume. */
  quiesced: boolean;
  queued: number;
}

export type WireState = 'connecting' | 'up' | 'down';

/** A `udp` wire as a port of the switch: frames switched to it leave its underlay port
 * encapsulated; frames for its wire id arriving on the underlay come in through it. */
export class UdpWire {
  private removed = false;
  /** @internal kept by the engine; read it as `domain`. */
  currentDomain = 0;

  private currentWireId: number;
  private currentMaxInner: number;
  private currentRemote: string;
  private currentPath: UdpPathSettings | undefined;
  private currentCarrier: RdmaCarrier | undefined;
  /** The carrier of the path a cutover left behind, released when the swap finishes. */
  private retiredCarrier: RdmaCarrier | undefined;
  private pending:
    | { wireId: number; maxInnerFrame: number; remote: string; path: UdpPathSettings | undefined; carrier: RdmaCarrier | undefined }
    | undefined;

  constructor(
    private readonly owner: WireOwner,
    /** Engine-wide port id of the wire. */
    readonly id: number,
    wireId: number,
    maxInnerFrame: number,
    /** A peer silent for longer than this is reported down. */
    readonly deadAfterMs: number,
    remote: string,
    /** @internal what a swapped-in path keeps from the wire */
    readonly settings: { keepaliveMs: number; domain: number },
    path: UdpPathSettings | undefined,
    carrier?: RdmaCarrier,
  ) {
    this.currentPath = path;
    this.currentCarrier = carrier;
    this.currentWireId = wireId;
    this.currentMaxInner = maxInnerFrame;
    this.currentRemote = remote;
  }

  /** The id both ends agreed on, carried in every frame (a hot-swap's cutover changes it). */
  get wireId(): number {
    return this.currentWireId;
  }

  /** Largest inner Ethernet frame (without FCS) the underlay carries: its MTU minus IPv4, UDP
   * and Banana headers. Larger frames are dropped and counted (drop_mtu). */
  get maxInnerFrame(): number {
    return this.currentMaxInner;
  }

  /** The peer's underlay address and port. */
  get remote(): string {
    return this.currentRemote;
  }

  /** The path frames leave on (a hot-swap to the same peer reuses its next hop). */
  get path(): UdpPathSettings {
    if (!this.currentPath) throw new SettingsError(`${this} has no udp path (its carrier is ${this.carrier})`);
    return this.currentPath;
  }

  /** Hot-swap, step 1 (both ends): adds a second path that receives (its data held until the
   * old path drains) and sends keepalives, so each end can verify it before traffic moves. */
  prepareSwap(path: WirePathSettings): void {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (prepareSwap)`);
    const maxInnerFrame = this.owner.prepareWireSwap(this, path);
    this.pending = isRdmaPath(path)
      ? { wireId: path.wireId, maxInnerFrame, remote: path.carrier.remote, path: undefined, carrier: path.carrier }
      : { wireId: path.wireId, maxInnerFrame, remote: `${path.remoteIp}:${path.remotePort ?? 7471}`, path, carrier: undefined };
  }

  /** udp: encapsulated over an underlay port; rdma: over its own queue pair (a hot-swap can
   * change it). */
  get type(): 'udp' | 'rdma' {
    return this.currentCarrier ? 'rdma' : 'udp';
  }

  /** The queue pair of an rdma wire. */
  get carrier(): RdmaCarrier | undefined {
    return this.currentCarrier;
  }

  /** @internal every queue pair the wire holds (its own, a prepared or retired path's) */
  carriers(): RdmaCarrier[] {
    return [this.currentCarrier, this.pending?.carrier, this.retiredCarrier].filter((c): c is RdmaCarrier => c !== undefined);
  }

  /** Hot-swap, step 2: frames leave on the new path from now on; the old path gets drain
   * markers behind its last frame. */
  cutover(): void {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (cutover)`);
    this.owner.wireSwapStep(this, 'cutover');
    this.adoptPending();
  }

  /** A migration's switch: cutover, finish and resume in one step, without drain markers (the
   * old peer's VM has left it): frames leave on the prepared path, the old one is forgotten and
   * the quiesce queue goes out first. */
  switchOver(): void {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (switchOver)`);
    this.owner.wireSwapStep(this, 'switch');
    this.adoptPending();
    this.releaseRetired();
  }

  private releaseRetired(): void {
    const c = this.retiredCarrier;
    this.retiredCarrier = undefined;
    if (c) this.owner.removeRdmaCarrier(c);
  }

  private adoptPending(): void {
    if (!this.pending) return;
    this.currentWireId = this.pending.wireId;
    this.currentMaxInner = this.pending.maxInnerFrame;
    this.currentRemote = this.pending.remote;
    this.currentPath = this.pending.path;
    if (this.currentCarrier !== this.pending.carrier) this.retiredCarrier = this.currentCarrier;
    this.currentCarrier = this.pending.carrier;
    this.pending = undefined;
  }

  /** Hot-swap, step 3: after cutover, drops the old path; before it, abandons the new one. */
  finishSwap(): void {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (finishSwap)`);
    this.owner.wireSwapStep(this, 'finish');
    // Cut over: the old path's carrier goes. Abandoned: the prepared path's does.
    const abandoned = this.pending?.carrier;
    this.pending = undefined;
    if (abandoned && abandoned !== this.currentCarrier) this.owner.removeRdmaCarrier(abandoned);
    this.releaseRetired();
  }

  /** Queues frames for the peer instead of sending them (bounded, counted in quiesce_queued and
   * drop_quiesce_full) until resume: the peer is in flight (a migrating Spike). */
  quiesce(): void {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (quiesce)`);
    this.owner.wireSwapStep(this, 'quiesce');
  }

  /** Sends the queue in order on the wire's current path, ahead of anything new. */
  resume(): void {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (resume)`);
    this.owner.wireSwapStep(this, 'resume');
  }

  /** The wire's own round trip, engine to engine, on its current path (see wire-probe.ts). */
  measureRtt(settings?: WireProbeSettings): Promise<WireRtt> {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (measureRtt)`);
    return this.owner.measureWireRtt(this, settings);
  }

  swapInfo(): WireSwapInfo {
    if (this.closed) throw new ClosedError(`wire ${this.wireId} is closed (swapInfo)`);
    const i = this.owner.wireInfo(this);
    const other = i.paths[i.txPath ^ 1];
    const otherRx = other?.lastRxNs ?? 0n;
    return {
      phase: i.phase,
      txWireId: i.paths[i.txPath]?.wireId ?? 0,
      rxWireId: i.paths[i.rxPath]?.wireId ?? 0,
      otherWireId: other?.used ? other.wireId : undefined,
      held: i.held,
      otherHeardSince: (since) => Boolean(other?.used) && otherRx > since,
      settled: i.rxPath === i.txPath && i.held === 0,
      quiesced: i.quiesced,
      queued: i.queued,
    };
  }

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
    return `${this.type} wire ${this.wireId} to ${this.remote}`;
  }
}
