/** What one end of a prospective wire can do: its host, labels, the wire types its controller
 * runs, its underlay MTU, its RDMA device (if any), and its policy. The Spike's side knows its
 * own; the Corm's side comes from the Corm's registry record. */
import type { WireType } from '../../wires/wire.js';

/** Every wire type the design knows, in tie-break order (the simpler type wins a tie). */
export const ALL_WIRE_TYPES = ['local', 'udp', 'tunnel', 'rdma'] as const;
export type AnyWireType = (typeof ALL_WIRE_TYPES)[number];

export interface WirePolicy {
  /** Use only this type (others are rejected with the reason "policy pins ..."). */
  pin?: AnyWireType;
  /** Never use these. */
  forbid?: AnyWireType[];
}

export interface EndCapabilities {
  host: string;
  labels: Readonly<Record<string, string>>;
  /** Wire types this end's controller can run. */
  wires: readonly WireType[];
  /** The underlay MTU (udp, tunnel). */
  underlayMtu: number;
  /** RDMA device on the underlay, if any, e.g. "rxe0 (roce-v2)". */
  rdma: string | null;
  policy: WirePolicy;
}

/** Attribute names of a Corm record that carry its host's capabilities. */
export const CAPABILITY_ATTRS = { wires: 'wires', underlayMtu: 'underlayMtu', rdma: 'rdma', pin: 'policyPin', forbid: 'policyForbid' } as const;

export function capabilitiesToAttributes(c: EndCapabilities): Record<string, string> {
  const a: Record<string, string> = { [CAPABILITY_ATTRS.wires]: c.wires.join(','), [CAPABILITY_ATTRS.underlayMtu]: String(c.underlayMtu) };
  if (c.rdma) a[CAPABILITY_ATTRS.rdma] = c.rdma;
  if (c.policy.pin) a[CAPABILITY_ATTRS.pin] = c.policy.pin;
  if (c.policy.forbid?.length) a[CAPABILITY_ATTRS.forbid] = c.policy.forbid.join(',');
  return a;
}

const isType = (s: string): s is AnyWireType => (ALL_WIRE_TYPES as readonly string[]).includes(s);

export function capabilitiesFromAttributes(host: string, labels: Readonly<Record<string, string>>, a: Readonly<Record<string, string>>): EndCapabilities {
  const list = (k: string) => (a[k] ?? '').split(',').filter(isType);
  const pin = a[CAPABILITY_ATTRS.pin];
  return {
    host,
    labels,
    wires: list(CAPABILITY_ATTRS.wires).filter((t): t is WireType => t === 'local' || t === 'udp' || t === 'rdma'),
    underlayMtu: Number(a[CAPABILITY_ATTRS.underlayMtu] ?? 0),
    rdma: a[CAPABILITY_ATTRS.rdma] ?? null,
    policy: { ...(pin && isType(pin) ? { pin } : {}), forbid: list(CAPABILITY_ATTRS.forbid) },
  };
}
