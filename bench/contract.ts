/** The JSON contract of `banana bench SCENARIO --json` (scripts and CI depend on it). */

export type ScenarioName =
  | 'forward'
  | 'wire-local'
  | 'wire-udp'
  | 'wire-rdma'
  | 'wire-tunnel'
  | 'hotswap'
  | 'migrate'
  | 'controller';

export type Metric =
  | 'mpps'
  | 'gbps'
  | 'rtt_p50_us'
  | 'rtt_p99_us'
  | 'rtt_p999_us'
  | 'lost'
  | 'duplicated'
  | 'reordered'
  | 'gap_ms'
  | 'switch_gap_ms'
  | 'decisions_per_s';

export interface BenchResult {
  scenario: ScenarioName;
  frameBytes: number | null;
  metric: Metric;
  value: number;
  unit: string;
  /** The baseline this result is compared with, or null. */
  baseline: string | null;
  baselineValue: number | null;
  /** value / baselineValue, or null without a baseline. */
  ratio: number | null;
  /** Repetitions, spread and the exact configuration: not part of the contract's required keys. */
  detail?: Record<string, unknown>;
}

export interface MachineDescription {
  cpu: string;
  cores: number;
  kernel: string;
  memoryGiB: number;
  node: string;
  date: string;
}

export interface BenchReport {
  machine: MachineDescription;
  results: BenchResult[];
}

export function ratioOf(value: number, baselineValue: number | null): number | null {
  if (baselineValue === null || baselineValue === 0) return null;
  return Math.round((value / baselineValue) * 1000) / 1000;
}
