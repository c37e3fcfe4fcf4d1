/** `banana`: the command-line interface. Subcommands are added per concern; each lives in its
 * own module and is loaded only when used. */
import { runBenchCommand } from '../../bench/cli.js';

const USAGE = `usage: banana <command> [options]

commands:
  demo                         switch real traffic between three simulated VMs, with live counters
  bench SCENARIO [--quick] [--json] [--out DIR]
                               run a benchmark scenario (forward) side by side with its baselines
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'demo': {
      const { runLocalSwitchDemo } = await import('../demo/local-switch.js');
      return (await runLocalSwitchDemo()) ? 0 : 1;
    }
    case 'bench':
      return runBenchCommand(rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`banana: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}
