/** The declarative pieces of a host's desired state, as the API and peers hand them in. */
import type { RdmaEndpoint } from '../../dataplane/lib/index.js';
import type { WireType } from '../../wires/wire.js';
import type { UnderlayPeer } from '../../wires/udp/udp-end.js';

/** The backend of one VM/container vNIC: the host end of its interface. */
export interface SpikeSpec {
  /** Endpoint name: the Spike is `<host>/<name>`. */
  name: string;
  ifname: string;
  /** Namespace of the interface; '' means the host's own (its config's netns). */
  netns: string;
  /** The front-end vNIC's MAC: the address the Corm's endpoint carries for it. */
  mac: string;
  /** The tenant the VM belongs to, checked against a Corm's `allow.tenants`. */
  tenant?: string;
}

export type RequestedWireType = WireType | 'auto';

/** Which Corm a Spike is wired to and how. */
export interface ConnectSpec {
  /** Corm endpoint id, `<host>/<corm>`. */
  corm: string;
  type: RequestedWireType;
  /** Asked for as any Corm on this device network (the closest that fits); `corm` is then the
   * current choice. Only in what a Spike asked for, never in what runs. */
  network?: string;
}

/** The Corm side of a wire a peer asked for. */
export interface CormEndSpec {
  wireId: number;
  tenant?: string;
  /** Local Corm name. */
  corm: string;
  /** The Spike's endpoint id on the peer, `<host>/<name>`. */
  spike: string;
  spikeMac: string;
  peerHost: string;
  peer: UnderlayPeer;
  /** An rdma wire: the Spike end's queue pair. */
  rdma?: RdmaEndpoint;
}

export function sameSpike(a: SpikeSpec, b: SpikeSpec): boolean {
  return a.name === b.name && a.ifname === b.ifname && a.netns === b.netns && a.mac === b.mac && a.tenant === b.tenant;
}

export function sameConnect(a: ConnectSpec | undefined, b: ConnectSpec | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.corm === b.corm && a.type === b.type);
}

export function sameCormEnd(a: CormEndSpec, b: CormEndSpec): boolean {
  return (
    a.wireId === b.wireId && a.corm === b.corm && a.spike === b.spike && a.spikeMac === b.spikeMac &&
    a.peerHost === b.peerHost && a.peer.ip === b.peer.ip && a.peer.mtu === b.peer.mtu && a.peer.udpPort === b.peer.udpPort
  );
}
