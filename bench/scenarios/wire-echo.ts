/** The wire's own round trip in the wire scenarios: echoes engine to engine
 * (`UdpWire.measureRtt()`), per frame size and repetition, p50 and p99 per run in µs. */
import type { UdpWire } from '../../dataplane/lib/index.js';
import { percentile } from '../stats.js';

/** Per frame size: the p50 and p99 of every repetition. */
export type EchoRuns = Map<number, { p50: number[]; p99: number[] }>;

export async function measureWireEcho(wire: UdpWire, sizes: readonly number[], probes: number, runs: EchoRuns, step: (msg: string) => void, rep: number): Promise<void> {
  for (const size of sizes) {
    const r = await wire.measureRtt({ count: probes, bytes: size });
    const us = r.rttNs.map((ns) => ns / 1000);
    const p50 = percentile(us, 50);
    const p99 = percentile(us, 99);
    runs.set(size, { p50: [...(runs.get(size)?.p50 ?? []), p50], p99: [...(runs.get(size)?.p99 ?? []), p99] });
    step(`[rep ${rep + 1}] wire echo   ${String(size).padStart(5)} B  rtt p50 ${p50.toFixed(1)} us  p99 ${p99.toFixed(1)} us  lost ${r.lost}`);
  }
}
