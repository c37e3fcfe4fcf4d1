/** `banana`: the command-line interface. Subcommands are added per concern; each lives in its
 * own module and is loaded only when used. */
import { runBenchCommand } from '../../bench/cli.js';
import { API_COMMANDS, API_USAGE, runApiCommand } from './api-commands.js';

const USAGE = `usage: banana <command> [options]

commands:
  demo [local|wire]            real traffic through the engine, with live counters: three VMs on one
                               host (local), then a VM using another host's NIC over a udp wire (wire)
  bench SCENARIO [--quick] [--json] [--out DIR]
                               run a benchmark scenario side by side with its baselines
controller (a host's bananad API):
${API_USAGE}
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'demo': {
      const which = rest[0] ?? 'all';
      if (!['all', 'local', 'wire'].includes(which)) {
        process.stderr.write(`banana demo: unknown demo '${which}' (local, wire)\n`);
        return 2;
      }
      let ok = true;
      if (which !== 'wire') ok = (await (await import('../demo/local-switch.js')).runLocalSwitchDemo()) && ok;
      if (which !== 'local') ok = (await (await import('../demo/udp-wire.js')).runUdpWireDemo()) && ok;
      return ok ? 0 : 1;
    }
    case 'bench':
      return runBenchCommand(rest);
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
