/** Latency CDFs of the wire scenarios: the round trips' histograms (`detail.histNs` for ours,
 * `detail.baselineHistNs` for the baseline, ns) as one line per path and frame size, log-x in µs. */
import type { BenchResult } from './contract.js';
import { round3 } from './stats.js';

type Bins = [upper: number, count: number][];

export interface LatencyCdf {
  /** The path: `banana` or the baseline's name. */
  name: string;
  frameBytes: number | null;
  /** Ascending `[upper bound ns, count]`. */
  bins: Bins;
}

const isBins = (v: unknown): v is Bins => Array.isArray(v) && v.length > 0;

/** One CDF per path and frame size, from the first result that carries them. */
export function latencyCdfsOf(results: readonly BenchResult[]): LatencyCdf[] {
  const out: LatencyCdf[] = [];
  const seen = new Set<string>();
  const add = (name: string, frameBytes: number | null, bins: unknown) => {
    const key = `${name}@${frameBytes}`;
    if (!isBins(bins) || seen.has(key)) return;
    seen.add(key);
    out.push({ name, frameBytes, bins });
  };
  for (const r of results) {
    add('banana', r.frameBytes, r.detail?.histNs);
    if (r.baseline) add(r.baseline, r.frameBytes, r.detail?.baselineHistNs);
  }
  return out;
}

const countOf = (bins: Bins) => bins.reduce((sum, [, c]) => sum + c, 0);

/** Upper bound (µs) of the bin holding the q-quantile. */
export function binQuantileUs(bins: Bins, q: number): number {
  const rank = Math.max(1, Math.ceil(q * countOf(bins)));
  let cum = 0;
  for (const [upper, count] of bins) {
    cum += count;
    if (cum >= rank) return round3(upper / 1000);
  }
  return round3((bins[bins.length - 1]?.[0] ?? 0) / 1000);
}

const label = (c: LatencyCdf) => `${c.name} ${c.frameBytes ?? ''} B`;

export function cdfMarkdown(file: string, cdfs: readonly LatencyCdf[]): string[] {
  return [
    '## Latency CDF (frame round trips, all repetitions)',
    '',
    `![latency CDF](${file})`,
    '',
    '| path | frame B | n | p50 us | p90 us | p99 us | p99.9 us | max us |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...cdfs.map((c) => `| ${c.name} | ${c.frameBytes ?? '-'} | ${countOf(c.bins)} | ${[0.5, 0.9, 0.99, 0.999, 1].map((q) => binQuantileUs(c.bins, q)).join(' | ')} |`),
    '',
  ];
}

const COLORS = ['#d4a017', '#4472c4', '#888', '#c0504d', '#70ad47'];
const DASHES = ['', '6 3', '2 2', '8 3 2 3'];

/** The CDFs on one chart: x log10 in µs over whole decades, y 0..1; colour per path, dash per frame size. */
export function cdfSvg(title: string, cdfs: readonly LatencyCdf[]): string {
  const width = 800;
  const height = 440;
  const plot = { left: 60, right: width - 260, top: 40, bottom: height - 50 };
  const uppersUs = cdfs.flatMap((c) => c.bins.map(([u]) => Math.max(u, 1) / 1000));
  const lo = Math.floor(Math.log10(Math.min(...uppersUs)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...uppersUs))));
  const x = (us: number) => round3(plot.left + ((Math.log10(Math.max(us, 10 ** lo)) - lo) / (hi - lo)) * (plot.right - plot.left));
  const y = (share: number) => round3(plot.bottom - share * (plot.bottom - plot.top));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="20" font-size="14">${title}</text>`,
    `<rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${plot.bottom - plot.top}" fill="none" stroke="#444"/>`,
  ];
  for (let d = lo; d <= hi; d++) {
    for (const m of d < hi ? [1, 2, 5] : [1]) {
      const gx = x(m * 10 ** d);
      parts.push(`<line x1="${gx}" y1="${plot.top}" x2="${gx}" y2="${plot.bottom}" stroke="#ddd"/>`);
      parts.push(`<text x="${gx}" y="${plot.bottom + 16}" text-anchor="middle">${round3(m * 10 ** d)}</text>`);
    }
  }
  parts.push(`<text x="${(plot.left + plot.right) / 2}" y="${height - 12}" text-anchor="middle">round trip (µs, log scale)</text>`);
  for (const share of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    parts.push(`<line x1="${plot.left}" y1="${y(share)}" x2="${plot.right}" y2="${y(share)}" stroke="#ddd"/>`);
    parts.push(`<text x="${plot.left - 6}" y="${y(share) + 4}" text-anchor="end">${share}</text>`);
  }
  const names = [...new Set(cdfs.map((c) => c.name))];
  const sizes = [...new Set(cdfs.map((c) => c.frameBytes))];
  cdfs.forEach((c, i) => {
    const total = countOf(c.bins);
    let cum = 0;
    const points = [`${x(c.bins[0]![0] / 1000)},${y(0)}`];
    for (const [upper, count] of c.bins) {
      points.push(`${x(upper / 1000)},${y(cum / total)}`);
      cum += count;
      points.push(`${x(upper / 1000)},${y(cum / total)}`);
    }
    const stroke = COLORS[names.indexOf(c.name) % COLORS.length];
    const dash = DASHES[sizes.indexOf(c.frameBytes) % DASHES.length];
    const style = `fill="none" stroke="${stroke}" stroke-width="1.5"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
    parts.push(`<polyline ${style} points="${points.join(' ')}"/>`);
    const ly = plot.top + 10 + i * 20;
    parts.push(`<line x1="${plot.right + 15}" y1="${ly}" x2="${plot.right + 45}" y2="${ly}" ${style}/>`);
    parts.push(`<text x="${plot.right + 50}" y="${ly + 4}">${label(c)} (p50 ${binQuantileUs(c.bins, 0.5)})</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
