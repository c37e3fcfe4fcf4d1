/** The measurement loop shared by the wire scenarios: each path (ours, then the baseline) is
 * set up in turn on the same topology, interleaved per repetition; throughput at the far VM
 * (it drops in XDP), frame round trips against a reflector, and UDP sockets in the VMs. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { nativeDir } from '../../dataplane/lib/paths.js';
import { Engine, type IdlePolicy } from '../../dataplane/lib/index.js';
import { remoteArgv, rtt, startReflector, stopRemote, type HistogramBins, type RemoteHost } from '../traffic/traffic.js';
import { ratioOf, type BenchResult, type ScenarioName } from '../contract.js';
import { mergeBins, round3, summarize } from '../stats.js';
import { WIRE_BENCH, type WireTopology } from './wire-topology.js';
import { setSinkDrop, sinkRate } from './flood.js';
import type { Progress } from '../progress.js';

export interface WireBenchSettings {
  frameSizes: number[];
  repetitions: number;
  warmupMs: number;
  durationMs: number;
  rttProbes: number;
  /** wire-rdma: also the wire's own round trip at its largest frame (3824 B). */
  maxFrame?: boolean;
  progress: Progress;
}

export const WIRE_QUICK: Omit<WireBenchSettings, 'progress'> = { frameSizes: [64], repetitions: 1, warmupMs: 300, durationMs: 1000, rttProbes: 300 };
/** Full: 64, 256 and 1400 B, and 1514 B, the largest frame of the VMs' MTU (1500). */
export const WIRE_FULL: Omit<WireBenchSettings, 'progress'> = { frameSizes: [64, 256, 1400, 1514], repetitions: 3, warmupMs: 500, durationMs: 2000, rttProbes: 2000, maxFrame: true };

export type Measure = 'throughput' | 'latency';

/** One engine per host of the topology, each with its VM's tap. Two pinned busy pollers on one
 * core would take turns by scheduler slices (ms): for throughput both workers share CPU 1 with
 * backoff idle (the generator has CPU 0); for latency each polls on a core of its own, with
 * `latencyIdle` (busy unless the path says otherwise). */
export function hostEngines(t: WireTopology, m: Measure, latencyIdle: IdlePolicy = { policy: 'busy' }): [Engine, Engine] {
  const settings = m === 'throughput' ? { cpus: [1], idle: { policy: 'backoff', spinLoops: 5000, maxSleepUs: 50 } as const } : { idle: latencyIdle };
  const a = new Engine(settings);
  const b = new Engine(settings);
  a.addPort({ ifname: 'tapA', netns: t.hostA.name });
  b.addPort({ ifname: 'tapB', netns: t.hostB.name });
  return [a, b];
}

export interface WirePath {
  readonly name: string;
  readonly description: string;
  start(t: WireTopology, m: Measure): Promise<void>;
  stop(t: WireTopology): Promise<void>;
}

async function throughput(t: WireTopology, s: WireBenchSettings, frameBytes: number): Promise<number> {
  const f = { cpu: 0, netns: t.vmB.name, ifname: 'eth0', srcMac: WIRE_BENCH.vmB.mac, dstMac: WIRE_BENCH.vmA.mac, frameBytes };
  return (await sinkRate(f, { netns: t.vmA.name, ifname: 'eth0' }, s.warmupMs, s.durationMs)).mpps;
}

/** Kernel UDP sockets between the two VMs over the same path: what an application would see. */
export interface PingPongEnds {
  client: string;
  server: string;
  serverIp: string;
  /** On other hosts: each end's command prefix, and where udp-pingpong is there. */
  clientExec?: string[];
  serverExec?: string[];
  binDir?: string;
}

/** The two VMs of a wire topology as ping-pong ends. */
export const vmPingPong = (t: WireTopology): PingPongEnds => ({ client: t.vmB.name, server: t.vmA.name, serverIp: WIRE_BENCH.vmA.ip });

