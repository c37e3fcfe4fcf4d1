/** What every wire type offers the controller, whatever carries its frames. */
import type { PortCounters } from '../dataplane/lib/index.js';

export const WIRE_TYPES = ['local', 'udp', 'rdma'] as const;
export type WireType = (typeof WIRE_TYPES)[number];

/** connecting: set up, peer not heard yet; up: carrying frames; draining: the old wire of a
 * hot-swap delivering its tail; down: the peer fell silent or the wire was closed. */
export type WireState = 'connecting' | 'up' | 'draining' | 'down';

/** One host's end of a wire. */
export interface WireEnd {
  readonly type: WireType;
  /** The id both ends agreed on. */
  readonly wireId: number;
  /** Largest payload (inner Ethernet frame minus its 14-byte header) the wire carries. */
  readonly mtu: number;
  readonly closed: boolean;
  state(): WireState;
  /** Counters of the wire's port in the engine (packets, bytes, drops by reason). */
  counters(): PortCounters;
  /** Takes the end down; frames in flight on it are dropped and counted. Idempotent. */
  close(): void;
}
