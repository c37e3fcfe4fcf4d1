/** `banana profile ls | show NAME | detect IFACE [--netns NS] | validate FILE...`: the hardware
 * profiles, what an interface is detected as, and checking a profile file. Local: no daemon. */
import { parseArgs } from 'node:util';
import { detectInterface } from '../../hw-profiles/lib/detect.js';
import { loadProfileFile, loadProfiles } from '../../hw-profiles/lib/load-profiles.js';
import { ProfileError } from '../../hw-profiles/lib/profile-error.js';
import { planPort, rdmaProfiles, resolveProfile } from '../../hw-profiles/lib/resolve-profile.js';
import { formatTable } from './table.js';

export const PROFILE_USAGE = `  profile ls                   the hardware profiles (hw-profiles/)
  profile show NAME
  profile detect IFACE [--netns NS] [--profile NAME]
                               driver, queues, MTU, RDMA devices; the matching profile and the engine settings it gives
  profile validate FILE...     check profile files against the schema (errors name the file and field)
  (--dir DIR: another profile folder; --json)`;

export async function runProfileCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { netns: { type: 'string' }, profile: { type: 'string' }, dir: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [verb, ...args] = positionals;
  const print = (data: unknown, text: string) => process.stdout.write(`${v.json ? JSON.stringify(data, null, 2) : text}\n`);
  try {
    switch (verb) {
      case 'ls': {
        const ps = [...loadProfiles(v.dir).values()];
        print(ps, formatTable(['profile', 'kind', 'drivers', 'Gbit/s', 'native XDP', 'zero-copy', 'RDMA', 'DPDK PMD', 'description'], ps.map((p) => [
          p.name, p.kind, p.match.drivers.join(','), p.lineRateGbps === null ? '-' : String(p.lineRateGbps),
          p.xdp.native ? (p.xdp.nativeMaxMtu ? `yes (mtu <= ${p.xdp.nativeMaxMtu})` : 'yes') : 'no', p.afXdp.zeroCopy ? 'yes' : 'no',
          p.rdma ? p.rdma.transport : '-', p.dpdk.pmd ?? '-', p.description,
        ])));
        return 0;
      }
      case 'show': {
        const p = loadProfiles(v.dir).get(args[0] ?? '');
        if (!p) throw new ProfileError(v.dir ?? 'hw-profiles', 'name', `no profile named ${args[0] ?? '(none given)'}`);
        print(p, JSON.stringify(p, null, 2));
        return 0;
      }
      case 'detect': {
        if (!args[0]) throw new ProfileError('(command line)', 'IFACE', 'name the interface to detect');
        const profiles = loadProfiles(v.dir);
        const d = await detectInterface(v.netns ?? '', args[0]);
        const r = resolveProfile(d, profiles, v.profile);
        const plan = planPort(d, r.profile);
        const rdma = rdmaProfiles(d, profiles);
        print({ detected: d, profile: r.profile.name, source: r.source, plan, rdma: rdma.map((x) => ({ device: x.device, netdev: x.netdev, profile: x.profile.name })) }, [
          `${d.ifname}: driver ${d.driver}, mtu ${d.mtu}, ${d.rxQueues} rx / ${d.txQueues} tx queues`,
          `profile: ${r.profile.name} (${r.source === 'override' ? 'named by override' : `matched driver ${d.driver}`})`,
          `engine: mode ${plan.mode}, zero-copy ${plan.zeroCopy}, queues ${plan.queues}, ring ${plan.ringSize}, busy-poll ${plan.busyPoll ? `budget ${plan.busyPoll.budget} usecs ${plan.busyPoll.usecs}` : 'off'}`,
          ...plan.reasons.map((x) => `  ${x}`),
          `RDMA devices: ${rdma.length ? rdma.map((x) => `${x.device} on ${x.netdev || '-'} (${x.profile.name})`).join(', ') : 'none'}`,
        ].join('\n'));
        return 0;
      }
      case 'validate': {
        if (args.length === 0) throw new ProfileError('(command line)', 'FILE', 'name at least one file');
        for (const f of args) loadProfileFile(f);
        print({ valid: args }, args.map((f) => `${f}: valid`).join('\n'));
        return 0;
      }
      default:
        process.stderr.write(`banana profile: unknown command '${verb ?? ''}'\n${PROFILE_USAGE}\n`);
        return 2;
    }
  } catch (e) {
    if (e instanceof ProfileError || (e as Error).name === 'DetectError') {
      process.stderr.write(`banana profile: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}
