/** Sets up both ends of a `udp` wire between two engines whose hosts share an underlay. The
 * controller does the same per host after agreeing on the wire id with its peer. */
import { DEFAULT_WIRE_UDP_PORT, type Engine, type Port, type UdpWire } from '../../dataplane/lib/index.js';
import { describeUnderlay, resolveNextHop, type UnderlayInterface } from './underlay.js';

export interface WireEnd {
  engine: Engine;
  /** The end's underlay port (added with `underlay: { udpPort }`). */
  underlay: Port;
}

export interface UdpWireOptions {
  wireId: number;
  keepaliveMs?: number;
}

async function end(e: WireEnd, local: UnderlayInterface, remote: UnderlayInterface, o: UdpWireOptions): Promise<UdpWire> {
  const nextHopMac = await resolveNextHop(local, remote.ip);
  return e.engine.addUdpWire({
    wireId: o.wireId,
    underlay: e.underlay,
    localMac: local.mac,
    nextHopMac,
    localIp: local.ip,
    remoteIp: remote.ip,
    remotePort: DEFAULT_WIRE_UDP_PORT,
    // Both ends must fit the smaller MTU: a frame one side can send, the other must carry back.
    underlayMtu: Math.min(local.mtu, remote.mtu),
    ...(o.keepaliveMs === undefined ? {} : { keepaliveMs: o.keepaliveMs }),
  });
}

export async function connectUdpWire(a: WireEnd, b: WireEnd, o: UdpWireOptions): Promise<[UdpWire, UdpWire]> {
  const ua = await describeUnderlay(a.underlay.netns, a.underlay.ifname);
  const ub = await describeUnderlay(b.underlay.netns, b.underlay.ifname);
  const wa = await end(a, ua, ub, o);
  try {
    return [wa, await end(b, ub, ua, o)];
  } catch (e) {
    wa.close();
    throw e;
  }
}
