import { EventEmitter } from 'node:events';
import { CounterBoard, type PortCounters, type WorkerCounters } from './counters.js';
import { ClosedError, portErrorFrom, SettingsError, WireBusyError } from './errors.js';
import {
  bpfObjectPath,
  loadNative,
  type NativeEngine,
  type NativeUdpWireSettings,
  type NativeWireInfo,
  type NativeEvent,
  type NativeFrameAudit,
  type NativeXdpMode,
  type NativeZeroCopy,
} from './native.js';
import { applyNapiTuning } from './napi-tuning.js';
import { Port, type PortOwner, type PortSettings } from './port.js';
import { checkCarrierSettings, isRdmaPath, RdmaCarrier, type CarrierOwner, type RdmaCarrierSettings, type RdmaEndpoint, type RdmaPathSettings } from './rdma.js';
import { UdpWire, type WireOwner } from './udp-wire.js';
import { probeWireRtt, type ProbeOwner, type WireProbeSettings, type WireRtt } from './wire-probe.js';

export type IdlePolicy =
  /** Spin forever: lowest latency, one full core per worker. */
  | { policy: 'busy' }
  /** Spin `spinLoops` empty polls, then sleep 1, 2, 4... up to `maxSleepUs` microseconds. */
  | { policy: 'backoff'; spinLoops?: number; maxSleepUs?: number };

export interface EngineSettings {
  /** Poll-mode worker threads. Default 1. */
  workers?: number;
  /** CPU to pin each worker to; default: not pinned. */
  cpus?: number[];
  /** What a worker does when a poll moved nothing. Default { policy: 'busy' }. */
  idle?: IdlePolicy;
  /** Frames in each worker's pool (its UMEM). Default 16384. */
  framesPerWorker?: number;
  /** Bytes per frame: 2048 or 4096. Default 4096 (room for a 3.5 KB MTU after headroom). */
  frameSize?: 2048 | 4096;
  /** MAC table slots, a power of two. Default 4096. */
  fdbSize?: number;
  /** Learned MAC addresses expire after this long without traffic. Default 300000 ms. */
  fdbAgeingMs?: number;
  /** Slots of each worker-to-worker ring, a power of two. Default 2048 (as deep as an rx ring). */
  handoffSlots?: number;
}

export interface QueueFailure {
  port: Port | undefined;
  /** The rdma wire whose queue pair failed (its carrier is the failed queue). */
  wire: UdpWire | undefined;
  portId: number;
  queue: number;
  worker: number;
  code: string;
  errno: number;
  message: string;
}

export interface FrameAudit {
  /** True when every frame of every pool is in exactly one place. */
  ok: boolean;
  workers: NativeFrameAudit[];
  /** Walks it took (more than one when frames were in flight). */
  attempts: number;
}

export interface FdbEntry {
  mac: string;
  domain: number;
  port: Port | UdpWire | undefined;
  ageMs: number;
}

interface EngineEvents {
  'queue-failed': [QueueFailure];
}

const MODES: Record<string, NativeXdpMode> = { auto: 0, native: 1, generic: 2 };
const ZERO_COPY: Record<string, NativeZeroCopy> = { auto: -1, off: 0, required: 1 };
const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

function requireInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new SettingsError(`${name} must be an integer in ${min}..${max}, got ${v}`);
  }
  return v;
}

/** The dataplane of one host: poll-mode workers switching frames between ports. */
/** One path of a `udp` wire through the underlay: what a wire is created with, and what a
 * hot-swap prepares. */
export interface UdpPathSettings {
  /** The id both ends agreed on (carried in every frame). */
  wireId: number;
  /** The port on the underlay interface (added with `underlay: { udpPort }`). A hot-swap keeps it. */
  underlay: Port;
  localMac: string;
  /** MAC of the next hop towards remoteIp on the underlay (the peer itself on one segment). */
  nextHopMac: string;
  localIp: string;
  remoteIp: string;
  /** UDP port the peer listens on. Default 7471. */
  remotePort?: number;
  /** The underlay interface's MTU. */
  underlayMtu: number;
}

