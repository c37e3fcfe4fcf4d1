/** Wire choice as data (in the manner of UCX's wireup): every wire type is a candidate; each is
 * either rejected with a reason or scored from its expected latency, bandwidth and CPU cost at
 * this proximity; the lowest score wins and ties break on the type order. The inputs are put
 * in a canonical order first, so both peers compute the same answer. */
import { UDP_OVERHEAD } from './overheads.js';
import { ALL_WIRE_TYPES, type AnyWireType, type EndCapabilities } from './capabilities.js';
import { proximity, type Proximity } from './proximity.js';

export interface Expected {
  /** One-way latency added by the wire, microseconds (a model, not a measurement). */
  latencyUs: number;
  /** What one wire can carry, Gbit/s. */
  gbps: number;
  /** Host CPU per Gbit/s (relative: 1 = udp in the engine). */
  cpu: number;
}

export interface Candidate {
  type: AnyWireType;
  /** Present when the candidate is usable. Lower is better. */
  score?: number;
  expected?: Expected;
  /** Present when it is rejected: why. */
  reason?: string;
}

export interface Explanation {
  /** Canonical order: the lower host name first (the Spike's side on a tie). */
  ends: [string, string];
  proximity: Proximity;
  chosen: AnyWireType | null;
  candidates: Candidate[];
}

/** Distance adds latency the same for every type that crosses the network. */
const PATH_US: Record<Proximity, number> = { 'same-host': 0, 'same-rack': 5, 'same-cluster': 15, 'same-site': 60, remote: 2000 };

const MODEL: Record<AnyWireType, Expected> = {
  local: { latencyUs: 2, gbps: 40, cpu: 0.2 },
  udp: { latencyUs: 12, gbps: 10, cpu: 1 },
  tunnel: { latencyUs: 15, gbps: 6, cpu: 2.5 },
  rdma: { latencyUs: 4, gbps: 25, cpu: 0.3 },
};

/** Score weights: 1 µs of latency = 1 point; bandwidth and CPU enter as costs per Gbit/s. */
function scoreOf(e: Expected): number {
  return Math.round((e.latencyUs + 40 / e.gbps + 4 * e.cpu) * 1000) / 1000;
}

/** Largest payload an rdma wire carries with the engine's 4096-byte frames: 4096 - 256
 * headroom - 16 (Banana header) - 14 (inner Ethernet). */
export const RDMA_INNER_MTU = 3810;

/** Types this build can actually run; the others are rejected as such. */
const IMPLEMENTED: ReadonlySet<AnyWireType> = new Set(['local', 'udp', 'rdma']);

function reject(type: AnyWireType, a: EndCapabilities, b: EndCapabilities, prox: Proximity, innerMtu: number): string | undefined {
  for (const end of [a, b]) {
    if (end.policy.pin && end.policy.pin !== type) return `${type}: ${end.host}'s policy pins ${end.policy.pin}`;
    if (end.policy.forbid?.includes(type)) return `${type}: forbidden by ${end.host}'s policy`;
  }
  if (type === 'local') return prox === 'same-host' ? undefined : `local: not on the same host (${a.host} and ${b.host})`;
  if (prox === 'same-host') return `${type}: both ends are on ${a.host} (local joins them without a network)`;
  if (type === 'rdma') {
    const without = [a, b].find((e) => !e.rdma);
    if (without) return `rdma: ${without.host} has no RDMA device`;
  }
  if (!IMPLEMENTED.has(type)) return `${type}: not built in this version`;
  for (const end of [a, b]) if (!end.wires.includes(type as 'udp')) return `${type}: ${end.host} does not run ${type} wires`;
  if (type === 'rdma' && innerMtu > RDMA_INNER_MTU) return `rdma: inner MTU ${innerMtu} > ${RDMA_INNER_MTU} (a 4096-byte frame less headroom and headers)`;
  const underlay = Math.min(a.underlayMtu, b.underlayMtu);
  if (type === 'udp' && innerMtu > underlay - UDP_OVERHEAD) return `udp: inner MTU ${innerMtu} > underlay ${underlay} - ${UDP_OVERHEAD}`;
  return undefined;
}

/** Explains the choice between a Spike's end and a Corm's end. `innerMtu` is the MTU the
 * endpoints need carried (the vNIC's). */
export function chooseWire(spike: EndCapabilities, corm: EndCapabilities, innerMtu: number): Explanation {
  const [a, b] = spike.host <= corm.host ? [spike, corm] : [corm, spike];
  const prox = proximity(a, b);
  const candidates: Candidate[] = ALL_WIRE_TYPES.map((type) => {
    const reason = reject(type, a, b, prox, innerMtu);
    if (reason) return { type, reason };
    const m = MODEL[type];
    const expected = { ...m, latencyUs: m.latencyUs + PATH_US[prox] };
    return { type, score: scoreOf(expected), expected };
  });
  return { ends: [a.host, b.host], proximity: prox, chosen: best(candidates), candidates };
}

function best(candidates: Candidate[]): AnyWireType | null {
  let chosen: Candidate | undefined;
  for (const c of candidates) if (c.score !== undefined && (!chosen || c.score < chosen.score!)) chosen = c;
  return chosen?.type ?? null;
}

/** The explanation with `type` rejected for `reason` (a fact only this host knows, such as a
 * failed queue pair), and the choice made again without it. */
export function withRejected(x: Explanation, type: AnyWireType, reason: string): Explanation {
  const candidates = x.candidates.map((c) => (c.type === type && c.score !== undefined ? { type, reason } : c));
  return { ...x, chosen: best(candidates), candidates };
}

/** One line per candidate, for errors and the CLI. */
export function explainLines(x: Explanation): string[] {
  return [
    `${x.ends[0]} <-> ${x.ends[1]}: ${x.proximity}; chosen: ${x.chosen ?? 'none'}`,
    ...x.candidates.map((c) =>
      c.score !== undefined
        ? `  ${c.type === x.chosen ? '*' : ' '} ${c.type.padEnd(6)} score ${c.score} (latency ${c.expected!.latencyUs} us, ${c.expected!.gbps} Gbit/s, cpu ${c.expected!.cpu})`
        : `    ${c.type.padEnd(6)} rejected: ${c.reason}`,
    ),
  ];
}
