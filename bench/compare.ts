/** `banana bench compare A.json B.json [--threshold PCT]`: what changed between two runs of the
 * suite. Results are matched by scenario, frame size, metric and baseline. Ratios to the
 * baseline measured in the same run are compared (absolute numbers drift on a noisy machine);
 * without a baseline the values are. A change for the worse beyond the threshold (default 10%)
 * is a regression and makes the command exit 1. */
import { readFileSync } from 'node:fs';
import type { BenchReport, BenchResult, Metric } from './contract.js';

/** Metrics where more is better; for the rest (latencies, loss, gaps) less is better. */
const HIGHER_IS_BETTER: ReadonlySet<Metric> = new Set(['mpps', 'gbps', 'decisions_per_s']);

export interface Change {
  key: string;
  before: number;
  after: number;
  /** Compared quantity: 'ratio' when both runs have a baseline, else 'value'. */
  on: 'ratio' | 'value';
  /** Relative change in percent, signed so that negative is worse. */
  betterPct: number;
  regression: boolean;
}

const keyOf = (r: BenchResult) => `${r.scenario} ${r.frameBytes ?? '-'} B ${r.metric} vs ${r.baseline ?? '-'}`;

function load(file: string): BenchReport {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a bench JSON report: ${(e as Error).message}`);
  }
  const r = raw as Partial<BenchReport>;
  if (!Array.isArray(r.results)) throw new Error(`${file}: results: missing (expected the output of banana bench --json)`);
  return r as BenchReport;
}

export function compareReports(a: BenchReport, b: BenchReport, thresholdPct: number): { changes: Change[]; onlyIn: string[] } {
  const before = new Map(a.results.map((r) => [keyOf(r), r]));
  const changes: Change[] = [];
  const onlyIn: string[] = [];
  for (const r of b.results) {
    const k = keyOf(r);
    const p = before.get(k);
    before.delete(k);
    if (!p) {
      onlyIn.push(`only in B: ${k}`);
      continue;
    }
    const on = p.ratio !== null && r.ratio !== null ? 'ratio' : 'value';
    const x = on === 'ratio' ? (p.ratio as number) : p.value;
    const y = on === 'ratio' ? (r.ratio as number) : r.value;
    const rel = x === 0 ? (y === 0 ? 0 : Infinity) : ((y - x) / Math.abs(x)) * 100;
    const betterPct = HIGHER_IS_BETTER.has(r.metric) ? rel : -rel;
    changes.push({ key: k, before: x, after: y, on, betterPct: Math.round(betterPct * 10) / 10, regression: betterPct < -thresholdPct });
  }
  for (const k of before.keys()) onlyIn.push(`only in A: ${k}`);
  return { changes, onlyIn };
}

export function runCompare(args: string[]): number {
  const files = args.filter((x, i) => !x.startsWith('--') && args[i - 1] !== '--threshold');
  const t = args.indexOf('--threshold');
  const threshold = t >= 0 ? Number(args[t + 1]) : 10;
  if (files.length !== 2 || !Number.isFinite(threshold) || threshold < 0) {
    process.stderr.write('usage: banana bench compare A.json B.json [--threshold PCT]\n');
    return 2;
  }
  let res;
  try {
    res = compareReports(load(files[0]!), load(files[1]!), threshold);
  } catch (e) {
    process.stderr.write(`banana bench compare: ${(e as Error).message}\n`);
    return 2;
  }
  const rows = [['result', 'on', 'A', 'B', 'better by', ''], ...res.changes.map((c) => [c.key, c.on, String(c.before), String(c.after), `${c.betterPct > 0 ? '+' : ''}${c.betterPct}%`, c.regression ? 'REGRESSION' : ''])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(`${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`);
  for (const o of res.onlyIn) process.stdout.write(`${o}\n`);
  const bad = res.changes.filter((c) => c.regression).length;
  process.stdout.write(`${bad} regression(s) beyond ${threshold}%\n`);
  return bad > 0 ? 1 : 0;
}