export interface UdpWireSettings extends UdpPathSettings {
  /** Keepalive period when no data flows. Default 100 ms. */
  keepaliveMs?: number;
  /** The peer is reported down after this long without a frame. Default 3 keepalives + 20 ms. */
  deadAfterMs?: number;
  /** Switching domain of the wire's port (see PortSettings.domain). Default 0. */
  domain?: number;
}

export interface RdmaWireSettings {
  /** A connected carrier (engine.addRdmaCarrier + carrier.connect). */
  carrier: RdmaCarrier;
  /** The id both ends agreed on (carried in every message). */
  wireId: number;
  keepaliveMs?: number;
  deadAfterMs?: number;
  domain?: number;
}

/** Where a wire's frames go: encapsulated over an underlay port, or over a queue pair. */
export type WirePathSettings = UdpPathSettings | RdmaPathSettings;

const remoteOf = (s: UdpPathSettings): string => `${s.remoteIp}:${s.remotePort ?? DEFAULT_WIRE_UDP_PORT}`;

export const MAX_DOMAIN = 32767;

export const DEFAULT_WIRE_UDP_PORT = 7471;

export class Engine extends EventEmitter<EngineEvents> implements PortOwner, WireOwner, CarrierOwner {
  private native: NativeEngine | undefined;
  private readonly board: CounterBoard;
  private readonly portsById = new Map<number, Port>();
  private readonly wiresById = new Map<number, UdpWire>();
  /** Wires (port ids) with a round-trip measurement running. */
  private readonly probing = new Set<number>();
  readonly workers: number;
  private isRunning = false;

  constructor(settings: EngineSettings = {}) {
    super();
    const mod = loadNative();
    this.workers = requireInt('workers', settings.workers ?? 1, 1, mod.limits.maxWorkers);
    const idle = settings.idle ?? { policy: 'busy' };
    const frameSize = settings.frameSize ?? 4096;
    if (frameSize !== 2048 && frameSize !== 4096) throw new SettingsError(`frameSize must be 2048 or 4096, got ${String(frameSize)}`);
    const fdbSize = settings.fdbSize ?? 4096;
    if (!isPow2(fdbSize)) throw new SettingsError(`fdbSize must be a power of two, got ${fdbSize}`);
    const handoffSlots = settings.handoffSlots ?? 2048;
    if (!isPow2(handoffSlots)) throw new SettingsError(`handoffSlots must be a power of two, got ${handoffSlots}`);
    const cpus = settings.cpus ?? [];
    cpus.forEach((c, i) => requireInt(`cpus[${i}]`, c, 0, 4095));
    this.native = new mod.NativeEngine({
      workers: this.workers,
      cpus,
      idle: idle.policy,
      spinLoops: idle.policy === 'backoff' ? requireInt('idle.spinLoops', idle.spinLoops ?? 1000, 0, 1e9) : 0,
      maxSleepUs: idle.policy === 'backoff' ? requireInt('idle.maxSleepUs', idle.maxSleepUs ?? 1000, 1, 1e6) : 1,
      framesPerWorker: requireInt('framesPerWorker', settings.framesPerWorker ?? 16384, 256, 1 << 22),
      frameSize,
      fdbSize,
      fdbAgeingMs: requireInt('fdbAgeingMs', settings.fdbAgeingMs ?? 300_000, 1, 2 ** 31 - 1),
      handoffSlots,
      bpfObjectPath: bpfObjectPath(),
      onEvent: (ev) => this.onNativeEvent(ev),
    });
    this.board = new CounterBoard(
      this.native.portCounters,
      this.native.workerCounters,
      this.workers,
      mod.limits.portRow,
      mod.limits.workerRow,
    );
  }

  get closed(): boolean {
    return this.native === undefined;
  }

  get running(): boolean {
    return this.isRunning;
  }

