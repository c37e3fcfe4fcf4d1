// `banana bench compare`: matches results across two reports, compares ratios (or values when
// there is no baseline), knows which direction is better, and fails on a regression.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareReports } from '../bench/compare.js';
import type { BenchReport, BenchResult } from '../bench/contract.js';
import { banana } from './support/banana-cli.js';

const r = (metric: BenchResult['metric'], value: number, ratio: number | null, frameBytes: number | null = 64): BenchResult => ({
  scenario: 'wire-udp', frameBytes, metric, value, unit: 'x', baseline: ratio === null ? null : 'kernel-vxlan', baselineValue: ratio === null ? null : 1, ratio,
});
const report = (results: BenchResult[]): BenchReport => ({ machine: { cpu: 'x', cores: 2, kernel: 'k', memoryGiB: 1, node: 'v20', date: 'd' } as BenchReport['machine'], results });

describe('bench compare', () => {
  it('compares ratios, in the right direction per metric', () => {
    const a = report([r('mpps', 0.5, 2.0), r('rtt_p50_us', 20, 0.5), r('decisions_per_s', 1e6, null, null)]);
    const b = report([r('mpps', 0.9, 1.6), r('rtt_p50_us', 30, 0.4), r('decisions_per_s', 1.2e6, null, null), r('lost', 0, null)]);
    const { changes, onlyIn } = compareReports(a, b, 10);
    const by = (m: string) => changes.find((c) => c.key.includes(` ${m} `))!;
    // Absolute Mpps rose, but the ratio to the baseline fell 20%: a regression.
    expect(by('mpps')).toMatchObject({ on: 'ratio', before: 2, after: 1.6, betterPct: -20, regression: true });
    // A lower RTT ratio is better.
    expect(by('rtt_p50_us')).toMatchObject({ on: 'ratio', betterPct: 20, regression: false });
    expect(by('decisions_per_s')).toMatchObject({ on: 'value', betterPct: 20, regression: false });
    expect(onlyIn).toEqual(['only in B: wire-udp 64 B lost vs -']);
  });

  it('exits 1 on a regression and 0 otherwise, as a command', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'banana-compare-'));
    const [a, b] = [join(dir, 'a.json'), join(dir, 'b.json')];
    writeFileSync(a, JSON.stringify(report([r('mpps', 0.5, 2.0)])));
    writeFileSync(b, JSON.stringify(report([r('mpps', 0.5, 1.5)])));
    const worse = await banana(['bench', 'compare', a, b]);
    expect(worse.code).toBe(1);
    expect(worse.out).toMatch(/wire-udp 64 B mpps vs kernel-vxlan\s+ratio\s+2\s+1\.5\s+-25%\s+REGRESSION/);
    expect((await banana(['bench', 'compare', a, b, '--threshold', '30'])).code).toBe(0);
    writeFileSync(b, '{"nope": 1}');
    expect((await banana(['bench', 'compare', a, b])).err).toMatch(/b\.json: results: missing/);
  });
});
