/** The schema every hardware profile file passes at load (zod). Unknown keys are rejected: a
 * typo must not silently drop a fact. */
import { z } from 'zod';

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

export const profileSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/, { message: 'must be lower case letters, digits and dashes' }),
  description: z.string().min(1),
  /** ethernet: a NIC the dataplane binds; rdma: an RDMA device riding on a netdev (Soft-RoCE). */
  kind: z.enum(['ethernet', 'rdma']),
  match: z.strictObject({ drivers: z.array(z.string().min(1)).min(1) }),
  lineRateGbps: z.number().positive().nullable(),
  xdp: z.strictObject({
    native: z.boolean(),
    generic: z.boolean(),
    /** Largest MTU at which the driver accepts a native (single-buffer) XDP program. */
    nativeMaxMtu: z.number().int().min(68).optional(),
  }),
  afXdp: z.strictObject({
    zeroCopy: z.boolean(),
    zeroCopyMinKernel: z.string().regex(/^\d+\.\d+$/, { message: 'must be a kernel version like 6.11' }).optional(),
  }),
  queues: z.strictObject({ max: z.number().int().min(1) }),
  mtu: z.strictObject({ max: z.number().int().min(68) }),
  rdma: z
    .strictObject({
      transport: z.enum(['roce-v2', 'roce-v1', 'ib', 'iwarp']),
      maxMtu: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]),
    })
    .nullable(),
  dpdk: z.strictObject({ pmd: z.string().min(1).nullable() }),
  recommended: z.strictObject({
    mode: z.enum(['native', 'generic']),
    burst: z.union([z.literal(32), z.literal(64)]),
    ringSize: z.number().int().min(64).max(16384).refine(isPow2, { message: 'must be a power of two' }),
    umemFrames: z.number().int().min(256).refine(isPow2, { message: 'must be a power of two' }),
    busyPoll: z.union([z.literal(false), z.strictObject({ budget: z.number().int().min(1).max(65535), usecs: z.number().int().min(0).max(1_000_000) })]),
  }),
}).superRefine((p, ctx) => {
  if (p.recommended.mode === 'native' && !p.xdp.native) {
    ctx.addIssue({ code: 'custom', path: ['recommended', 'mode'], message: 'is native but xdp.native is false' });
  }
  if (p.xdp.nativeMaxMtu !== undefined && !p.xdp.native) {
    ctx.addIssue({ code: 'custom', path: ['xdp', 'nativeMaxMtu'], message: 'is set but xdp.native is false' });
  }
});

export type HwProfile = z.infer<typeof profileSchema>;
