/** `banana bench SCENARIO [--quick] [--json] [--out DIR] [--hosts FILE]`. */
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
import { loadClusterConfig } from './cluster/cluster-config.js';
import { runClusterWire } from './cluster/cluster-wire.js';

type Runner = (quick: boolean, progress: Progress) => Promise<BenchResult[]>;

/** Scenarios that also run on hosts given by config (`--hosts FILE`), with their wire type. */
const ON_CLUSTER: Record<string, 'udp' | 'rdma'> = { 'wire-udp': 'udp', 'wire-rdma': 'rdma' };

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
  const hostsIdx = args.indexOf('--hosts');
  const known = ['--quick', '--json', '--out', '--hosts'];
  const unknown = args.filter((a, i) => a.startsWith('--') && !known.includes(a) && args[i - 1] !== '--out' && args[i - 1] !== '--hosts');
  if (!scenario || !SCENARIOS[scenario] || unknown.length > 0) {
    process.stderr.write(
      `banana bench: ${unknown.length ? `unknown option ${unknown[0]}` : `unknown scenario '${scenario ?? ''}'`}\n` +
        `usage: banana bench {${Object.keys(SCENARIOS).join('|')}} [--quick] [--json] [--out DIR] [--hosts FILE]\n` +
        `       banana bench compare A.json B.json [--threshold PCT]\n`,
    );
    return 2;
  }
  const out = outIdx >= 0 ? args[outIdx + 1] : join(repoRoot(), 'bench', 'results', quick ? 'tmp' : '');
  if (!out) {
    process.stderr.write('banana bench: --out needs a directory\n');
    return 2;
  }
  const hostsFile = hostsIdx >= 0 ? args[hostsIdx + 1] : undefined;
  if (hostsIdx >= 0 && (!hostsFile || !ON_CLUSTER[scenario])) {
    process.stderr.write(`banana bench: --hosts ${hostsFile ? `applies to ${Object.keys(ON_CLUSTER).join(' and ')}, not ${scenario}` : 'needs a file'}\n`);
    return 2;
  }
  let cluster;
  try {
    cluster = hostsFile ? loadClusterConfig(hostsFile) : undefined;
  } catch (e) {
    process.stderr.write(`banana bench: ${(e as Error).message}\n`);
    return 2;
  }
  const run: Runner = cluster ? (q, progress) => runClusterWire(scenario as 'wire-udp', ON_CLUSTER[scenario]!, cluster, { ...(q ? WIRE_QUICK : WIRE_FULL), progress }) : SCENARIOS[scenario];
  // With --json, stdout carries only the document; progress goes to stderr (a bar on a TTY).
  const bar = new ProgressReporter(process.stderr);
  bar.report(`banana bench ${scenario}${quick ? ' (quick)' : ''}${cluster ? ` on the hosts of ${hostsFile}` : ''}: baselines run interleaved in the same run`);
  let results: BenchResult[];
  try {
    results = await run(quick, bar.report);
  } finally {
    bar.end();
  }
  const report: BenchReport = { machine: describeMachine(), results };
  // A cluster run is not this machine's result: it never overwrites the committed ones by default.
  const files = writeReport(cluster && outIdx < 0 ? join(out, 'cluster') : out, scenario, report);
  if (json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    process.stdout.write(`${resultsTable(results)}\n\nwritten: ${files.join(', ')}\n`);
  }
  return 0;
}