  addPort(settings: PortSettings): Port {
    const native = this.live('addPort');
    const { ifname } = settings;
    const netns = settings.netns ?? '';
    const mode = settings.mode ?? 'auto';
    const zeroCopy = settings.zeroCopy ?? 'auto';
    const ctx = { ifname, netns, queue: settings.firstQueue ?? 0, mode };
    if (typeof ifname !== 'string' || ifname.length === 0 || ifname.length > 15) {
      throw new SettingsError(`ifname must be 1-15 characters, got '${String(ifname)}'`, ctx);
    }
    if (MODES[mode] === undefined) throw new SettingsError(`mode must be auto, native or generic, got '${mode}'`, ctx);
    if (ZERO_COPY[zeroCopy] === undefined) {
      throw new SettingsError(`zeroCopy must be auto, required or off, got '${zeroCopy}'`, ctx);
    }
    const ringSize = settings.ringSize ?? 2048;
    if (!isPow2(ringSize) || ringSize < 64) throw new SettingsError(`ringSize must be a power of two >= 64, got ${ringSize}`, ctx);
    const queues = settings.queues === 'all' ? 0 : requireInt('queues', settings.queues ?? 1, 1, 64);
    const firstQueue = requireInt('firstQueue', settings.firstQueue ?? 0, 0, 63);
    const busy = settings.busyPoll || undefined;
    const busyPollBudget = busy ? requireInt('busyPoll.budget', busy.budget ?? 64, 1, 65535) : 0;
    const busyPollUsecs = busy ? requireInt('busyPoll.usecs', busy.usecs ?? 20, 0, 1_000_000) : 0;
    const napi = busy && busy.napi !== false ? (busy.napi ?? { deferHardIrqs: 2, groFlushTimeoutNs: 200_000 }) : undefined;
    const domain = requireInt('domain', settings.domain ?? 0, 0, MAX_DOMAIN);
    const underlayUdpPort = settings.underlay ? requireInt('underlay.udpPort', settings.underlay.udpPort ?? DEFAULT_WIRE_UDP_PORT, 1, 65535) : 0;
    let info;
    try {
      info = native.addPort({
        ifname,
        netns,
        firstQueue,
        queues,
        mode: MODES[mode] as NativeXdpMode,
        zeroCopy: ZERO_COPY[zeroCopy] as NativeZeroCopy,
        ringSize,
        busyPollBudget,
        busyPollUsecs,
        underlayUdpPort,
        domain,
        xdpTakeover: settings.takeOverBananaXdp ? 1 : 0,
      });
    } catch (e) {
      throw portErrorFrom(e, ctx);
    }
    const port = new Port(this, info.id, ifname, netns, info.mode, info.zeroCopy, info.queues, underlayUdpPort || undefined);
    port.currentDomain = domain;
    if (napi) {
      try {
        port.onClose = applyNapiTuning(netns, ifname, napi);
      } catch (e) {
        native.removePort(info.id);
        throw e;
      }
    }
    this.portsById.set(info.id, port);
    return port;
  }

  /** Adds a `udp` wire: a switch port whose frames travel encapsulated over an underlay port. */
  addUdpWire(settings: UdpWireSettings): UdpWire {
    const native = this.live('addUdpWire');
    const keepaliveMs = requireInt('keepaliveMs', settings.keepaliveMs ?? 100, 10, 60_000);
    const domain = requireInt('domain', settings.domain ?? 0, 0, MAX_DOMAIN);
    const path = this.nativePath(settings, keepaliveMs, domain);
    let info;
    try {
      info = native.addUdpWire(path);
    } catch (e) {
      throw portErrorFrom(e, { ifname: settings.underlay.ifname, netns: settings.underlay.netns });
    }
    const deadAfterMs = settings.deadAfterMs ?? 3 * keepaliveMs + 20;
    const wire = new UdpWire(this, info.id, path.wireId, info.maxInnerFrame, deadAfterMs, remoteOf(settings), { keepaliveMs, domain }, settings);
    wire.currentDomain = domain;
    this.wiresById.set(info.id, wire);
    return wire;
  }

