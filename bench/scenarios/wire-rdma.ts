/** `wire-rdma`: a VM's traffic to a VM on another host over our `rdma` wire (an RC queue pair
 * per wire), side by side in the same run with the kernel's VXLAN on the same topology, and
 * with perftest's ib_send_lat / ib_send_bw on the same RDMA device (the verbs floor: no VM, no
 * switch). Where no RDMA device is active, the whole scenario runs inside ../shared/rdma-vm's
 * Soft-RoCE guest and reports what it measured there: compare only its ratios (emulated). */
import { rdmaDevices, type Engine, type UdpWire } from '../../dataplane/lib/index.js';
import { localRdmaDevice, rdmaVmUnavailable, runInRdmaVm } from '../baselines/rdma-vm.js';
import { ibSendBw, ibLat, type PerftestEnds } from '../baselines/perftest.js';
import { ratioOf, type BenchReport, type BenchResult } from '../contract.js';
import { round3, summarize } from '../stats.js';
import { measureWireEcho, type EchoRuns } from './wire-echo.js';
import { buildWireTopology, type WireTopology } from './wire-topology.js';
import { hostEngines, runWirePaths, type Measure, type WireBenchSettings, type WirePath } from './wire-run.js';
import { VxlanPath } from './wire-udp.js';

class BananaRdmaPath implements WirePath {
  readonly name = 'banana-rdma';
  readonly description: string;
  private engines: Engine[] = [];
  /** hostB's end of the wire while started (the echo probes' requester). */
  wire: UdpWire | undefined;

  constructor(private readonly device: string) {
    this.description = `two banana engines (one per host), rdma wire: one RC queue pair each on ${device}; throughput: ` +
      'both workers on CPU 1 with backoff idle (the generator has CPU 0); latency: busy-polling workers (backoff on ' +
      'Soft-RoCE, whose transport runs on the same CPUs)';
  }

  async start(t: WireTopology, m: Measure): Promise<void> {
    // Soft-RoCE is the kernel doing the transport on the same CPUs: busy pollers would starve
    // it, so on rxe the workers back off when idle (a real NIC's transport needs no CPU).
    const soft = this.device.startsWith('rxe');
    const [a, b] = hostEngines(t, m, soft ? { policy: 'backoff', spinLoops: 2000, maxSleepUs: 20 } : { policy: 'busy' });
    this.engines = [a, b];
    const ca = a.addRdmaCarrier({ device: this.device });
    const cb = b.addRdmaCarrier({ device: this.device });
    ca.connect(cb.endpoint);
    cb.connect(ca.endpoint);
    a.addRdmaWire({ carrier: ca, wireId: 7 });
    this.wire = b.addRdmaWire({ carrier: cb, wireId: 7 });
    a.start();
    b.start();
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    for (const e of this.engines) e.close();
    this.engines = [];
    this.wire = undefined;
    await Promise.resolve();
  }
}

function perftestEnds(device: string): PerftestEnds {
  const port = rdmaDevices().find((d) => d.name === device)?.ports.find((p) => p.active);
  const v4 = port?.gids.find((g) => g.type === 'RoCEv2' && g.gid.startsWith('::ffff:'));
  return { device, gidIndex: (v4 ?? port?.gids[0])?.index ?? 0 };
}

/** The largest frame an rdma wire carries with the default 4096-byte frames (inner MTU 3810
 * plus its Ethernet header): a 4 KiB message does not fit a 4 KiB frame behind its headroom. */
const RDMA_MAX_FRAME = 3824;

/** Repetitions of the wire's round trip and the verbs floors in the full profile. */
const FULL_LATENCY_REPETITIONS = 7;

/** The verbs floors: SEND/RECV (what the wire uses) and RDMA WRITE ping-pong. */
const LAT_TOOLS = ['ib_send_lat', 'ib_write_lat'] as const;

