/** What the verbs say of the RDMA device a host's rdma wires use, next to what its hardware
 * profile promises: the device's port, transport, MTU and limits from discovery
 * (`rdmaDevices()`), the profile matched from its driver, and every disagreement between the two
 * named (a profile that is wrong for the hardware in front of it should be seen, not trusted). */
import type { RdmaDevice } from '../../dataplane/lib/index.js';
import type { HwProfile } from './profile-schema.js';

export interface RdmaFacts {
  device: string;
  /** The hardware profile matched from the device's driver; null if none. */
  profile: string | null;
  port: number;
  active: boolean;
  /** From the port's GIDs: roce-v2 if it has a RoCE v2 GID, else roce-v1, ib. */
  transport: 'roce-v2' | 'roce-v1' | 'ib' | 'unknown';
  activeMtu: number;
  maxInline: number;
  maxQpWr: number;
  gids: number;
  /** Where discovery and the profile disagree, one sentence each. */
  mismatches: string[];
}

function transportOf(dev: RdmaDevice, port: number): RdmaFacts['transport'] {
  const p = dev.ports.find((x) => x.num === port);
  if (!p) return 'unknown';
  if (p.linkLayer === 'infiniband') return 'ib';
  if (p.gids.some((g) => g.type === 'RoCEv2')) return 'roce-v2';
  return p.gids.some((g) => g.type === 'RoCEv1') ? 'roce-v1' : 'unknown';
}

export function rdmaFacts(dev: RdmaDevice, profile: HwProfile | undefined, port = 1): RdmaFacts {
  const p = dev.ports.find((x) => x.num === port);
  const transport = transportOf(dev, port);
  const mismatches: string[] = [];
  const promised = profile?.rdma;
  if (profile && !promised) mismatches.push(`profile ${profile.name} describes no RDMA, but ${dev.name} is an RDMA device`);
  if (promised && transport !== 'unknown' && promised.transport !== transport)
    mismatches.push(`profile ${profile!.name} says ${promised.transport}, ${dev.name} port ${port} runs ${transport}`);
  if (promised && p && p.activeMtu > promised.maxMtu)
    mismatches.push(`${dev.name} port ${port} is at MTU ${p.activeMtu}, above profile ${profile!.name}'s maximum ${promised.maxMtu}`);
  if (!p) mismatches.push(`${dev.name} has no port ${port}`);
  return {
    device: dev.name, profile: profile?.name ?? null, port, active: p?.active ?? false, transport,
    activeMtu: p?.activeMtu ?? 0, maxInline: dev.maxInline, maxQpWr: dev.maxQpWr, gids: p?.gids.length ?? 0, mismatches,
  };
}
