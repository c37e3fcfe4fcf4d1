/** Hand-written typings of the native addon and its loader. */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { nativeDir } from './paths.js';
import type { NativeWireProbe } from './wire-probe.js';
import type { RdmaDevice, RdmaEndpoint } from './rdma.js';
import { PORT_COUNTER_NAMES, WORKER_COUNTER_NAMES } from './counters.generated.js';

export type NativeXdpMode = 0 | 1 | 2; // auto, native, generic
export type NativeZeroCopy = -1 | 0 | 1; // auto, off, required

export interface NativeEngineSettings {
  workers: number;
  cpus?: number[];
  idle: 'busy' | 'backoff';
  spinLoops: number;
  maxSleepUs: number;
  framesPerWorker: number;
  frameSize: number;
  fdbSize: number;
  fdbAgeingMs: number;
  handoffSlots: number;
  bpfObjectPath: string;
  onEvent?: (ev: NativeEvent) => void;
}

export interface NativePortSettings {
  ifname: string;
  netns: string;
  firstQueue: number;
  queues: number; // 0: all
  mode: NativeXdpMode;
  zeroCopy: NativeZeroCopy;
  ringSize: number;
  busyPollBudget: number; // 0: off
  busyPollUsecs: number;
  underlayUdpPort: number; // 0: a switch port
  domain: number;
  xdpTakeover: number; // 1: replace a Banana XDP program left on the interface
}

export interface NativeUdpWireSettings {
  wireId: number;
  underlayPortId: number;
  localMac: string;
  nextHopMac: string;
  localIp: string;
  remoteIp: string;
  localPort: number;
  remotePort: number;
  underlayMtu: number;
  keepaliveMs: number;
  domain: number;
}

export interface NativePortInfo {
  id: number;
  ifindex: number;
  mode: 'native' | 'generic';
  zeroCopy: boolean;
  queues: { queue: number; worker: number }[];
}

export interface NativeFrameAudit {
  total: number;
  free: number;
  fill: number;
  rx: number;
  tx: number;
  completion: number;
  returned: number;
  /** Held by a wire hot-swap until the old path drained. */
  held: number;
  missing: number;
  /** Of the missing: transmitted, completion not back yet (skbs the kernel still holds). */
  kernelTx: number;
  duplicated: number;
  foreign: number;
}

export interface NativeFdbEntry {
  mac: string;
  portId: number;
  domain: number;
  ageMs: number;
}

export interface NativeEvent {
  type: 'queue-failed' | 'unknown';
  portId: number;
  queue: number;
  worker: number;
  errno: number;
  code: string;
  message: string;
}

export interface NativeWireInfo {
  phase: 'none' | 'prepared' | 'cut-over';
  txPath: number;
  rxPath: number;
  held: number;
  quiesced: boolean;
  queued: number;
  paths: { used: boolean; wireId: number; maxInnerFrame: number; lastRxNs: bigint }[];
}

export interface NativeEngine {
  addPort(settings: NativePortSettings): NativePortInfo;
  removePort(id: number): void;
  addUdpWire(settings: NativeUdpWireSettings): { id: number; maxInnerFrame: number };
  addRdmaPort(settings: { device: string; portNum: number; gidIndex: number; rqDepth: number; sqDepth: number }): {
    id: number;
    worker: number;
    endpoint: RdmaEndpoint;
  };
  connectRdmaPort(portId: number, peer: RdmaEndpoint, waitForPeer: boolean): number;
  prepareWireSwap(portId: number, settings: NativeUdpWireSettings): number;
  cutoverWire(portId: number): void;
  finishWireSwap(portId: number): void;
  switchWire(portId: number): void;
  wireInfo(portId: number): NativeWireInfo;
  probeWire(portId: number, count: number, bytes: number): void;
  wireProbe(portId: number): NativeWireProbe;
  quiesceWire(portId: number, on: boolean): void;
  setReceiveOnly(portId: number, on: boolean): void;
  learnMac(portId: number, mac: string): void;
  start(): void;
  stop(): void;
  close(): void;
  audit(): NativeFrameAudit[];
  fdb(): NativeFdbEntry[];
  flushFdb(portId?: number): void;
  setDomain(portId: number, domain: number): void;
  readonly portCounters: ArrayBuffer;
  readonly workerCounters: ArrayBuffer;
}

export interface NativeModule {
  NativeEngine: new (settings: NativeEngineSettings) => NativeEngine;
  portCounterNames: string[];
  workerCounterNames: string[];
  limits: { maxPorts: number; maxWorkers: number; burst: number; portRow: number; workerRow: number };
  announce(netns: string, ifname: string, mac: string, count: number): void;
  rdmaDevices(): RdmaDevice[];
}

let cached: NativeModule | undefined;

export function loadNative(): NativeModule {
  if (cached) return cached;
  const path = join(nativeDir(), 'banana_dataplane.node');
  const mod = createRequire(import.meta.url)(path) as NativeModule;
  // The counter list is compiled into both sides; a stale build must fail loudly, not misreport.
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((n, i) => n === b[i]);
  if (!same(mod.portCounterNames, PORT_COUNTER_NAMES) || !same(mod.workerCounterNames, WORKER_COUNTER_NAMES)) {
    throw new Error(`banana: ${path} was built from another counters.def; rebuild it (npm run build:native)`);
  }
  cached = mod;
  return mod;
}

export function bpfObjectPath(): string {
  return join(nativeDir(), 'xsk_redirect.bpf.o');
}
