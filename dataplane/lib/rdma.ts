/** The `rdma` wire's carrier, seen from TypeScript: device discovery, and a queue pair that
 * is opened, told its peer's endpoint, and then carries one wire (see src/rdma_qp.h). */
import type { PortCounters } from './counters.js';
import { portErrorFrom, SettingsError } from './errors.js';
import { loadNative } from './native.js';

/** What one end of an RDMA wire tells the other, through the controllers' authenticated
 * channel, so both queue pairs can connect (JSON-safe: the address is a decimal string). */
export interface RdmaEndpoint {
  qpn: number;
  psn: number;
  /** GID in IPv6 form (RoCE v2 over IPv4: ::ffff:a.b.c.d). */
  gid: string;
  gidIndex: number;
  /** InfiniBand link layer only; 0 on RoCE. */
  lid: number;
  /** Where the peer writes how many receive buffers this end posted (flow control). */
  creditAddr: string;
  creditRkey: number;
  /** enum ibv_mtu of the port (1 = 256 B ... 5 = 4096 B). */
  mtu: number;
  /** Largest message (Banana header + frame) this end's receive buffers take. */
  maxMsg: number;
}

export interface RdmaGid {
  index: number;
  gid: string;
  type: 'IB' | 'RoCEv1' | 'RoCEv2';
}

export interface RdmaDevicePort {
  num: number;
  active: boolean;
  activeMtu: number;
  linkLayer: 'ethernet' | 'infiniband';
  gids: RdmaGid[];
}

export interface RdmaDevice {
  name: string;
  nodeGuid: string;
  maxQpWr: number;
  maxSge: number;
  maxCqe: number;
  /** Largest inline send a queue pair accepts (probed). */
  maxInline: number;
  ports: RdmaDevicePort[];
}

/** The RDMA devices this process can open. Throws a PortError (code ENOSYS here) when the
 * kernel has no RDMA at all; returns [] when it has RDMA but no device. */
export function rdmaDevices(): RdmaDevice[] {
  try {
    return loadNative().rdmaDevices();
  } catch (e) {
    throw portErrorFrom(e, {});
  }
}

export interface RdmaCarrierSettings {
  /** Device name (ibv_devices), e.g. mlx5_0 or rxe0. */
  device: string;
  /** 1-based port of the device. Default 1. */
  portNum?: number;
  /** GID to use; default: the first RoCE v2 GID over IPv4, else the first valid one. */
  gidIndex?: number;
  /** Receive buffers kept posted (power of two). Default 512. */
  rqDepth?: number;
  /** Send work requests in flight (power of two). Default 512. */
  sqDepth?: number;
}

export function checkCarrierSettings(s: RdmaCarrierSettings): Required<Omit<RdmaCarrierSettings, 'gidIndex'>> & { gidIndex: number } {
  if (typeof s.device !== 'string' || s.device === '') throw new SettingsError('rdma: device must name an RDMA device');
  const pow2 = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 64 || v > 65536 || (v & (v - 1)) !== 0) {
      throw new SettingsError(`rdma: ${name} must be a power of two in 64..65536, got ${v}`);
    }
    return v;
  };
  return {
    device: s.device,
    portNum: s.portNum ?? 1,
    gidIndex: s.gidIndex ?? -1,
    rqDepth: pow2('rqDepth', s.rqDepth ?? 512),
    sqDepth: pow2('sqDepth', s.sqDepth ?? 512),
  };
}

/** What the engine does for a carrier. */
export interface CarrierOwner {
  connectRdmaCarrier(c: RdmaCarrier, peer: RdmaEndpoint, waitForPeer: boolean): number;
  carrierCounters(c: RdmaCarrier): PortCounters;
}

/** One RC queue pair of the engine: opened (its endpoint goes to the peer), then connected
 * with the peer's; a wire is added on it with engine.addRdmaWire. */
export class RdmaCarrier {
  private maxMsg: number | undefined;

  constructor(
    private readonly owner: CarrierOwner,
    /** Engine-wide port id of the queue pair. */
    readonly id: number,
    /** The worker that polls it. */
    readonly worker: number,
    readonly device: string,
    /** This end's endpoint, for the peer. */
    readonly endpoint: RdmaEndpoint,
  ) {}

  /** INIT -> RTR -> RTS against the peer's endpoint; from then on its worker polls it.
   * `waitForPeer`: the peer connects only after this end (it is waiting for our endpoint, as
   * when a controller answers a peer's request): this end sends nothing until the peer has
   * written to it, since its queue pair may not take anything before. Without it, both ends
   * must be connected at about the same time (within the transport's retries, ~0.5 s). */
  connect(peer: RdmaEndpoint, opts: { waitForPeer?: boolean } = {}): void {
    this.maxMsg = this.owner.connectRdmaCarrier(this, peer, opts.waitForPeer ?? false);
    this.peerQpn = peer.qpn;
  }

  /** @internal the peer's queue pair, once connected */
  peerQpn = 0;

  /** The queue pair's own counters: messages sent and received (data, keepalives, markers),
   * receive buffers posted, credit writes, frames refused for lack of credit, errors. */
  counters(): PortCounters {
    return this.owner.carrierCounters(this);
  }

  get connected(): boolean {
    return this.maxMsg !== undefined;
  }

  /** Largest message both ends' receive buffers take (Banana header + frame). */
  get maxMessage(): number {
    return this.maxMsg ?? 0;
  }

  /** The peer, as a wire reports it. */
  get remote(): string {
    return `${this.device} qp ${this.peerQpn}`;
  }

  toString(): string {
    return `${this.device} qp ${this.endpoint.qpn}${this.connected ? ` -> qp ${this.peerQpn}` : ''}`;
  }
}

/** A path of an `rdma` wire (what a hot-swap to rdma prepares): a connected carrier. */
export interface RdmaPathSettings {
  wireId: number;
  carrier: RdmaCarrier;
}

export const isRdmaPath = (p: object): p is RdmaPathSettings => 'carrier' in p;

/** Why `name` cannot carry rdma wires on this machine (no RDMA in the kernel, no such device,
 * no active port), or null if it can. */
export function rdmaDeviceProblem(name: string): string | null {
  let devices: RdmaDevice[];
  try {
    devices = rdmaDevices();
  } catch (e) {
    return (e as Error).message;
  }
  const dev = devices.find((d) => d.name === name);
  if (!dev) return `no RDMA device named ${name} (this machine has: ${devices.map((d) => d.name).join(', ') || 'none'})`;
  return dev.ports.some((p) => p.active) ? null : `RDMA device ${name} has no active port`;
}
