/** `hotswap`: a `udp` wire hot-swapped again and again under sequence-numbered traffic at the
 * highest rate the wire sustains, side by side with the same traffic and no swap (the
 * baseline), interleaved per run. The set-up is test/wire-hotswap.test.ts's: the reference
 * topology, vm1 behind hostB's engine sends to ext through hostA's nic0 over the wire, and
 * each swap moves the wire to a new wire id with runHotSwap (make before break).
 *
 * The rate: a calibration run floods at unlimited rate with no swap; the swap and no-swap runs
 * send at a fraction of what it delivered, so what they lose is the swaps' doing, not
 * overload's. Per frame size and run: lost, duplicated and reordered at ext's receiver, the
 * Mpps arriving at ext while the swaps run (the same window length without them), each swap's
 * time (verify + settle, from its HotSwapReport) and the wires' swap counters. */
import { Engine, type PortCounterName, type PortCounters, type UdpPathSettings, type UdpWire } from '../../dataplane/lib/index.js';
import { referenceTopology, TestBed, type ReferenceTopology } from '../../test/bed/index.js';
import { connectUdpWire } from '../../wires/udp/connect.js';
import { localSwapEnd, runHotSwap, type HotSwapReport } from '../../wires/udp/hot-swap.js';
import { readCounters } from '../baselines/sys.js';
import { ratioOf, type BenchResult } from '../contract.js';
import { histogram, percentile, round3, summarize } from '../stats.js';
import { send, startReceiver, type RecvResult } from '../traffic/traffic.js';
import type { Progress } from '../progress.js';

export interface HotswapBenchSettings {
  frameSizes: number[];
  /** Swap runs per frame size, each with a no-swap run interleaved. */
  runs: number;
  swapsPerRun: number;
  /** The unlimited-rate calibration windows, per frame size: how many and how long. */
  calibrationRuns: number;
  calibrationMs: number;
  /** Share of the calibrated delivered rate the lossless-rate search starts from. */
  rateShare: number;
  /** The search's no-swap probes: how many at most, and each one's window. */
  maxProbes: number;
  probeMs: number;
  /** Traffic before the measured window (and the swaps) starts. */
  warmupMs: number;
  progress: Progress;
}

export const HOTSWAP_QUICK: Omit<HotswapBenchSettings, 'progress'> = { frameSizes: [64], runs: 2, swapsPerRun: 5, calibrationRuns: 1, calibrationMs: 1000, rateShare: 0.85, maxProbes: 5, probeMs: 500, warmupMs: 200 };
export const HOTSWAP_FULL: Omit<HotswapBenchSettings, 'progress'> = { frameSizes: [64, 1400], runs: 5, swapsPerRun: 20, calibrationRuns: 2, calibrationMs: 2000, rateShare: 0.85, maxProbes: 7, probeMs: 1000, warmupMs: 300 };

const WIRE_PORT = 7471;
const SENDER_CPU = 0;
const ENGINE_CPU = 1;
/** Traffic after the window, so the swaps never race the sender's end. */
const TAIL_MS = 300;
const BASELINE = 'no swap';
/** The lossless-rate search stops once its bounds are this close (share of the lossy one). */
const PROBE_PRECISION = 0.1;

interface RateProbe {
  ratePps: number;
  lost: number;
}
/** The wires' counters every result carries (summed over both ends, per kind of run). */
const WIRE_COUNTERS = ['swap_markers_tx', 'swap_markers_rx', 'swap_held', 'drop_swap_hold_full', 'swap_marker_timeouts', 'wire_seq_gaps', 'wire_seq_late'] as const satisfies readonly PortCounterName[];

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two engines on the reference topology joined by a udp wire that swaps to a new id on demand. */
class SwapBed {
  private nextWireId = 10;

