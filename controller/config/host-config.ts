/** The host configuration bananad reads: who this host is, which NICs it runs as Corms, its
 * underlay, its engine, the registry, where it listens and the cluster secret. Validated
 * before anything is touched; every rejection names the file and the field. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { checkAddress, isValidName } from '../registry/index.js';
import { ConfigError } from './config-error.js';

const name = z.string().refine(isValidName, { message: 'must be 1-63 characters [A-Za-z0-9._-], starting with a letter or digit' });
const ifname = z.string().min(1).max(15);
const xdpMode = z.enum(['auto', 'native', 'generic']);
const address = z.string().superRefine((s, ctx) => {
  const bad = checkAddress(s);
  if (bad !== undefined) ctx.addIssue({ code: 'custom', message: bad });
});

const busyPoll = z.union([
  z.literal(false),
  z.strictObject({ budget: z.number().int().min(1).max(65535).optional(), usecs: z.number().int().min(0).max(1_000_000).optional() }),
]);

/** A Corm's NIC. Unset fields come from its hardware profile (detected from the driver, or
 * named with `profile`); set ones override the profile. */
const corm = z.strictObject({
  /** Endpoint name: the Corm is `<host>/<name>`. */
  name,
  ifname,
  profile: z.string().optional(),
  mode: xdpMode.optional(),
  queues: z.union([z.number().int().min(1).max(64), z.literal('all')]).optional(),
  ringSize: z.number().int().min(64).max(16384).optional(),
  busyPoll: busyPoll.optional(),
  /** Who may attach Spikes (Netbus): other hosts by name (this host always may), and tenants
   * (a Spike's tenant). Unset: anyone in the cluster. */
  allow: z.strictObject({ hosts: z.array(name).optional(), tenants: z.array(z.string().min(1)).optional() }).optional(),
  /** The device network (Ethernet segment) the NIC sits on. Corms on one network are
   * equivalent: a Spike that asks for the network gets the closest, and moves between them
   * (make before break) as placement changes or one of them fails. */
  network: name.optional(),
});

const wireType = z.enum(['local', 'udp', 'tunnel', 'rdma']);

const engine = z.strictObject({
  workers: z.number().int().min(1).max(64).default(1),
  cpus: z.array(z.number().int().min(0)).optional(),
  /** Daemons share cores with everything else on a host: back off when idle by default. */
  idle: z
    .discriminatedUnion('policy', [
      z.strictObject({ policy: z.literal('busy') }),
      z.strictObject({ policy: z.literal('backoff'), spinLoops: z.number().int().min(0).optional(), maxSleepUs: z.number().int().min(1).optional() }),
    ])
    .default({ policy: 'backoff', spinLoops: 2000, maxSleepUs: 200 }),
  /** Default: the largest `recommended.umemFrames` of the Corms' profiles, at least 16384. */
  framesPerWorker: z.number().int().min(256).optional(),
  fdbAgeingMs: z.number().int().min(1).optional(),
});