async function runHere(device: string, s: WireBenchSettings): Promise<BenchResult[]> {
  const t = await buildWireTopology();
  try {
    const ends = perftestEnds(device);
    const reps = s.repetitions;
    const ours = new BananaRdmaPath(device);
    const { results, step } = await runWirePaths(
      { scenario: 'wire-rdma', topology: t, ours, base: new VxlanPath(), socketBaseline: 'kernel-udp-pingpong-over-vxlan', extraSteps: (reps > 1 ? Math.max(reps, FULL_LATENCY_REPETITIONS) : reps) * (s.frameSizes.length * 3 + 1) },
      s,
    );
    // The verbs floor on the same device, per frame size: ping-pong round trips and streaming;
    // interleaved with the wire's own round trip (echoes engine to engine), measured alike.
    const lat = new Map<string, { p50: number[]; p99: number[] }>();
    const bw = new Map<number, number[]>();
    const echo: EchoRuns = new Map();
    const sizes = [...s.frameSizes, ...(s.maxFrame ? [RDMA_MAX_FRAME] : [])];
    // Round trips in the emulated guest vary by a third between repetitions (ib_send_lat too):
    // the full profile repeats the cheap latency part more often than the streaming part.
    const latReps = reps > 1 ? Math.max(reps, FULL_LATENCY_REPETITIONS) : reps;
    for (let rep = 0; rep < latReps; rep++) {
      await ours.start(t, 'latency');
      try {
        await measureWireEcho(ours.wire!, sizes, s.rttProbes, echo, step, rep);
      } finally {
        await ours.stop();
      }
      for (const size of sizes) {
        for (const tool of LAT_TOOLS) {
          const l = await ibLat(tool, ends, size, s.rttProbes);
          const key = `${tool}@${size}`;
          lat.set(key, { p50: [...(lat.get(key)?.p50 ?? []), l.p50], p99: [...(lat.get(key)?.p99 ?? []), l.p99] });
          step(`[rep ${rep + 1}] ${tool.padEnd(12)} ${String(size).padStart(5)} B  rtt p50 ${l.p50.toFixed(1)} us  p99 ${l.p99.toFixed(1)} us`);
        }
        if (!s.frameSizes.includes(size) || rep >= reps) continue;
        const b = await ibSendBw(ends, size, Math.max(1, Math.round(s.durationMs / 1000)));
        bw.set(size, [...(bw.get(size) ?? []), b.gbps]);
        step(`[rep ${rep + 1}] ib_send_bw  ${String(size).padStart(5)} B  ${b.gbps.toFixed(3)} Gbit/s  ${b.mpps.toFixed(3)} Mpps`);
      }
    }
    const extra: BenchResult[] = [];
    for (const size of sizes) {
      for (const tool of LAT_TOOLS) {
        for (const m of ['p50', 'p99'] as const) {
          const mine = summarize(echo.get(size)?.[m] ?? []);
          const b = summarize(lat.get(`${tool}@${size}`)?.[m] ?? []);
          if (mine.runs.length === 0 || b.runs.length === 0) continue;
          extra.push({
            scenario: 'wire-rdma', frameBytes: size, metric: `rtt_${m}_us`, value: round3(mine.median), unit: 'us', baseline: tool,
            baselineValue: round3(b.median), ratio: ratioOf(mine.median, b.median),
            detail: {
              runs: mine.runs.map(round3), baselineRuns: b.runs.map(round3),
              // The same repetition's ratio: how much of the spread is the guest, not the wire.
              repetitionRatios: mine.runs.map((v, i) => round3(v / (b.runs[i] ?? NaN))),
              dut: `the wire's own round trip: an echo of ${size} B (+16 B header) from hostB's engine worker over its queue pair, turned around in hostA's worker poll loop, timed by hostB's worker (${s.rttProbes} per repetition)`,
              baselineDescription: `${tool} -d ${device} -x ${ends.gidIndex} -s ${size} (reported one-way, doubled)`,
            },
          });
        }
      }
      if (!s.frameSizes.includes(size)) continue;
      const mpps = results.find((r) => r.frameBytes === size && r.metric === 'mpps');
      const b = summarize(bw.get(size) ?? []);
      if (mpps) {
        const gbps = (mpps.value * size * 8) / 1000;
        extra.push({
          scenario: 'wire-rdma', frameBytes: size, metric: 'gbps', value: round3(gbps), unit: 'Gbit/s (frames at the far VM)', baseline: 'ib_send_bw',
          baselineValue: round3(b.median), ratio: ratioOf(gbps, b.median),
          detail: { baselineRuns: b.runs.map(round3), baselineDescription: `ib_send_bw -d ${device} -s ${size} (message bytes, no Ethernet frame)` },
        });
      }
    }
    return [...results, ...extra];
  } finally {
    await t.bed.close();
  }
}

/** Runs the scenario where RDMA is: here, or inside the Soft-RoCE guest. */
export async function runWireRdma(s: WireBenchSettings, quick: boolean): Promise<BenchResult[]> {
  const device = localRdmaDevice();
  if (device) return runHere(device, s);
  const why = rdmaVmUnavailable();
  if (why) throw new Error(`wire-rdma: ${why}`);
  s.progress('booting the Soft-RoCE guest (../shared/rdma-vm); the scenario runs inside it', { done: 0, total: 1 });
  const run = await runInRdmaVm(
    [`NODE_OPTIONS=--disable-wasm-trap-handler node bin/banana.js bench wire-rdma${quick ? ' --quick' : ''} --json > /srv/report.json 2> /srv/progress.txt`],
    ['report.json', 'progress.txt'],
    1_800_000,
  );
  let report: BenchReport;
  try {
    report = JSON.parse(run.files['report.json'] ?? '') as BenchReport;
  } catch {
    throw new Error(`wire-rdma: the guest run produced no report (exit ${run.status}):\n${(run.files['progress.txt'] || run.console).slice(-3000)}`);
  }
  s.progress(`guest run done (exit ${run.status})`, { done: 1, total: 1 });
  const guest = `Soft-RoCE guest (../shared/rdma-vm, emulated): ${JSON.stringify(report.machine)}`;
  return report.results.map((r) => ({ ...r, detail: { ...r.detail, measuredIn: guest } }));
}
