/** Sets up both ends of a `udp` wire between two engines whose hosts share an underlay (tests,
 * demo, bench). The controller does the same one end per host after agreeing with its peer. */
import { DEFAULT_WIRE_UDP_PORT, type Engine, type Port, type UdpWire } from '../../dataplane/lib/index.js';
import { describeUnderlay } from './underlay.js';
import { openUdpEnd } from './udp-end.js';

export interface WireEnd {
  engine: Engine;
  /** The end's underlay port (added with `underlay: { udpPort }`). */
  underlay: Port;
}

export interface UdpWireOptions {
  wireId: number;
  keepaliveMs?: number;
}

export async function connectUdpWire(a: WireEnd, b: WireEnd, o: UdpWireOptions): Promise<[UdpWire, UdpWire]> {
  const ua = await describeUnderlay(a.underlay.netns, a.underlay.ifname);
  const ub = await describeUnderlay(b.underlay.netns, b.underlay.ifname);
  const common = { wireId: o.wireId, ...(o.keepaliveMs === undefined ? {} : { keepaliveMs: o.keepaliveMs }) };
  const wa = await openUdpEnd({ engine: a.engine, underlayPort: a.underlay, local: ua, peer: { ip: ub.ip, mtu: ub.mtu, udpPort: b.underlay.underlayUdpPort ?? DEFAULT_WIRE_UDP_PORT }, ...common });
  try {
    return [wa, await openUdpEnd({ engine: b.engine, underlayPort: b.underlay, local: ub, peer: { ip: ua.ip, mtu: ua.mtu, udpPort: a.underlay.underlayUdpPort ?? DEFAULT_WIRE_UDP_PORT }, ...common })];
  } catch (e) {
    wa.close();
    throw e;
  }
}