export const hostConfigSchema = z.strictObject({
  host: name,
  /** Placement labels: site, cluster, rack... */
  labels: z.record(z.string(), z.string()).default({}),
  /** Network namespace holding this host's interfaces; '' (default) is the daemon's own. */
  netns: z.string().default(''),
  underlay: z.strictObject({
    ifname,
    udpPort: z.number().int().min(1).max(65535).default(7471),
    mode: xdpMode.default('auto'),
  }),
  corms: z.array(corm).default([]),
  /** Spike ports (VM backends) are many and light: smaller rings than a NIC's by default. */
  spikes: z.strictObject({ ringSize: z.number().int().min(64).max(16384).default(512) }).default({ ringSize: 512 }),
  engine: engine.default({ workers: 1, idle: { policy: 'backoff', spinLoops: 2000, maxSleepUs: 200 } }),
  /** embedded: files in a directory shared by the daemons of one machine (zero setup);
   * etcd: an etcd v3 cluster, the choice for real clusters. */
  registry: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('embedded'), dir: z.string().min(1) }),
    z.strictObject({ type: z.literal('etcd'), endpoints: z.array(z.url()).min(1), cluster: z.string().regex(/^[A-Za-z0-9._-]+$/).default('default') }),
  ]),
  /** Where the controller API listens, host:port. Peers dial it; the CLI too. */
  listen: address,
  /** The cluster's shared secret (at least 16 characters), or a file holding it. */
  secret: z.string().min(16).optional(),
  secretFile: z.string().min(1).optional(),
  /** rdma wires. `device`: the RDMA device they use (ibv_devices); default: the one the
   * underlay's hardware profile detects; none active: this host runs no rdma wires.
   * `holdDownMs`: after a queue pair to a host fails, how long wires to it avoid rdma (they
   * fail over to udp, and come back to rdma by hot-swap once this passes). */
  rdma: z.strictObject({ device: z.string().min(1).max(63).optional(), holdDownMs: z.number().int().min(100).max(3_600_000).default(30_000) }).optional(),
  /** Wire types this host pins or forbids (both ends' policies apply to a wire). */
  policy: z.strictObject({ pin: wireType.optional(), forbid: z.array(wireType).optional() }).default({}),
  /** Where the daemon's pid file lives (one daemon per host name). Default /run/banana. */
  runDir: z.string().min(1).default('/run/banana'),
  /** Folder of hardware profiles; default: the built-in hw-profiles/. */
  profileDir: z.string().optional(),
  /** Who may manage this host through its API (create Spikes, connect, set policy...): these
   * caller names (certificate CNs with TLS) and the host itself. Other hosts only reach the
   * peer routes. Default ['cli']. */
  operators: z.array(name).default(['cli']),
  /** Mutual TLS for the controller API (files from `banana pki`): peers and the CLI must present
   * a certificate from `ca`, and a caller is who its certificate says (CN). */
  tls: z.strictObject({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** A Corm end whose Spike side stays silent this long is removed. Default 30000 ms. */
  cormEndReapMs: z.number().int().min(1000).default(30_000),
  /** Keepalive period of this host's wires when idle; a peer silent for 3 periods + 20 ms is
   * down (default 20 ms: a dead peer is reported within 100 ms). */
  keepaliveMs: z.number().int().min(10).max(60_000).default(20),
});

/** PEM contents, read at load. */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

export type HostConfig = Omit<z.infer<typeof hostConfigSchema>, 'secret' | 'secretFile' | 'tls'> & { secret: string; tls?: TlsMaterial };
export type CormConfig = z.infer<typeof corm>;

function fieldOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '') || '(root)';
}

/** Validates parsed JSON. */
export function parseHostConfig(file: string, raw: unknown): HostConfig {
  const r = hostConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(file, fieldOf(issue.path), issue.message);
  }
  const { secret, secretFile, tls, ...rest } = r.data;
  if ((secret === undefined) === (secretFile === undefined)) throw new ConfigError(file, 'secret', 'give exactly one of secret and secretFile');
  let key = secret;
  if (secretFile !== undefined) {
    try {
      key = readFileSync(secretFile, 'utf8').trim();
    } catch (e) {
      throw new ConfigError(file, 'secretFile', `cannot read ${secretFile}: ${(e as Error).message}`);
    }
    if (key.length < 16) throw new ConfigError(file, 'secretFile', `${secretFile} must hold at least 16 characters`);
  }
  const names = new Set<string>();
  rest.corms.forEach((c, i) => {
    if (names.has(c.name)) throw new ConfigError(file, `corms[${i}].name`, `duplicate Corm name ${c.name}`);
    names.add(c.name);
  });
  let material: TlsMaterial | undefined;
  if (tls) {
    const read = (field: 'ca' | 'cert' | 'key'): string => {
      try {
        return readFileSync(tls[field], 'utf8');
      } catch (e) {
        throw new ConfigError(file, `tls.${field}`, `cannot read ${tls[field]}: ${(e as Error).message}`);
      }
    };
    material = { ca: read('ca'), cert: read('cert'), key: read('key') };
  }
  return { ...rest, secret: key as string, ...(material ? { tls: material } : {}) };
}

export function readHostConfig(file: string): HostConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, '(file)', `cannot read: ${(e as Error).message}`);
  }
  return parseHostConfig(file, raw);
}
