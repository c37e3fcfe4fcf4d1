import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cdfMarkdown, cdfSvg, latencyCdfsOf } from './cdf-chart.js';
import type { BenchReport, BenchResult } from './contract.js';
import type { Histogram } from './stats.js';

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
  const hists = histogramsOf(report.results);
  if (hists.length > 0) lines.push('## Distributions', '', ...hists.flatMap(histogramMarkdown));
  const cdfs = latencyCdfsOf(report.results);
  if (cdfs.length > 0) lines.push(...cdfMarkdown(cdfFile(scenario), cdfs));
  return lines.join('\n');
}

/** Distributions a scenario attaches to its results (`detail.histograms`), in order. */
export function histogramsOf(results: readonly BenchResult[]): Histogram[] {
  return results.flatMap((r) => (Array.isArray(r.detail?.histograms) ? (r.detail.histograms as Histogram[]) : []));
}

function histogramMarkdown(h: Histogram): string[] {
  const most = Math.max(1, ...h.bins.map((b) => b.count));
  return [
    `### ${h.title}`,
    '',
    `n = ${h.n}, p50 = ${h.p50} ${h.unit}, p99 = ${h.p99} ${h.unit}, max = ${h.max} ${h.unit}`,
    '',
    `| ${h.unit} | count | |`,
    '|---|---:|---|',
    ...h.bins.map((b) => `| ${b.from === b.to ? b.from : `${b.from} - ${b.to}`} | ${b.count} | ${'█'.repeat(Math.round((40 * b.count) / most))} |`),
    '',
  ];
}

const HIST_BAR = 12;
const histogramSvgHeight = (h: Histogram) => 34 + h.bins.length * (HIST_BAR + 3);

/** Horizontal bars, one per bin, under a title: `y` is where the block starts. */
function histogramSvg(h: Histogram, y: number, width: number, parts: string[]): void {
  const barH = HIST_BAR;
  const left = 150;
  const most = Math.max(1, ...h.bins.map((b) => b.count));
  parts.push(`<text x="10" y="${y + 14}" font-size="13">${h.title} (n ${h.n}, p50 ${h.p50}, p99 ${h.p99}, max ${h.max} ${h.unit})</text>`);
  h.bins.forEach((b, i) => {
    const by = y + 24 + i * (barH + 3);
    const w = ((width - left - 60) * b.count) / most;
    parts.push(`<text x="10" y="${by + barH - 2}">${b.from === b.to ? b.from : `${b.from} - ${b.to}`} ${h.unit}</text>`);
    parts.push(`<rect x="${left}" y="${by}" width="${w}" height="${barH}" fill="#d4a017"/><text x="${left + w + 4}" y="${by + barH - 2}">${b.count}</text>`);
  });
}

/** Bar chart of value against baseline per frame size, as a small standalone SVG. */
export function svgChart(title: string, results: readonly BenchResult[]): string {
  const rows = results.filter((r) => r.baselineValue !== null);
  // One scale per unit: frames lost and Mpps side by side would flatten one of them.
  const maxOf = new Map<string, number>();
  for (const r of rows) maxOf.set(r.unit, Math.max(maxOf.get(r.unit) ?? 1e-9, r.value, r.baselineValue ?? 0));
  const barH = 14;
  const gap = 10;
  const left = 230;
  const width = 720;
  const hists = histogramsOf(results);
  const chartH = 40 + rows.length * (2 * barH + gap);
  const height = chartH + hists.reduce((sum, h) => sum + histogramSvgHeight(h), 0);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`, `<text x="10" y="20" font-size="14">${title}</text>`];
  rows.forEach((r, i) => {
    const y = 35 + i * (2 * barH + gap);
    const scale = (v: number) => ((width - left - 90) * v) / (maxOf.get(r.unit) ?? 1);
    parts.push(`<text x="10" y="${y + barH}">${r.frameBytes ?? ''} B vs ${r.baseline}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${scale(r.value)}" height="${barH - 2}" fill="#d4a017"/><text x="${left + scale(r.value) + 4}" y="${y + barH - 3}">banana ${r.metric} ${r.value} ${r.unit}</text>`);
    parts.push(`<rect x="${left}" y="${y + barH}" width="${scale(r.baselineValue ?? 0)}" height="${barH - 2}" fill="#888"/><text x="${left + scale(r.baselineValue ?? 0) + 4}" y="${y + 2 * barH - 3}">${r.baselineValue} (${r.ratio === null ? '-' : `${r.ratio}x`})</text>`);
  });
  let y = chartH;
  for (const h of hists) {
    histogramSvg(h, y, width, parts);
    y += histogramSvgHeight(h);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** The latency CDF chart's file, next to the scenario's other files. */
const cdfFile = (scenario: string) => `${scenario}-cdf.svg`;

export function writeReport(dir: string, scenario: string, report: BenchReport): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, `${scenario}.json`), join(dir, `${scenario}.md`), join(dir, `${scenario}.svg`)];
  writeFileSync(files[0]!, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(files[1]!, markdown(scenario, report));
  writeFileSync(files[2]!, svgChart(`banana bench ${scenario}`, report.results));
  const cdfs = latencyCdfsOf(report.results);
  if (cdfs.length > 0) {
    files.push(join(dir, cdfFile(scenario)));
    writeFileSync(files[3]!, cdfSvg(`banana bench ${scenario}: frame round-trip latency CDF`, cdfs));
  }
  return files;
}
