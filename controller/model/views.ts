/** What the API returns about a host's objects: plain JSON, counters as numbers. */
import type { PortCounters } from '../../dataplane/lib/index.js';
import type { WireState, WireType } from '../../wires/wire.js';
import type { ConnectSpec } from './specs.js';
import type { RdmaFacts } from '../../hw-profiles/lib/rdma-facts.js';

export interface CountersView {
  rx_packets: number;
  rx_bytes: number;
  tx_packets: number;
  tx_bytes: number;
  /** Only the drop reasons that counted something. */
  drops: Record<string, number>;
}

export function countersView(c: PortCounters): CountersView {
  const drops: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) if (k.startsWith('drop_') && v !== 0n) drops[k.slice(5)] = Number(v);
  return {
    rx_packets: Number(c.rx_packets),
    rx_bytes: Number(c.rx_bytes),
    tx_packets: Number(c.tx_packets),
    tx_bytes: Number(c.tx_bytes),
    drops,
  };
}

export interface CormView {
  id: string;
  ifname: string;
  mac: string;
  mtu: number;
  mode: 'native' | 'generic';
  queues: number;
  /** Spike endpoints wired to this Corm, by id. */
  endpoints: string[];
  counters: CountersView;
}

export interface SpikeView {
  id: string;
  ifname: string;
  netns: string;
  mac: string;
  mode: 'native' | 'generic';
  /** The wire it runs: Corm and resolved type. */
  connect: ConnectSpec | null;
  /** What it was asked for (type may be auto); placement re-evaluates against this. */
  requested: ConnectSpec | null;
  /** Why the requested connection is down right now (policy, capabilities), if it is. */
  blocked: string | null;
  wire: number | null;
  counters: CountersView;
}

/** A wire's own round trip, engine to engine (`POST /v1/wires/:id/rtt`). */
export interface WireRttView {
  id: number;
  type: WireType;
  /** Each echo as large as an inner frame of this many bytes. */
  bytes: number;
  sent: number;
  received: number;
  lost: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export interface WireView {
  id: number;
  type: WireType;
  /** Which end this host holds: the Spike's, the Corm's, or both (a local wire). */
  side: 'spike' | 'corm' | 'both';
  spike: string;
  corm: string;
  peerHost: string | null;
  state: WireState;
  mtu: number;
  counters: CountersView;
  /** The udp wire's receive side: frames lost or late on the underlay. */
  sequence?: { gaps: number; late: number; keepaliveRx: number; keepaliveTx: number };
  /** The rdma wire's queue pair: its peer, flow control and errors. */
  rdma?: { device: string; remote: string; creditWrites: number; creditWaits: number; noCredit: number; recvPosted: number; wcErrors: number; counters: CountersView };
}

export interface HostView {
  name: string;
  labels: Record<string, string>;
  policy: { pin?: string; forbid?: string[] };
  controller: string;
  underlay: { ifname: string; ip: string; mac: string; mtu: number; udpPort: number; mode: 'native' | 'generic'; counters: CountersView };
  workers: number;
  /** The device rdma wires use (discovery next to its hardware profile); null: no rdma here. */
  rdma: RdmaFacts | null;
}

/** What a hot-swap of a Spike's wire reports (`banana wire swap`). */
export interface SwapView {
  spike: string;
  corm: string;
  type: WireType;
  /** Wire ids before and after. */
  from: number;
  to: number;
  /** Time until both ends heard each other on the new path, and then until both received
   * the other's drain markers after cutover. */
  verifyMs: number;
  settleMs: number;
  /** False if an end finished without the other's drain markers. */
  settled: boolean;
}

/** Where a migration of a Spike's backend to another host stands, and what it cost. */
export interface MigrationView {
  spike: string;
  from: string;
  to: string;
  corm: string;
  /** The phase reached: prepared, quiesced, attached (bound on the target), switched, done
   * (resumed), aborted. */
  phase: 'prepared' | 'quiesced' | 'attached' | 'switched' | 'done' | 'aborted';
  wire: { from: number; to: number };
  /** Frames for the VM the Corm queued while it moved, and dropped because the queue was full. */
  queued: number | null;
  dropped: number | null;
  /** Frames the old host could no longer deliver (sent to the VM before quiesce, arrived after it left). */
  lostAtSource: number | null;
  /** Quiesce to traffic flowing again (the whole gap as the switch sees it). */
  gapMs: number | null;
  /** The switch's share: from the switch phase's start (the interface up on the new host) to
   * the queue sent; it includes binding the interface (bindMs) unless it was attached first. */
  switchMs: number | null;
  /** Of switchMs, the Corm's own: cut over, drop the old path, send the queue (the rest is
   * the API round trip). */
  cormSwitchMs: number | null;
  bindMs: number | null;
}
