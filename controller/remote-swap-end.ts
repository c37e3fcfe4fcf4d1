/** The far end of a hot-swap: a Corm end on another host, driven through its controller's
 * peer API (each step one signed request). */
import type { RdmaEndpoint } from '../dataplane/lib/index.js';
import type { UnderlayPeer } from '../wires/udp/udp-end.js';
import type { SwapEnd } from '../wires/udp/hot-swap.js';
import type { ApiClient } from './api/api-client.js';
import type { PeerPrepareReply } from './peer-messages.js';

/** What the Corm host reports of its end during a swap. */
export interface PeerSwapInfo {
  phase: 'none' | 'prepared' | 'cut-over';
  held: number;
  settled: boolean;
  otherHeard: boolean;
}

export interface RemoteSwapEnd extends SwapEnd {
  /** The peer's underlay, known once it prepared. */
  underlay(): UnderlayPeer | undefined;
  /** The peer's new queue pair (a swap to rdma), known once it prepared. */
  rdma(): RdmaEndpoint | undefined;
}

/** `wireId` is the id the wire had when the swap began: the peer keeps the end under it until
 * finish. `qp`: this end's new queue pair, for a swap to rdma. */
export function remoteSwapEnd(name: string, peer: ApiClient, wireId: number, newWireId: number, ours: UnderlayPeer, qp?: RdmaEndpoint): RemoteSwapEnd {
  const path = `/v1/peer/wires/${wireId}/swap`;
  let theirs: PeerPrepareReply | undefined;
  return {
    name,
    underlay: () => theirs?.underlay,
    rdma: () => theirs?.rdma,
    prepare: async () => {
      theirs = await peer.request<PeerPrepareReply>('POST', path, { step: 'prepare', wireId: newWireId, underlay: ours, ...(qp ? { rdma: qp } : {}) });
    },
    cutover: async () => {
      await peer.request('POST', path, { step: 'cutover' });
    },
    finish: async () => {
      await peer.request('POST', path, { step: 'finish' });
    },
    info: () => peer.request<PeerSwapInfo>('GET', path),
  };
}
