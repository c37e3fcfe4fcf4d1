/** `banana`: the command-line interface. Subcommands are added per concern; each lives in its
 * own module and is loaded only when used. */
import { runBenchCommand } from '../../bench/cli.js';
import { API_COMMANDS, API_USAGE, runApiCommand } from './api-commands.js';
import { PKI_USAGE, runPkiCommand } from './pki-commands.js';
import { PROFILE_USAGE, runProfileCommand } from './profile-commands.js';

const USAGE = `usage: banana <command> [options]

commands:
  demo [local|cluster]         real traffic, live counters: three VMs switched by one host's engine
                               (local), then three hosts with their daemons, vm1 on hostB wired to
                               hostA's NIC over udp through the controller API (cluster)
  bench SCENARIO [--quick] [--json] [--out DIR]
                               run a benchmark scenario side by side with its baselines
hardware profiles:
${PROFILE_USAGE}
certificates (mutual TLS between controllers and for the CLI):
${PKI_USAGE}
controller (a host's bananad API):
${API_USAGE}
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'demo': {
      const which = rest[0] ?? 'all';
      if (!['all', 'local', 'cluster'].includes(which)) {
        process.stderr.write(`banana demo: unknown demo '${which}' (local, cluster)\n`);
        return 2;
      }
      let ok = true;
      if (which !== 'cluster') ok = (await (await import('../demo/local-switch.js')).runLocalSwitchDemo()) && ok;
      if (which !== 'local') ok = (await (await import('../demo/cluster-demo.js')).runClusterDemo()) && ok;
      return ok ? 0 : 1;
    }
    case 'bench':
      return runBenchCommand(rest);
    case 'profile':
      return runProfileCommand(rest);
    case 'pki':
      return runPkiCommand(rest);
    case 'connect':
      return runApiCommand(['spike', 'connect', ...rest]);
    case 'disconnect':
      return runApiCommand(['spike', 'disconnect', ...rest]);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      if (API_COMMANDS.has(cmd)) return runApiCommand(argv);
      process.stderr.write(`banana: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}