  private constructor(
    readonly bed: TestBed,
    readonly topo: ReferenceTopology,
    readonly engines: [Engine, Engine],
    readonly wires: [UdpWire, UdpWire],
    private readonly paths: (wireId: number) => [UdpPathSettings, UdpPathSettings],
  ) {}

  static async open(): Promise<SwapBed> {
    const bed = await TestBed.create();
    try {
      const topo = await referenceTopology(bed, { ipv6: false });
      // Both workers share CPU 1 politely (two pinned busy pollers on one core would take
      // turns by scheduler slices); the sender has CPU 0.
      const settings = { cpus: [ENGINE_CPU], idle: { policy: 'backoff', spinLoops: 5000, maxSleepUs: 50 } as const };
      const a = new Engine(settings);
      const b = new Engine(settings);
      try {
        a.addPort({ ifname: 'nic0', netns: topo.hostA.ns.name });
        const ua = a.addPort({ ifname: topo.hostA.underlay.name, netns: topo.hostA.ns.name, underlay: { udpPort: WIRE_PORT } });
        b.addPort({ ifname: topo.vm1.tap.name, netns: topo.hostB.ns.name });
        const ub = b.addPort({ ifname: topo.hostB.underlay.name, netns: topo.hostB.ns.name, underlay: { udpPort: WIRE_PORT } });
        // Keepalives every 10 ms: a new path is verified within one period.
        const wires = await connectUdpWire({ engine: a, underlay: ua }, { engine: b, underlay: ub }, { wireId: 1, keepaliveMs: 10 });
        a.start();
        b.start();
        const deadline = Date.now() + 3000;
        while (!(wires[0].state() === 'up' && wires[1].state() === 'up')) {
          if (Date.now() > deadline) throw new Error('hotswap bench: the udp wire did not come up within 3 s');
          await pause(20);
        }
        const paths = (wireId: number): [UdpPathSettings, UdpPathSettings] => [
          { wireId, underlay: ua, localMac: topo.hostA.underlay.mac, nextHopMac: topo.hostB.underlay.mac, localIp: topo.hostA.underlayIp, remoteIp: topo.hostB.underlayIp, underlayMtu: topo.underlayNet.mtu },
          { wireId, underlay: ub, localMac: topo.hostB.underlay.mac, nextHopMac: topo.hostA.underlay.mac, localIp: topo.hostB.underlayIp, remoteIp: topo.hostA.underlayIp, underlayMtu: topo.underlayNet.mtu },
        ];
        return new SwapBed(bed, topo, [a, b], wires, paths);
      } catch (e) {
        a.close();
        b.close();
        throw e;
      }
    } catch (e) {
      await bed.close();
      throw e;
    }
  }

  swap(): Promise<HotSwapReport> {
    const [pa, pb] = this.paths(this.nextWireId++);
    return runHotSwap(localSwapEnd('hostA', this.wires[0], pa), localSwapEnd('hostB', this.wires[1], pb));
  }