  /** The carrier supplies the peer and the message size; the addresses are unused. */
  private nativeRdmaPath(settings: RdmaPathSettings, keepaliveMs: number, domain: number): NativeUdpWireSettings {
    if (!settings.carrier.connected) {
      throw new SettingsError(`rdma path: carrier ${settings.carrier} is not connected`, { ifname: settings.carrier.device });
    }
    return {
      wireId: requireInt('wireId', settings.wireId, 1, 2 ** 32 - 1), underlayPortId: settings.carrier.id,
      localMac: '00:00:00:00:00:00', nextHopMac: '00:00:00:00:00:00', localIp: '0.0.0.0', remoteIp: '0.0.0.0',
      localPort: 0, remotePort: 0, underlayMtu: settings.carrier.maxMessage, keepaliveMs, domain,
    };
  }

  private nativePath(settings: UdpPathSettings, keepaliveMs: number, domain: number): NativeUdpWireSettings {
    const { underlay } = settings;
    if (underlay.underlayUdpPort === undefined) {
      throw new SettingsError(`${underlay} is not an underlay port (add it with underlay: { udpPort })`, { ifname: underlay.ifname });
    }
    return {
      wireId: requireInt('wireId', settings.wireId, 1, 2 ** 32 - 1),
      underlayPortId: underlay.id,
      localMac: settings.localMac,
      nextHopMac: settings.nextHopMac,
      localIp: settings.localIp,
      remoteIp: settings.remoteIp,
      localPort: underlay.underlayUdpPort,
      remotePort: requireInt('remotePort', settings.remotePort ?? DEFAULT_WIRE_UDP_PORT, 1, 65535),
      underlayMtu: requireInt('underlayMtu', settings.underlayMtu, 68, 65535),
      keepaliveMs,
      domain,
    };
  }

  /** @internal WireOwner; use wire.prepareSwap(). */
  prepareWireSwap(wire: UdpWire, settings: WirePathSettings): number {
    const native = this.live('prepareWireSwap');
    const { keepaliveMs } = wire.settings;
    const path = isRdmaPath(settings) ? this.nativeRdmaPath(settings, keepaliveMs, wire.domain) : this.nativePath(settings, keepaliveMs, wire.domain);
    try {
      return native.prepareWireSwap(wire.id, path);
    } catch (e) {
      throw portErrorFrom(e, isRdmaPath(settings) ? { ifname: settings.carrier.device } : { ifname: settings.underlay.ifname, netns: settings.underlay.netns });
    }
  }

  /** @internal WireOwner */
  wireSwapStep(wire: UdpWire, step: 'cutover' | 'finish' | 'quiesce' | 'resume' | 'switch'): void {
    const native = this.live(step);
    try {
      if (step === 'cutover') native.cutoverWire(wire.id);
      else if (step === 'finish') native.finishWireSwap(wire.id);
      else if (step === 'switch') native.switchWire(wire.id);
      else native.quiesceWire(wire.id, step === 'quiesce');
    } catch (e) {
      throw portErrorFrom(e, {});
    }
  }

  /** @internal WireOwner */
  wireInfo(wire: UdpWire): NativeWireInfo {
    return this.live('wireInfo').wireInfo(wire.id);
  }

  /** @internal WireOwner; use wire.measureRtt(). One run per wire at a time. */
  async measureWireRtt(wire: UdpWire, settings?: WireProbeSettings): Promise<WireRtt> {
    if (this.probing.has(wire.id)) throw new WireBusyError(`wire ${wire.wireId}: a round-trip measurement is already running on it`);
    const owner: ProbeOwner = {
      probeWire: (id, count, bytes) => {
        try {
          this.live('measureRtt').probeWire(id, count, bytes);
        } catch (e) {
          throw portErrorFrom(e, {});
        }
      },
      wireProbe: (id) => this.live('measureRtt').wireProbe(id),
    };
    this.probing.add(wire.id);
    try {
      return await probeWireRtt(owner, wire.id, settings);
    } finally {
      this.probing.delete(wire.id);
    }
  }

  wires(): UdpWire[] {
    return [...this.wiresById.values()];
  }

  /** @internal WireOwner */
  wireCounters(wire: UdpWire): PortCounters {
    return this.board.portTotal(wire.id & 0xff);
  }

  /** @internal WireOwner; use wire.close(). */
  removeWire(wire: UdpWire): void {
    const native = this.live('removeWire');
    native.removePort(wire.id);
    this.wiresById.delete(wire.id);
    for (const c of wire.carriers()) native.removePort(c.id);
  }

