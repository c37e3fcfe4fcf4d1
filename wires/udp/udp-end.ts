/** One host's end of a `udp` wire: resolves the next hop on the underlay and adds the wire to
 * the engine in the given switching domain. */
import { DEFAULT_WIRE_UDP_PORT, type Engine, type Port, type UdpPathSettings, type UdpWire } from '../../dataplane/lib/index.js';
import { resolveNextHop, type UnderlayInterface } from './underlay.js';

/** What one end tells the other about its underlay. */
export interface UnderlayPeer {
  ip: string;
  mtu: number;
  udpPort: number;
}

export interface UdpEndSettings {
  engine: Engine;
  /** The host's underlay port (added with `underlay: { udpPort }`). */
  underlayPort: Port;
  local: UnderlayInterface;
  peer: UnderlayPeer;
  wireId: number;
  domain?: number;
  keepaliveMs?: number;
}

/** The path to the peer with one wire id: what a wire is opened with and what a hot-swap
 * prepares. A path to the same peer as `known` reuses its next hop: resolving it spawns `ip`,
 * and a fork() of a process whose workers are forwarding stalls them (copy-on-write faults). */
export async function udpPathTo(s: Pick<UdpEndSettings, 'underlayPort' | 'local' | 'peer' | 'wireId'>, known?: UdpPathSettings): Promise<UdpPathSettings> {
  const sameHop = known && known.remoteIp === s.peer.ip && known.underlay === s.underlayPort;
  return {
    wireId: s.wireId,
    underlay: s.underlayPort,
    localMac: s.local.mac,
    nextHopMac: sameHop ? known.nextHopMac : await resolveNextHop(s.local, s.peer.ip),
    localIp: s.local.ip,
    remoteIp: s.peer.ip,
    remotePort: s.peer.udpPort,
    // Both ends must fit the smaller MTU: a frame one side can send, the other must carry back.
    underlayMtu: Math.min(s.local.mtu, s.peer.mtu),
  };
}

export async function openUdpEnd(s: UdpEndSettings): Promise<UdpWire> {
  return s.engine.addUdpWire({
    ...(await udpPathTo(s)),
    ...(s.domain === undefined ? {} : { domain: s.domain }),
    ...(s.keepaliveMs === undefined ? {} : { keepaliveMs: s.keepaliveMs }),
  });
}

export { DEFAULT_WIRE_UDP_PORT };
