/** Summaries of repeated measurements: the median is reported, the spread travels with it. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function summarize(runs: readonly number[]): Summary {
  if (runs.length === 0) throw new Error('summarize: no runs');
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...runs] };
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Nearest-rank percentile (p in 0..100) of the values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile: no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A distribution as equal-width bins [from, to), the last one closed, with its percentiles. */
export interface Histogram {
  title: string;
  unit: string;
  n: number;
  p50: number;
  p99: number;
  max: number;
  bins: { from: number; to: number; count: number }[];
}

/** A bin width of 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
}

export function histogram(title: string, unit: string, values: readonly number[], maxBins = 12): Histogram {
  const n = values.length;
  const summary = { title, unit, n, p50: n ? round3(percentile(values, 50)) : 0, p99: n ? round3(percentile(values, 99)) : 0, max: n ? round3(Math.max(...values)) : 0 };
  if (n === 0) return { ...summary, bins: [] };
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (hi === lo) return { ...summary, bins: [{ from: round3(lo), to: round3(hi), count: n }] };
  const step = niceStep((hi - lo) / maxBins);
  const start = Math.floor(lo / step) * step;
  const count = Math.floor((hi - start) / step) + 1;
  const bins = Array.from({ length: count }, (_, i) => ({ from: round3(start + i * step), to: round3(start + (i + 1) * step), count: 0 }));
  for (const v of values) bins[Math.min(count - 1, Math.floor((v - start) / step))]!.count++;
  return { ...summary, bins };
}

/** Sums two histograms given as ascending `[upper, count]` bins (bins with the same upper bound add up). */
export function mergeBins(a: readonly [number, number][], b: readonly [number, number][]): [number, number][] {
  const counts = new Map<number, number>();
  for (const [upper, count] of [...a, ...b]) counts.set(upper, (counts.get(upper) ?? 0) + count);
  return [...counts].sort((x, y) => x[0] - y[0]);
}
