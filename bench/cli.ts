/** `banana bench SCENARIO [--quick] [--json] [--out DIR]`. */
import { join } from 'node:path';
import { repoRoot } from '../dataplane/lib/paths.js';
import type { BenchReport, BenchResult } from './contract.js';
import { runCompare } from './compare.js';
import { describeMachine } from './machine.js';
import { ProgressReporter, type Progress } from './progress.js';
import { resultsTable, writeReport } from './report.js';
import { FULL, QUICK, runForward } from './scenarios/forward.js';
import { CONTROLLER_FULL, CONTROLLER_QUICK, runControllerBench } from './scenarios/controller.js';
import { HOTSWAP_FULL, HOTSWAP_QUICK, runHotswapBench } from './scenarios/hotswap.js';
import { MIGRATE_FULL, MIGRATE_QUICK, runMigrateBench } from './scenarios/migrate.js';
import { runWireLocal } from './scenarios/wire-local.js';
import { WIRE_FULL, WIRE_QUICK } from './scenarios/wire-run.js';
import { runWireUdp } from './scenarios/wire-udp.js';
import { runWireRdma } from './scenarios/wire-rdma.js';

type Runner = (quick: boolean, progress: Progress) => Promise<BenchResult[]>;

const SCENARIOS: Record<string, Runner> = {
  forward: (quick, progress) => runForward({ ...(quick ? QUICK : FULL), progress }),
  'wire-udp': (quick, progress) => runWireUdp({ ...(quick ? WIRE_QUICK : WIRE_FULL), progress }),
  'wire-local': (quick, progress) => runWireLocal({ ...(quick ? WIRE_QUICK : WIRE_FULL), progress }),
  'wire-rdma': (quick, progress) => runWireRdma({ ...(quick ? WIRE_QUICK : WIRE_FULL), progress }, quick),
  hotswap: (quick, progress) => runHotswapBench({ ...(quick ? HOTSWAP_QUICK : HOTSWAP_FULL), progress }),
  migrate: (quick, progress) => runMigrateBench({ ...(quick ? MIGRATE_QUICK : MIGRATE_FULL), progress }),
  controller: (quick, progress) => runControllerBench({ ...(quick ? CONTROLLER_QUICK : CONTROLLER_FULL), progress }),
};

export async function runBenchCommand(args: string[]): Promise<number> {
  if (args[0] === 'compare') return runCompare(args.slice(1));
  const scenario = args.find((a) => !a.startsWith('--'));
  const quick = args.includes('--quick');
  const json = args.includes('--json');
  const outIdx = args.indexOf('--out');
  const known = ['--quick', '--json', '--out'];
  const unknown = args.filter((a, i) => a.startsWith('--') && !known.includes(a) && args[i - 1] !== '--out');
  if (!scenario || !SCENARIOS[scenario] || unknown.length > 0) {
    process.stderr.write(
      `banana bench: ${unknown.length ? `unknown option ${unknown[0]}` : `unknown scenario '${scenario ?? ''}'`}\n` +
        `usage: banana bench {${Object.keys(SCENARIOS).join('|')}} [--quick] [--json] [--out DIR]\n` +
        `       banana bench compare A.json B.json [--threshold PCT]\n`,
    );
    return 2;
  }
  const out = outIdx >= 0 ? args[outIdx + 1] : join(repoRoot(), 'bench', 'results', quick ? 'tmp' : '');
  if (!out) {
    process.stderr.write('banana bench: --out needs a directory\n');
    return 2;
  }
  // With --json, stdout carries only the document; progress goes to stderr (a bar on a TTY).
  const bar = new ProgressReporter(process.stderr);
  bar.report(`banana bench ${scenario}${quick ? ' (quick)' : ''}: baselines run interleaved in the same run`);
  let results: BenchResult[];
  try {
    results = await SCENARIOS[scenario](quick, bar.report);
  } finally {
    bar.end();
  }
  const report: BenchReport = { machine: describeMachine(), results };
  const files = writeReport(out, scenario, report);
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    process.stdout.write(`${resultsTable(results)}\n\nwritten: ${files.join(', ')}\n`);
  }
  return 0;
}