  /** Both wires' counters of interest, and every port's drops, summed. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    const add = (name: string, v: bigint) => (out[name] = (out[name] ?? 0) + Number(v));
    for (const w of this.wires) for (const k of WIRE_COUNTERS) add(k, w.counters()[k]);
    for (const e of this.engines) {
      for (const p of e.ports()) {
        const c: PortCounters = p.counters();
        for (const [k, v] of Object.entries(c)) if (k.startsWith('drop_') || k.startsWith('kernel_rx')) add(`${p.ifname}.${k}`, v);
      }
    }
    return out;
  }

  async close(): Promise<void> {
    for (const e of this.engines) e.close();
    await this.bed.close();
  }
}

const delta = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));

function addInto(total: Record<string, number>, d: Record<string, number>): void {
  for (const [k, v] of Object.entries(d)) total[k] = (total[k] ?? 0) + v;
}

/** Only the wire counters and the drops that happened. */
const notable = (c: Record<string, number>) =>
  Object.fromEntries(Object.entries(c).filter(([k, v]) => (WIRE_COUNTERS as readonly string[]).includes(k) || v !== 0));

interface Traffic {
  size: number;
  /** Packets per second; 0 = unlimited. */
  rate: number;
  flow: number;
}

interface RunOutcome {
  /** Frames sent (rate-limited runs). */
  frames: number;
  recv: RecvResult;
  /** Frames per second reaching ext over the window. */
  windowPps: number;
  windowMs: number;
  /** How long the swaps (or the pause) took, without the counter reads around them. */
  duringMs: number;
  swaps: HotSwapReport[];
  swapsUnderTraffic: number;
  counters: Record<string, number>;
}

/** One run: ext receives, vm1 sends (pinned); after the warm-up, `during` runs (swaps, or a
 * pause) while ext's rx_packets are counted. */
async function trafficRun(sb: SwapBed, t: Traffic, s: HotswapBenchSettings, plannedMs: number, during: (sending: () => boolean) => Promise<HotSwapReport[]>): Promise<RunOutcome> {
  const { ext, vm1 } = sb.topo;
  const spanMs = s.warmupMs + plannedMs + TAIL_MS;
  const count = t.rate > 0 ? Math.max(1, Math.round((t.rate * spanMs) / 1000)) : undefined;
  const receiver = await startReceiver({ ifname: 'eth0', netns: ext.ns.name, flow: t.flow, ...(count ? { expect: count } : { durationMs: spanMs + 2000 }), idleMs: 500 });
  try {
    const before = sb.counters();
    let sending = true;
    const sender = send({
      ifname: 'eth0', netns: vm1.ns.name, srcMac: vm1.mac, dstMac: ext.eth0.mac, flow: t.flow, size: t.size, cpu: SENDER_CPU, qdiscBypass: true,
      ...(count ? { count, rate: t.rate } : { durationMs: spanMs }),
    }).finally(() => (sending = false));
    await pause(s.warmupMs);
    const c0 = await readCounters('hotswap', ext.ns.name, 'eth0');
    const t0 = performance.now();
    const swaps = await during(() => sending);
    const duringMs = performance.now() - t0;
    const c1 = await readCounters('hotswap', ext.ns.name, 'eth0');
    const windowMs = performance.now() - t0;
    const swapsUnderTraffic = sending ? swaps.length : -1;
    const sent = await sender;
    const recv = await receiver.done();
    return { frames: sent.sent, duringMs, recv, windowPps: ((c1.rxPackets - c0.rxPackets) * 1000) / windowMs, windowMs, swaps, swapsUnderTraffic, counters: delta(sb.counters(), before) };
  } finally {
    receiver.kill();
  }
}

/** The highest rate a no-swap run carries without loss, searched from `start` down: halving
 * until a probe loses nothing, then bisecting between the lossless and the lossy rate. */
async function losslessRate(sb: SwapBed, s: HotswapBenchSettings, size: number, start: number, nextFlow: () => number): Promise<{ rate: number; probes: RateProbe[] }> {
  const probes: RateProbe[] = [];
  let lossless: number | undefined;
  let lossy: number | undefined;
  let rate = start;
  while (probes.length < s.maxProbes) {
    const p = await trafficRun(sb, { size, rate, flow: nextFlow() }, s, s.probeMs, idle(s.probeMs));
    probes.push({ ratePps: rate, lost: p.recv.lost });
    s.progress(`${String(size).padStart(5)} B  rate probe: ${rate} pps with no swap lost ${p.recv.lost}`);
    if (p.recv.lost === 0) lossless = rate;
    else lossy = rate;
    if (lossy === undefined || (lossless !== undefined && lossy - lossless <= PROBE_PRECISION * lossy)) break;
    rate = Math.round(lossless === undefined ? rate / 2 : (lossless + lossy) / 2);
  }
  return { rate: lossless ?? Math.min(...probes.map((p) => p.ratePps)), probes };
}

/** What a run does in its window when it does not swap. */
const idle = (ms: number) => async (): Promise<HotSwapReport[]> => {
  await pause(ms);
  return [];
};

interface KindTotals {
  runs: RunOutcome[];
  counters: Record<string, number>;
}

const newTotals = (): KindTotals => ({ runs: [], counters: {} });

interface RateChoice {
  ratePps: number;
  calibratedPps: number;
  probes: RateProbe[];
}

function resultsFor(size: number, c: RateChoice, swap: KindTotals, base: KindTotals, s: HotswapBenchSettings): BenchResult[] {
  const swapMs = swap.runs.flatMap((r) => r.swaps.map((x) => x.verifyMs + x.settleMs));
  const verify = swap.runs.flatMap((r) => r.swaps.map((x) => x.verifyMs));
  const settle = swap.runs.flatMap((r) => r.swaps.map((x) => x.settleMs));
  const pct = (v: number[]) => ({ p50: round3(percentile(v, 50)), p99: round3(percentile(v, 99)), max: round3(Math.max(...v)) });
  const common = {
    ratePps: c.ratePps, calibratedPps: Math.round(c.calibratedPps), rateShare: s.rateShare, rateProbes: c.probes,
    swaps: swapMs.length, swapsPerRun: s.swapsPerRun, unsettled: swap.runs.reduce((n, r) => n + r.swaps.filter((x) => !x.settled).length, 0),
    swapsOutsideTraffic: swap.runs.reduce((n, r) => n + (r.swapsUnderTraffic < 0 ? r.swaps.length : 0), 0),
    swapMs: pct(swapMs), verifyMs: pct(verify), settleMs: pct(settle),
    framesPerRun: swap.runs.map((r) => r.frames),
    ringDrops: { swap: swap.runs.reduce((n, r) => n + r.recv.ringDrops, 0), baseline: base.runs.reduce((n, r) => n + r.recv.ringDrops, 0) },
    counters: notable(swap.counters), baselineCounters: notable(base.counters),
    dut: `udp wire hot-swapped ${s.swapsPerRun} times back to back per run (runHotSwap, keepalives every 10 ms) under vm1 -> ext traffic at ${c.ratePps} pps (${round3(c.ratePps / c.calibratedPps)} of the ${Math.round(c.calibratedPps)} pps delivered at unlimited rate; ${c.probes.every((p) => p.lost > 0) ? `no no-swap probe was lossless, the lowest of ${c.probes.length} probed` : `the highest rate a no-swap probe carried without loss, searched from ${s.rateShare} of it down in ${c.probes.length} probe${c.probes.length > 1 ? 's' : ''}`}); both engines' workers on CPU ${ENGINE_CPU} with backoff idle, the sender pinned to CPU ${SENDER_CPU}`,
    baselineDescription: 'the same wire, the same traffic and rate, no swap (interleaved run by run)',
  };
  const counts = (metric: 'lost' | 'duplicated' | 'reordered', histograms?: unknown[]): BenchResult => {
    const runs = swap.runs.map((r) => r.recv[metric]);
    const baseRuns = base.runs.map((r) => r.recv[metric]);
    const value = runs.reduce((a, b) => a + b, 0);
    const baselineValue = baseRuns.reduce((a, b) => a + b, 0);
    return {
      scenario: 'hotswap', frameBytes: size, metric, value, unit: 'frames', baseline: BASELINE, baselineValue,
      ratio: ratioOf(value, baselineValue), detail: { runs, baselineRuns: baseRuns, ...common, ...(histograms ? { histograms } : {}) },
    };
  };
  const mpps = summarize(swap.runs.map((r) => r.windowPps / 1e6));
  const baseMpps = summarize(base.runs.map((r) => r.windowPps / 1e6));
  return [
    counts('lost', [
      histogram(`${size} B: swap time (verify + settle)`, 'ms', swapMs),
      histogram(`${size} B: frames lost per run of ${s.swapsPerRun} swaps`, 'frames', swap.runs.map((r) => r.recv.lost)),
    ]),
    counts('duplicated'),
    counts('reordered'),
    {
      scenario: 'hotswap', frameBytes: size, metric: 'mpps', value: round3(mpps.median), unit: 'Mpps', baseline: BASELINE,
      baselineValue: round3(baseMpps.median), ratio: ratioOf(mpps.median, baseMpps.median),
      detail: { runs: mpps.runs.map(round3), baselineRuns: baseMpps.runs.map(round3), windowMs: swap.runs.map((r) => Math.round(r.windowMs)), ...common },
    },
  ];
}

export async function runHotswapBench(s: HotswapBenchSettings): Promise<BenchResult[]> {
  const sb = await SwapBed.open();
  try {
    // What a swap takes without traffic: sizes the runs' windows (grown by what runs show).
    let swapMsEstimate = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await sb.swap();
      swapMsEstimate = Math.max(swapMsEstimate, performance.now() - t0);
    }
    s.progress(`warm-up: 3 swaps without traffic, the slowest ${swapMsEstimate.toFixed(1)} ms`);
    const results: BenchResult[] = [];
    let flow = 100;
    let runsDone = 0;
    for (const size of s.frameSizes) {
      // Noise only ever lowers what a window delivers: the best of the calibration windows counts.
      let calibratedPps = 0;
      for (let i = 0; i < s.calibrationRuns; i++) {
        const cal = await trafficRun(sb, { size, rate: 0, flow: flow++ }, s, s.calibrationMs, idle(s.calibrationMs));
        calibratedPps = Math.max(calibratedPps, cal.windowPps);
      }
      const { rate, probes } = await losslessRate(sb, s, size, Math.round(calibratedPps * s.rateShare), () => flow++);
      s.progress(`${String(size).padStart(5)} B  calibration: ${(calibratedPps / 1e6).toFixed(3)} Mpps delivered at unlimited rate; runs send at ${rate} pps`);
      const swap = newTotals();
      const base = newTotals();
      for (let run = 0; run < s.runs; run++) {
        // Alternate which kind goes first, so neither always follows the other.
        const order = run % 2 === 0 ? (['swap', 'base'] as const) : (['base', 'swap'] as const);
        for (const kind of order) {
          const windowMs = s.swapsPerRun * swapMsEstimate;
          const t: Traffic = { size, rate, flow: flow++ };
          const r =
            kind === 'swap'
              ? await trafficRun(sb, t, s, 2 * windowMs + 100, async (sending) => {
                  const reports: HotSwapReport[] = [];
                  for (let i = 0; i < s.swapsPerRun && sending(); i++) reports.push(await sb.swap());
                  return reports;
                })
              : await trafficRun(sb, t, s, windowMs, idle(windowMs));
          const totals = kind === 'swap' ? swap : base;
          totals.runs.push(r);
          addInto(totals.counters, r.counters);
          if (kind === 'swap') swapMsEstimate = Math.max(swapMsEstimate, r.duringMs / Math.max(1, r.swaps.length));
          const what = kind === 'swap' ? `${r.swaps.length} swaps${r.swapsUnderTraffic < 0 ? ' (sender ended first)' : ''}` : BASELINE;
          s.progress(
            `${String(size).padStart(5)} B  [run ${run + 1}] ${what.padEnd(9)} lost ${r.recv.lost}  dup ${r.recv.duplicated}  reord ${r.recv.reordered}  ` +
              `${(r.windowPps / 1e6).toFixed(3)} Mpps over ${r.windowMs.toFixed(0)} ms`,
            { done: ++runsDone, total: 2 * s.runs * s.frameSizes.length },
          );
        }
      }
      results.push(...resultsFor(size, { ratePps: rate, calibratedPps, probes }, swap, base, s));
    }
    return results;
  } finally {
    await sb.close();
  }
}
