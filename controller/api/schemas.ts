/** Request schemas of the controller API (zod): the server validates with them and the
 * OpenAPI document is generated from them. */
import { z } from 'zod';
import { isValidName } from '../registry/index.js';

export const nameSchema = z.string().refine(isValidName, { message: 'must be 1-63 characters [A-Za-z0-9._-], starting with a letter or digit' });

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
export const macSchema = z
  .string()
  .transform((s) => s.toLowerCase())
  .refine((s) => MAC.test(s), { message: 'must be a MAC address aa:bb:cc:dd:ee:ff' })
  .refine((s) => (parseInt(s.slice(0, 2), 16) & 1) === 0, { message: 'must be unicast (the multicast bit is set)' });

export const endpointIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,62})+$/, {
  message: 'must be an endpoint id <host>/<name>',
});

export const createSpikeBody = z.strictObject({
  name: nameSchema,
  ifname: z.string().min(1).max(15),
  /** Namespace of the interface; default: the host's. */
  netns: z.string().default(''),
  mac: macSchema,
  tenant: z.string().min(1).max(63).optional(),
});

export const connectBody = z
  .strictObject({
    /** Corm endpoint id, `<host>/<corm>`. */
    corm: endpointIdSchema.optional(),
    /** Or any Corm on this device network: the closest that fits, re-chosen as things move. */
    network: nameSchema.optional(),
    type: z.enum(['auto', 'local', 'udp']).default('auto'),
  })
  .refine((b) => (b.corm === undefined) !== (b.network === undefined), { message: 'give exactly one of corm and network', path: ['corm'] });

export const spikeParams = z.strictObject({ name: nameSchema });
export const wireParams = z.strictObject({ id: z.coerce.number().int().min(1).max(2 ** 32 - 1) });

/** A wire round-trip measurement: echoes, and each one's size as an inner frame. */
export const wireRttBody = z.strictObject({ count: z.number().int().min(1).max(4096).optional(), bytes: z.number().int().min(0).max(9216).optional() });

export const endpointQuery = z.strictObject({
  host: nameSchema.optional(),
  kind: z.enum(['corm', 'spike']).optional(),
});

const underlaySchema = z.strictObject({
  ip: z.ipv4(),
  mtu: z.number().int().min(576).max(65535),
  udpPort: z.number().int().min(1).max(65535),
});

/** One end of an rdma wire's queue pair (RdmaEndpoint), as the Spike and Corm hosts exchange it. */
const rdmaEndpointSchema = z.strictObject({
  qpn: z.number().int().min(1).max(0xffffff), psn: z.number().int().min(0).max(0xffffff), gid: z.string().min(2).max(64),
  gidIndex: z.number().int().min(0).max(255), lid: z.number().int().min(0).max(0xffff), creditAddr: z.string().regex(/^\d{1,20}$/),
  creditRkey: z.number().int().min(0).max(2 ** 32 - 1), mtu: z.number().int().min(1).max(5), maxMsg: z.number().int().min(64).max(65536),
});

export const openCormEndBody = z.strictObject({
  wireId: z.number().int().min(1).max(2 ** 32 - 1),
  corm: nameSchema,
  spike: endpointIdSchema,
  spikeMac: macSchema,
  tenant: z.string().min(1).max(63).optional(),
  underlay: underlaySchema,
  rdma: rdmaEndpointSchema.optional(),
});

/** Operator: hot-swap a Spike's wire; the type defaults to the one it has. */
export const swapBody = z.strictObject({ type: z.enum(['local', 'udp', 'tunnel', 'rdma']).optional() });

/** Peer: one step of a hot-swap of a Corm end the caller opened. */
export const peerSwapBody = z.discriminatedUnion('step', [
  z.strictObject({
    step: z.literal('prepare'), wireId: z.number().int().min(1).max(2 ** 32 - 1), underlay: underlaySchema,
    /** A migration: the Spike's end moves to this host and endpoint id. */
    to: z.strictObject({ host: nameSchema, spike: endpointIdSchema }).optional(),
    /** A swap to rdma: the Spike end's new queue pair. */
    rdma: rdmaEndpointSchema.optional(),
  }),
  z.strictObject({ step: z.literal('cutover') }),
  z.strictObject({ step: z.literal('finish') }),
  z.strictObject({ step: z.literal('quiesce') }),
  z.strictObject({ step: z.literal('switch') }),
  z.strictObject({ step: z.literal('abort') }),
]);

/** Operator: move a Spike's backend to another host with its VM, in phases or all at once. */
export const migrateBody = z.strictObject({
  to: nameSchema,
  phase: z.enum(['prepare', 'quiesce', 'attach', 'switch', 'resume', 'abort', 'all']).default('all'),
  /** phase all: how long to wait for the interface to show up on the target. */
  waitMs: z.number().int().min(0).max(600_000).default(30_000),
});

/** Peer: the target host of a migration takes the Spike in (its interface arrives later). */
export const adoptSpikeBody = z.strictObject({
  name: nameSchema,
  ifname: z.string().min(1).max(15),
  mac: macSchema,
  tenant: z.string().min(1).max(63).optional(),
  corm: endpointIdSchema,
  cormHost: nameSchema,
  requested: z.enum(['auto', 'local', 'udp']),
  network: nameSchema.optional(),
  wireId: z.number().int().min(1).max(2 ** 32 - 1),
  cormUnderlay: underlaySchema,
});

export const explainQuery = z.strictObject({ spike: nameSchema, corm: endpointIdSchema });

const wireTypeSchema = z.enum(['local', 'udp', 'tunnel', 'rdma']);
export const policyBody = z.strictObject({ pin: wireTypeSchema.optional(), forbid: z.array(wireTypeSchema).optional() });
export const labelsBody = z.record(z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/), z.string().max(1024));