  /** Opens an RDMA queue pair (a carrier for one `rdma` wire); give its endpoint to the peer,
   * then connect it with the peer's. */
  addRdmaCarrier(settings: RdmaCarrierSettings): RdmaCarrier {
    const native = this.live('addRdmaCarrier');
    const s = checkCarrierSettings(settings);
    let info;
    try {
      info = native.addRdmaPort(s);
    } catch (e) {
      throw portErrorFrom(e, { ifname: s.device });
    }
    return new RdmaCarrier(this, info.id, info.worker, s.device, info.endpoint);
  }

  /** @internal CarrierOwner; use carrier.connect(). */
  connectRdmaCarrier(c: RdmaCarrier, peer: RdmaEndpoint, waitForPeer: boolean): number {
    try {
      return this.live('connectRdmaCarrier').connectRdmaPort(c.id, peer, waitForPeer);
    } catch (e) {
      throw portErrorFrom(e, { ifname: c.device });
    }
  }

  /** @internal CarrierOwner; use carrier.counters(). */
  carrierCounters(c: RdmaCarrier): PortCounters {
    return this.board.portTotal(c.id & 0xff);
  }

  /** Drops a carrier no wire uses (a connection that failed half-way, a swapped-out path). */
  removeRdmaCarrier(c: RdmaCarrier): void {
    this.live('removeRdmaCarrier').removePort(c.id);
  }

  /** Adds an `rdma` wire on a connected carrier: a switch port whose frames are SENDs of the
   * Banana header and frame on the carrier's queue pair. Closing the wire closes the carrier. */
  addRdmaWire(settings: RdmaWireSettings): UdpWire {
    const native = this.live('addRdmaWire');
    const { carrier } = settings;
    if (!carrier.connected) throw new SettingsError(`rdma wire: carrier ${carrier} is not connected`, { ifname: carrier.device });
    const keepaliveMs = requireInt('keepaliveMs', settings.keepaliveMs ?? 100, 10, 60_000);
    const domain = requireInt('domain', settings.domain ?? 0, 0, MAX_DOMAIN);
    let info;
    const path = this.nativeRdmaPath(settings, keepaliveMs, domain);
    try {
      info = native.addUdpWire(path);
    } catch (e) {
      throw portErrorFrom(e, { ifname: carrier.device });
    }
    const deadAfterMs = settings.deadAfterMs ?? 3 * keepaliveMs + 20;
    const wire = new UdpWire(this, info.id, path.wireId, info.maxInnerFrame, deadAfterMs, carrier.remote, { keepaliveMs, domain }, undefined, carrier);
    wire.currentDomain = domain;
    this.wiresById.set(info.id, wire);
    return wire;
  }

  ports(): Port[] {
    return [...this.portsById.values()];
  }

  start(): void {
    this.live('start').start();
    this.isRunning = true;
  }

  /** Stops the workers after they transmitted what they held; ports stay configured. */
  stop(): void {
    this.live('stop').stop();
    this.isRunning = false;
  }

  /** Stops the workers, closes every port and frees the pools. Idempotent. */
  close(): void {
    if (!this.native) return;
    this.native.close();
    this.native = undefined;
    this.isRunning = false;
    for (const p of this.portsById.values()) {
      p.markRemoved();
      p.onClose?.();
    }
    for (const w of this.wiresById.values()) w.markRemoved();
    this.wiresById.clear();
    this.portsById.clear();
  }

