/** What controllers send each other on the peer API (`/v1/peer/*`): the bodies a Spike's host
 * sends to a Corm's host (open a wire's Corm end, hot-swap or migration steps on it) and to
 * the target of a migration (take a Spike in). */
import type { RdmaEndpoint } from '../dataplane/lib/index.js';
import type { UnderlayPeer } from '../wires/udp/udp-end.js';
import type { RequestedWireType } from './model/specs.js';

/** The body a Spike's host sends to the Corm's host to open the Corm end of a udp wire. */
export interface OpenCormEndRequest {
  wireId: number;
  tenant?: string;
  corm: string;
  spike: string;
  spikeMac: string;
  underlay: UnderlayPeer;
  /** An rdma wire: the Spike end's queue pair, for the Corm end to connect to. */
  rdma?: RdmaEndpoint;
}

export interface OpenCormEndReply {
  underlay: UnderlayPeer;
  endpoint: string;
  /** An rdma wire: the Corm end's queue pair (already connected to the Spike's). */
  rdma?: RdmaEndpoint;
}

/** The Corm end's answer to prepare: its underlay, and its new queue pair on a swap to rdma. */
export interface PeerPrepareReply {
  underlay: UnderlayPeer;
  rdma?: RdmaEndpoint;
}

/** A step of a hot-swap (prepare, cutover, finish) or of a migration of the Spike's end to
 * another host (prepare with `to`, quiesce, switch, abort) on a Corm end. */
export type PeerSwapStep =
  | { step: 'prepare'; wireId: number; underlay: UnderlayPeer; to?: { host: string; spike: string }; rdma?: RdmaEndpoint }
  | { step: 'cutover' }
  | { step: 'finish' }
  | { step: 'quiesce' }
  | { step: 'switch' }
  | { step: 'abort' };

/** What the target host of a migration is told of the Spike it takes in. */
export interface AdoptSpikeRequest {
  name: string;
  ifname: string;
  mac: string;
  tenant?: string;
  corm: string;
  cormHost: string;
  requested: RequestedWireType;
  /** The Spike asked for any Corm of this network: the target re-chooses once it is there. */
  network?: string;
  wireId: number;
  cormUnderlay: UnderlayPeer;
}
