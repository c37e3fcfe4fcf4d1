import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport, BenchResult } from './contract.js';

const fmt = (v: number | null) => (v === null ? '-' : String(v));

export function resultsTable(results: readonly BenchResult[]): string {
  const rows = [['scenario', 'frame B', 'metric', 'value', 'unit', 'baseline', 'baseline value', 'ratio']];
  for (const r of results) {
    rows.push([r.scenario, fmt(r.frameBytes), r.metric, fmt(r.value), r.unit, r.baseline ?? '-', fmt(r.baselineValue), r.ratio === null ? '-' : `${r.ratio}x`]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

export function markdown(scenario: string, report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `# banana bench ${scenario}`,
    '',
    `Measured ${m.date} on ${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, ${m.memoryGiB} GiB, Node ${m.node}.`,
    '',
    '| frame B | metric | banana | baseline | baseline value | ratio | runs (banana / baseline) |',
    '|---:|---|---:|---|---:|---:|---|',
  ];
  for (const r of report.results) {
    const d = r.detail ?? {};
    const runs = Array.isArray(d.runs) ? `${(d.runs as number[]).join(', ')} / ${((d.baselineRuns as number[] | undefined) ?? []).join(', ')}` : '';
    lines.push(`| ${fmt(r.frameBytes)} | ${r.metric} (${r.unit}) | ${r.value} | ${r.baseline ?? '-'} | ${fmt(r.baselineValue)} | ${r.ratio === null ? '-' : `${r.ratio}x`} | ${runs} |`);
  }
  const descriptions = new Map<string, string>();
  for (const r of report.results) {
    const d = r.detail ?? {};
    // The first result names the device under test; later ones (socket ping-pong) describe
    // themselves in their baselines.
    if (typeof d.dut === 'string' && !descriptions.has('banana')) descriptions.set('banana', d.dut);
    if (r.baseline && typeof d.baselineDescription === 'string') descriptions.set(r.baseline, d.baselineDescription);
  }
  lines.push('', 'Configurations:', '', ...[...descriptions].map(([k, v]) => `- **${k}**: ${v}`), '');
  return lines.join('\n');
}

/** Bar chart of value against baseline per frame size, as a small standalone SVG. */
export function svgChart(title: string, results: readonly BenchResult[]): string {
  const rows = results.filter((r) => r.baselineValue !== null);
  const max = Math.max(1e-9, ...rows.flatMap((r) => [r.value, r.baselineValue ?? 0]));
  const barH = 14;
  const gap = 10;
  const left = 230;
  const width = 720;
  const height = 40 + rows.length * (2 * barH + gap);
  const scale = (v: number) => ((width - left - 90) * v) / max;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`, `<text x="10" y="20" font-size="14">${title}</text>`];
  rows.forEach((r, i) => {
    const y = 35 + i * (2 * barH + gap);
    parts.push(`<text x="10" y="${y + barH}">${r.frameBytes ?? ''} B vs ${r.baseline}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${scale(r.value)}" height="${barH - 2}" fill="#d4a017"/><text x="${left + scale(r.value) + 4}" y="${y + barH - 3}">banana ${r.value} ${r.unit}</text>`);
    parts.push(`<rect x="${left}" y="${y + barH}" width="${scale(r.baselineValue ?? 0)}" height="${barH - 2}" fill="#888"/><text x="${left + scale(r.baselineValue ?? 0) + 4}" y="${y + 2 * barH - 3}">${r.baselineValue} (${r.ratio}x)</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function writeReport(dir: string, scenario: string, report: BenchReport): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, `${scenario}.json`), join(dir, `${scenario}.md`), join(dir, `${scenario}.svg`)];
  writeFileSync(files[0]!, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(files[1]!, markdown(scenario, report));
  writeFileSync(files[2]!, svgChart(`banana bench ${scenario}`, report.results));
  return files;
}