export async function udpPingPong(s: Pick<WireBenchSettings, 'rttProbes'>, e: PingPongEnds): Promise<{ p50: number; p99: number; p999: number }> {
  const bin = join(e.binDir ?? nativeDir(), 'udp-pingpong');
  const netns = (ns: string) => (ns ? ['--netns', ns] : []);
  const serverOn: RemoteHost = { exec: e.serverExec ?? [] };
  const serverArgs = ['server', ...netns(e.server), '--bind', e.serverIp, '--port', '7600'];
  const [sCmd, ...sArgs] = remoteArgv(serverOn, bin, serverArgs);
  const server = spawn(sCmd!, sArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`udp-pingpong server (${[sCmd, ...sArgs].join(' ')}) not ready within 10 s`)), 10_000);
      server.stderr.on('data', (d: Buffer) => (d.toString().includes('ready') ? (clearTimeout(guard), resolve()) : undefined));
      server.on('exit', (code) => (clearTimeout(guard), reject(new Error(`udp-pingpong server exited ${code}`))));
    });
    const out = await new Promise<string>((resolve, reject) => {
      const [cCmd, ...cArgs] = remoteArgv({ exec: e.clientExec ?? [] }, bin, ['client', ...netns(e.client), '--server', e.serverIp, '--port', '7600', '--count', String(s.rttProbes)]);
      const c = spawn(cCmd!, cArgs);
      // Each lost probe costs the client a 1 s receive timeout: never let a broken path hang the run.
      const guard = setTimeout(() => c.kill(), 60_000);
      c.on('exit', () => clearTimeout(guard));
      let o = '';
      c.stdout.on('data', (d: Buffer) => (o += d.toString()));
      c.on('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`udp-pingpong client exited ${code}`))));
    });
    const r = JSON.parse(out) as { rttNs: { p50: number; p99: number; p999: number } };
    return { p50: r.rttNs.p50 / 1000, p99: r.rttNs.p99 / 1000, p999: r.rttNs.p999 / 1000 };
  } finally {
    // On another host the server is stopped there; the local end of its prefix goes too.
    if (serverOn.exec.length > 0) await stopRemote(serverOn, `${bin} ${serverArgs.join(' ')}`);
    server.kill();
  }
}

type RoundTrips = { p50: number; p99: number; p999: number; hist?: HistogramBins };

async function roundTrip(t: WireTopology, s: WireBenchSettings, size: number): Promise<RoundTrips> {
  const reflector = await startReflector({ ifname: 'eth0', netns: t.vmA.name });
  try {
    const r = await rtt({ ifname: 'eth0', netns: t.vmB.name, srcMac: WIRE_BENCH.vmB.mac, dstMac: WIRE_BENCH.vmA.mac, count: s.rttProbes, warmup: 50, size });
    return { p50: r.rttNs.p50 / 1000, p99: r.rttNs.p99 / 1000, p999: r.rttNs.p999 / 1000, hist: r.hist };
  } finally {
    await reflector.stop();
  }
}

/** Per path (and frame size): the percentiles of every repetition, the histogram of all of them (ns). */
type Rtt = { p50: number[]; p99: number[]; p999: number[]; hist: HistogramBins };

function push(m: Map<string, Rtt>, key: string, r: RoundTrips): void {
  const l = m.get(key) ?? { p50: [], p99: [], p999: [], hist: [] };
  l.p50.push(r.p50);
  l.p99.push(r.p99);
  l.p999.push(r.p999);
  l.hist = mergeBins(l.hist, r.hist ?? []);
  m.set(key, l);
}

export interface WireRun {
  scenario: ScenarioName;
  topology: WireTopology;
  ours: WirePath;
  base: WirePath;
  /** Name of the baseline for the UDP-socket RTT (the same sockets over the baseline path). */
  socketBaseline: string;
  /** Steps the caller reports after these runs (part of the progress total). */
  extraSteps?: number;
}

/** Reports one finished step of the run: what the progress bar counts. */
export type Step = (msg: string) => void;


