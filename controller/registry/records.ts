/** What the registry stores, and the checks every record passes before it is written (and
 * again when it is read back, so a hand-edited file cannot smuggle in a bad record). */
import { isIPv4, isIPv6 } from 'node:net';
import { RegistryError } from './errors.js';

/** A host running bananad. */
export interface HostRecord {
  /** Host name; also the first segment of its endpoints' ids. [A-Za-z0-9][A-Za-z0-9._-]{0,62} */
  readonly name: string;
  /** Placement hints; the controller reads `site`, `cluster` and `rack` for proximity. */
  readonly labels: Readonly<Record<string, string>>;
  /** Where this host's controller listens: `host:port` (IPv6 in brackets). */
  readonly controller: string;
  /** The host's address on the underlay (IPv4), where its udp/tunnel wires terminate. */
  readonly underlay: string;
  /** ISO 8601 time of the last write. The registry sets it; a caller's value is replaced. */
  readonly updatedAt: string;
}

/** What putHost takes: the registry stamps updatedAt itself. */
export type HostInput = Omit<HostRecord, 'updatedAt'> & { readonly updatedAt?: string };

export type EndpointKind = 'corm' | 'spike';
export const ENDPOINT_KINDS: readonly EndpointKind[] = ['corm', 'spike'];

/** A NIC-like attachment point: a Corm's software VF or a Spike's vNIC backend. */
export interface EndpointRecord {
  /** `<host>/<segment>/...`, e.g. `hostA/nic0/vf1`; the first segment is `host`. */
  readonly id: string;
  readonly kind: EndpointKind;
  readonly host: string;
  /** Unicast MAC, stored lower case. */
  readonly mac: string;
  /** Free-form facts for placement (profile, numa node, vm name...). */
  readonly attributes: Readonly<Record<string, string>>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const MAP_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_MAP_ENTRIES = 64;
const MAX_VALUE_LENGTH = 1024;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

type Fail = (field: string, reason: string) => never;

function failer(key: string): Fail {
  return (field, reason) => {
    throw new RegistryError('invalid', `${field}: ${reason}`, { key, field });
  };
}

// Unknown fields are rejected rather than dropped: a typo such as `lables` would otherwise
// silently lose data that a later reader expects.
function onlyFields(raw: Json, allowed: readonly string[], fail: Fail): void {
  for (const f of Object.keys(raw)) if (!allowed.includes(f)) fail(f, 'is not a known field');
}

export function isValidName(s: unknown): s is string {
  return typeof s === 'string' && NAME.test(s);
}

function name(raw: Json, field: string, fail: Fail): string {
  const v = raw[field];
  if (!isValidName(v)) fail(field, `must match ${NAME.source}, got ${JSON.stringify(v)}`);
  return v as string;
}

function stringMap(raw: Json, field: string, fail: Fail): Record<string, string> {
  const v = raw[field] ?? {};
  if (!isObj(v)) return fail(field, 'must be an object of strings');
  const entries = Object.entries(v);
  if (entries.length > MAX_MAP_ENTRIES) fail(field, `must have at most ${MAX_MAP_ENTRIES} entries`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!MAP_KEY.test(k)) fail(`${field}.${k}`, `key must match ${MAP_KEY.source}`);
    if (typeof val !== 'string') fail(`${field}.${k}`, 'must be a string');
    if ((val as string).length > MAX_VALUE_LENGTH) fail(`${field}.${k}`, `must be at most ${MAX_VALUE_LENGTH} characters`);
    out[k] = val as string;
  }
  return out;
}

/** Checks `host:port`, the form the controller API dials. */
export function checkAddress(s: unknown): string | undefined {
  if (typeof s !== 'string') return 'must be a string host:port';
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return `must be host:port (IPv6 in brackets), got ${JSON.stringify(s)}`;
  const [, v6, host, port] = m;
  if (v6 !== undefined && !isIPv6(v6)) return `${JSON.stringify(v6)} is not an IPv6 address`;
  if (host !== undefined && !isIPv4(host) && !HOSTNAME.test(host)) return `${JSON.stringify(host)} is not an IPv4 address or host name`;
  const p = Number(port);
  if (p < 1 || p > 65535) return `port must be 1-65535, got ${port}`;
  return undefined;
}

export function validateHost(raw: unknown, now: Date = new Date()): HostRecord {
  const key = isObj(raw) && typeof raw.name === 'string' ? `hosts/${raw.name}` : 'hosts/?';
  const fail = failer(key);
  if (!isObj(raw)) return fail('(record)', 'must be an object');
  onlyFields(raw, ['name', 'labels', 'controller', 'underlay', 'updatedAt'], fail);
  const hostName = name(raw, 'name', fail);
  const labels = stringMap(raw, 'labels', fail);
  const bad = checkAddress(raw.controller);
  if (bad !== undefined) fail('controller', bad);
  if (typeof raw.underlay !== 'string' || !isIPv4(raw.underlay)) fail('underlay', `must be an IPv4 address, got ${JSON.stringify(raw.underlay)}`);
  return { name: hostName, labels, controller: raw.controller as string, underlay: raw.underlay as string, updatedAt: now.toISOString() };
}

/** Checks a stored host, keeping its updatedAt (validateHost would restamp it). */
export function validateStoredHost(raw: unknown): HostRecord {
  const at = isObj(raw) ? raw.updatedAt : undefined;
  const key = isObj(raw) && typeof raw.name === 'string' ? `hosts/${raw.name}` : 'hosts/?';
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) failer(key)('updatedAt', 'must be an ISO 8601 time');
  return validateHost(raw, new Date(at as string));
}

export function validateEndpoint(raw: unknown): EndpointRecord {
  const key = isObj(raw) && typeof raw.id === 'string' ? `endpoints/${raw.id}` : 'endpoints/?';
  const fail = failer(key);
  if (!isObj(raw)) return fail('(record)', 'must be an object');
  onlyFields(raw, ['id', 'kind', 'host', 'mac', 'attributes'], fail);
  const host = name(raw, 'host', fail);
  const id = raw.id;
  if (typeof id !== 'string') return fail('id', 'must be a string <host>/<segment>/...');
  const segments = id.split('/');
  if (segments.length < 2 || !segments.every((s) => NAME.test(s))) {
    fail('id', `must be <host>/<segment>/... with segments matching ${NAME.source}, got ${JSON.stringify(id)}`);
  }
  if (segments[0] !== host) fail('id', `must start with its host ${JSON.stringify(host)}, got ${JSON.stringify(id)}`);
  if (!ENDPOINT_KINDS.includes(raw.kind as EndpointKind)) fail('kind', `must be corm or spike, got ${JSON.stringify(raw.kind)}`);
  const mac = typeof raw.mac === 'string' ? raw.mac.toLowerCase() : '';
  if (!MAC.test(mac)) fail('mac', `must be a MAC address aa:bb:cc:dd:ee:ff, got ${JSON.stringify(raw.mac)}`);
  // An endpoint is a NIC: a multicast or all-zero address could never be its source address.
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) fail('mac', `must be unicast, ${mac} has the multicast bit set`);
  if (mac === '00:00:00:00:00:00') fail('mac', 'must not be all zeros');
  const attributes = stringMap(raw, 'attributes', fail);
  return { id, kind: raw.kind as EndpointKind, host, mac, attributes };
}