  /** Checks that every frame is in exactly one place (free list, fill, rx, tx, completion,
   * or sent and held by the kernel until its completion, which the engine tracks per queue).
   * Pauses the workers for the duration of each walk (a few milliseconds). A frame the kernel
   * is moving from a fill ring to an rx ring at that instant is in neither, so a walk that
   * misses frames is repeated a few times: a real leak stays missing, traffic in flight does not. */
  auditFrames(attempts = 10): FrameAudit {
    const native = this.live('auditFrames');
    let workers = native.audit();
    let tries = 1;
    const clean = () => workers.every((w) => w.missing === w.kernelTx && w.duplicated === 0 && w.foreign === 0);
    while (!clean() && tries < attempts) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      workers = native.audit();
      tries++;
    }
    return { ok: clean(), workers, attempts: tries };
  }

  fdb(): FdbEntry[] {
    return this.live('fdb')
      .fdb()
      .map((e) => ({ mac: e.mac, domain: e.domain, port: this.portsById.get(e.portId) ?? this.wiresById.get(e.portId), ageMs: e.ageMs }));
  }

  /** Moves a port or wire to another switching domain without stopping traffic (one table
   * publish); what it learned is forgotten. Underlay ports have no domain. */
  setDomain(target: Port | UdpWire, domain: number): void {
    const native = this.live('setDomain');
    requireInt('domain', domain, 0, MAX_DOMAIN);
    if (target.closed) throw new ClosedError(`${target} is closed (setDomain)`);
    try {
      native.setDomain(target.id, domain);
    } catch (e) {
      // A publish that timed out may have reached some workers: the engine keeps the new domain.
      if ((e as { code?: string }).code === 'ETIMEDOUT') target.currentDomain = domain;
      throw portErrorFrom(e, target instanceof Port ? { ifname: target.ifname, netns: target.netns } : {});
    }
    target.currentDomain = domain;
  }

  /** A receive-only port or wire (the tail of a wire being replaced) still delivers what
   * arrives on it but is never learned on, flooded to or chosen; what was learned on it is
   * forgotten. */
  setReceiveOnly(target: Port | UdpWire, on: boolean): void {
    this.onTarget('setReceiveOnly', target, (native) => native.setReceiveOnly(target.id, on));
  }

  /** Points a MAC at a port or wire (in its domain) as if a frame from it had come in there:
   * a Corm's new endpoint for a VM takes over the VM's address from wherever it was seen. */
  learnMac(target: Port | UdpWire, mac: string): void {
    this.onTarget('learnMac', target, (native) => native.learnMac(target.id, mac));
  }

  /** A native call on an open port or wire; its errors name the port. */
  private onTarget(op: string, target: Port | UdpWire, call: (native: NativeEngine) => void): void {
    const native = this.live(op);
    if (target.closed) throw new ClosedError(`${target} is closed (${op})`);
    try {
      call(native);
    } catch (e) {
      throw portErrorFrom(e, target instanceof Port ? { ifname: target.ifname, netns: target.netns } : {});
    }
  }

  flushFdb(port?: Port): void {
    this.live('flushFdb').flushFdb(port?.id);
  }

  workerCounters(worker: number): WorkerCounters {
    this.live('workerCounters');
    requireInt('worker', worker, 0, this.workers - 1);
    return this.board.workerCounters(worker);
  }

  /** @internal PortOwner */
  portCounters(port: Port): PortCounters {
    return this.board.portTotal(port.id & 0xff);
  }

  /** @internal PortOwner */
  portCountersByWorker(port: Port): PortCounters[] {
    return Array.from({ length: this.workers }, (_, w) => this.board.portOnWorker(port.id & 0xff, w));
  }

  /** @internal PortOwner; use port.close(). */
  removePort(port: Port): void {
    const native = this.live('removePort');
    try {
      native.removePort(port.id);
    } catch (e) {
      throw portErrorFrom(e, { ifname: port.ifname, netns: port.netns });
    }
    this.portsById.delete(port.id);
  }

  private onNativeEvent(ev: NativeEvent): void {
    if (ev.type !== 'queue-failed') return;
    const failure: QueueFailure = {
      port: this.portsById.get(ev.portId),
      wire: [...this.wiresById.values()].find((w) => w.carriers().some((c) => c.id === ev.portId)),
      portId: ev.portId,
      queue: ev.queue,
      worker: ev.worker,
      code: ev.code,
      errno: ev.errno,
      message: ev.message,
    };
    this.emit('queue-failed', failure);
  }

  private live(op: string): NativeEngine {
    if (!this.native) throw new ClosedError(`engine is closed (${op})`);
    return this.native;
  }
}