/** Runs both paths interleaved; returns the results with ratios ours / base. */
export async function runWirePaths(r: WireRun, s: WireBenchSettings): Promise<{ results: BenchResult[]; socketP50: number[]; step: Step }> {
  const t = r.topology;
  const sinkExec = (argv: string[]) => t.vmA.exec(argv);
  // The far VM drops in XDP so the stack's cost of each frame is not part of either path.
  await setSinkDrop(sinkExec, 'eth0', true);
  const paths = [r.ours, r.base];
  const w = Math.max(...paths.map((p) => p.name.length));
  const mpps = new Map<string, number[]>();
  const lat = new Map<string, Rtt>();
  const udp = new Map<string, Rtt>();
  // Per repetition and path: the throughput of each size, the round trips of each size, the sockets.
  const total = s.repetitions * paths.length * (2 * s.frameSizes.length + 1) + (r.extraSteps ?? 0);
  let done = 0;
  const step: Step = (msg) => s.progress(msg, { done: ++done, total });
  for (let rep = 0; rep < s.repetitions; rep++) {
    for (const p of paths) {
      await p.start(t, 'throughput');
      try {
        for (const size of s.frameSizes) {
          const v = await throughput(t, s, size);
          mpps.set(`${p.name}@${size}`, [...(mpps.get(`${p.name}@${size}`) ?? []), v]);
          step(`[rep ${rep + 1}] ${p.name.padEnd(w)} ${String(size).padStart(5)} B  ${v.toFixed(3)} Mpps`);
        }
      } finally {
        await p.stop(t);
      }
      // Round trips need the far VM to answer: the XDP drop comes off for them.
      await setSinkDrop(sinkExec, 'eth0', false);
      await p.start(t, 'latency');
      try {
        for (const size of s.frameSizes) {
          const frames = await roundTrip(t, s, size);
          push(lat, `${p.name}@${size}`, frames);
          step(`[rep ${rep + 1}] ${p.name.padEnd(w)} ${String(size).padStart(5)} B  frame rtt p50 ${frames.p50.toFixed(1)} us  p99 ${frames.p99.toFixed(1)} us`);
        }
        const sockets = await udpPingPong(s, vmPingPong(t));
        push(udp, p.name, sockets);
        step(`[rep ${rep + 1}] ${p.name.padEnd(w)} udp socket ping-pong p50 ${sockets.p50.toFixed(1)} us  p99 ${sockets.p99.toFixed(1)} us`);
      } finally {
        await p.stop(t);
        await setSinkDrop(sinkExec, 'eth0', true);
      }
    }
  }
  const detail = (v: ReturnType<typeof summarize>, b: ReturnType<typeof summarize>) => ({
    runs: v.runs.map(round3), baselineRuns: b.runs.map(round3), dut: r.ours.description, baselineDescription: r.base.description,
  });
  const results: BenchResult[] = [];
  for (const size of s.frameSizes) {
    const v = summarize(mpps.get(`${r.ours.name}@${size}`) ?? []);
    const b = summarize(mpps.get(`${r.base.name}@${size}`) ?? []);
    results.push({
      scenario: r.scenario, frameBytes: size, metric: 'mpps', value: round3(v.median), unit: 'Mpps', baseline: r.base.name,
      baselineValue: round3(b.median), ratio: ratioOf(v.median, b.median), detail: detail(v, b),
    });
    // The same rates as bits on a wire (frame, preamble, FCS and gap: 24 B more per frame).
    const gbps = (mpps: number) => round3((mpps * (size + 24) * 8) / 1e3);
    results.push({
      scenario: r.scenario, frameBytes: size, metric: 'gbps', value: gbps(v.median), unit: 'Gbit/s (L1, at the far VM)', baseline: r.base.name,
      baselineValue: gbps(b.median), ratio: ratioOf(v.median, b.median), detail: { runs: v.runs.map(gbps), baselineRuns: b.runs.map(gbps) },
    });
  }
  for (const size of s.frameSizes) {
    const ours = lat.get(`${r.ours.name}@${size}`);
    const base = lat.get(`${r.base.name}@${size}`);
    // The round trips of all repetitions, for the report's latency CDF.
    const hists = { histNs: ours?.hist ?? [], baselineHistNs: base?.hist ?? [] };
    for (const m of ['p50', 'p99', 'p999'] as const) {
      const v = summarize(ours?.[m] ?? []);
      const b = summarize(base?.[m] ?? []);
      results.push({
        scenario: r.scenario, frameBytes: size, metric: `rtt_${m}_us`, value: round3(v.median), unit: 'us', baseline: r.base.name,
        baselineValue: round3(b.median), ratio: ratioOf(v.median, b.median), detail: { ...detail(v, b), ...hists },
      });
    }
  }
  const uo = summarize(udp.get(r.ours.name)?.p50 ?? []);
  const ub = summarize(udp.get(r.base.name)?.p50 ?? []);
  results.push({
    scenario: r.scenario, frameBytes: 60, metric: 'rtt_p50_us', value: round3(uo.median), unit: 'us (UDP sockets in the VMs)',
    baseline: r.socketBaseline, baselineValue: round3(ub.median), ratio: ratioOf(uo.median, ub.median),
    detail: { runs: uo.runs.map(round3), baselineRuns: ub.runs.map(round3), dut: `UDP sockets in vmB/vmA over ${r.ours.name}`, baselineDescription: `UDP sockets in vmB/vmA over ${r.base.name}` },
  });
  return { results, socketP50: udp.get(r.ours.name)?.p50 ?? [], step };
}
