/** `--hosts FILE`: the wire scenarios on a real cluster. Instead of namespaces on this machine
 * the bench drives hosts that already run bananad: it adds a test "VM" on the Spike host (a
 * namespace and a veth whose host end becomes a Spike), wires it to a Corm through the Spike
 * host's API, and runs the traffic tools on the hosts through each host's command prefix
 * (`["ssh", "root@node2"]`; `[]` for this machine). See bench/README.md. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const exec = z.array(z.string().min(1)).default([]);
const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'a MAC such as 02:ba:00:00:00:01');
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'an IPv4 address');

export const clusterConfigSchema = z.strictObject({
  /** The cluster's secret (or a file holding it): the bench signs its API requests as `cli`. */
  secret: z.string().min(16).optional(),
  secretFile: z.string().min(1).optional(),
  /** The host the test VM runs on: its daemon's API, how to run a command there, the namespace
   * of its interfaces (the daemon's `netns`; '' for its own) and its underlay address. */
  spike: z.strictObject({ host: z.string().min(1), api: z.string().min(3), exec, netns: z.string().default(''), underlayIp: ipv4 }),
  /** The Corm the VM is wired to, and its host's underlay address and command prefix (the
   * floor baseline runs a UDP socket server there). */
  corm: z.strictObject({ id: z.string().regex(/^[^/]+\/[^/]+$/, 'HOST/CORM'), exec, netns: z.string().default(''), underlayIp: ipv4 }),
  /** A machine on the Corm's network that answers the VM: its interface and addresses. */
  peer: z.strictObject({ exec, netns: z.string().default(''), ifname: z.string().min(1), ip: ipv4, mac }),
  /** The test VM: an address on the Corm's network (a free one) and its prefix length, a MAC. */
  vm: z.strictObject({ ip: ipv4, prefixLen: z.number().int().min(8).max(30), mac: mac.default('02:ba:be:c1:00:01') }),
  /** Where banana-traffic and udp-pingpong are on the hosts; default: this checkout's build
   * (a shared filesystem). */
  bin: z.string().min(1).optional(),
});

export type ClusterConfig = z.infer<typeof clusterConfigSchema>;
export type ClusterHost = { exec: string[]; netns: string };

export class ClusterConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'ClusterConfigError';
  }
}

/** Reads and checks the file; an error names the file and the field. */
export function loadClusterConfig(file: string): ClusterConfig & { secretValue: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ClusterConfigError(`${file}: ${(e as Error).message}`, file, '');
  }
  const r = clusterConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.');
    throw new ClusterConfigError(`${file}: ${field || '(top level)'}: ${issue.message}`, file, field);
  }
  const c = r.data;
  let secretValue = c.secret;
  if (!secretValue && c.secretFile) {
    try {
      secretValue = readFileSync(c.secretFile, 'utf8').trim();
    } catch (e) {
      throw new ClusterConfigError(`${file}: secretFile: ${(e as Error).message}`, file, 'secretFile');
    }
  }
  if (!secretValue) throw new ClusterConfigError(`${file}: secret or secretFile is required (the cluster's secret)`, file, 'secret');
  return { ...c, secretValue };
}
