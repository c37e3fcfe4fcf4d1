/** `controller`: the control plane's own costs. Wire decisions for 10,000 endpoint pairs of
 * mixed proximity and policy (target: under 50 µs each), and a registry holding 10,000
 * endpoints (put, list, memory). JS micro-benchmarks use tinybench: maintained, used by vitest's
 * bench, with warm-up, iterations and per-sample statistics (the older `benchmark` package is
 * unmaintained since 2017). The decision target has no measured baseline: the result carries
 * the target as its baseline, named as such. */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import type { EndCapabilities } from '../../controller/placement/capabilities.js';
import { chooseWire } from '../../controller/placement/choose-wire.js';
import { EmbeddedRegistry } from '../../controller/registry/index.js';
import { ratioOf, type BenchResult } from '../contract.js';
import { round3 } from '../stats.js';
import type { Progress } from '../progress.js';

export interface ControllerBenchSettings {
  pairs: number;
  endpoints: number;
  timeMs: number;
  progress: Progress;
}

export const CONTROLLER_QUICK: Omit<ControllerBenchSettings, 'progress'> = { pairs: 10_000, endpoints: 2_000, timeMs: 500 };
export const CONTROLLER_FULL: Omit<ControllerBenchSettings, 'progress'> = { pairs: 10_000, endpoints: 10_000, timeMs: 3_000 };

const TARGET_US = 50;

/** Deterministic mix: hosts over 4 sites, 8 clusters, 64 racks; some policies, some MTUs. */
function endpointPairs(n: number): [EndCapabilities, EndCapabilities, number][] {
  const end = (i: number): EndCapabilities => ({
    host: `host${i % 997}`,
    labels: { site: `s${i % 4}`, cluster: `c${i % 8}`, rack: `r${i % 64}` },
    wires: ['local', 'udp'],
    underlayMtu: i % 5 === 0 ? 1500 : 9000,
    rdma: i % 3 === 0 ? 'rxe0 (roce-v2)' : null,
    policy: i % 11 === 0 ? { forbid: ['udp'] } : i % 13 === 0 ? { pin: 'rdma' } : {},
  });
  return Array.from({ length: n }, (_, i) => [end(i * 7919), end(i * 104729 + 1), i % 7 === 0 ? 9000 : 1500]);
}

export async function runControllerBench(s: ControllerBenchSettings): Promise<BenchResult[]> {
  const pairs = endpointPairs(s.pairs);
  let chosen = 0;
  const bench = new Bench({ time: s.timeMs, warmupTime: Math.min(500, s.timeMs) });
  bench.add(`chooseWire x ${s.pairs} pairs`, () => {
    for (const [a, b, mtu] of pairs) if (chooseWire(a, b, mtu).chosen) chosen++;
  });
  await bench.run();
  const task = bench.tasks[0]!;
  const r = task.result as { latency?: { mean: number; p99: number }; period?: number; samples?: number[] } | undefined;
  const meanMs = r?.latency?.mean ?? r?.period ?? NaN;
  const perDecisionUs = (meanMs * 1000) / s.pairs;
  const decisionsPerS = 1e6 / perDecisionUs;
  s.progress(`decision: ${perDecisionUs.toFixed(2)} us each (${Math.round(decisionsPerS)}/s), ${chosen > 0 ? 'some' : 'no'} pairs wired`, { done: 1, total: 2 });

  // A registry holding many endpoints: what a controller reads on lookups.
  const dir = mkdtempSync('/dev/shm/banana-bench-registry-');
  const reg = await EmbeddedRegistry.open({ dir: join(dir, 'r'), fsWatch: false });
  let putMs = 0;
  let listMs = 0;
  let heapPerEndpoint = 0;
  try {
    globalThis.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (let i = 0; i < s.endpoints; i++) {
      await reg.putEndpoint({ id: `host${i % 500}/nic${i}`, kind: 'corm', host: `host${i % 500}`, mac: `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, attributes: { wires: 'local,udp', underlayMtu: '9000' } });
    }
    putMs = performance.now() - t0;
    const t1 = performance.now();
    const all = await reg.listEndpoints();
    listMs = performance.now() - t1;
    heapPerEndpoint = (process.memoryUsage().heapUsed - heap0) / Math.max(1, all.length);
    s.progress(`registry: ${s.endpoints} endpoints put in ${putMs.toFixed(0)} ms, listed in ${listMs.toFixed(1)} ms, ~${Math.round(heapPerEndpoint)} B of heap each`, { done: 2, total: 2 });
  } finally {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    {
      scenario: 'controller', frameBytes: null, metric: 'decisions_per_s', value: Math.round(decisionsPerS), unit: 'decisions/s',
      baseline: `target-${TARGET_US}us-per-decision`, baselineValue: 1e6 / TARGET_US, ratio: ratioOf(decisionsPerS, 1e6 / TARGET_US),
      detail: {
        perDecisionUs: round3(perDecisionUs), pairs: s.pairs, samples: r?.samples?.length ?? null, harness: 'tinybench',
        // The registry a controller reads on lookups, holding many endpoints (embedded backend, files on tmpfs).
        registry: { endpoints: s.endpoints, putMs: round3(putMs), putsPerS: Math.round((s.endpoints / putMs) * 1000), listMs: round3(listMs), heapBytesPerEndpoint: Math.round(heapPerEndpoint) },
      },
    },
  ];
}
