/** `forward`: port-to-port forwarding rate between two veths, our engine side by side with
 * dpdk-testpmd (net_af_xdp) and the Linux bridge, interleaved in the same run. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { nativeDir } from '../../dataplane/lib/paths.js';
import { TestBed } from '../../test/bed/index.js';
import { trafficBinary } from '../traffic/traffic.js';
import { LinuxBridgeForwarder } from '../baselines/linux-bridge.js';
import { TestpmdForwarder } from '../baselines/testpmd.js';
import { XdpRedirectForwarder } from '../baselines/xdp-redirect.js';
import type { ForwardPath, Forwarder } from '../baselines/forwarder.js';
import { readCounters } from '../baselines/sys.js';
import { ratioOf, type BenchResult } from '../contract.js';
import { round3, summarize, type Summary } from '../stats.js';
import { BananaForwarder } from './banana-forwarder.js';

export interface ForwardSettings {
  frameSizes: number[];
  repetitions: number;
  warmupMs: number;
  durationMs: number;
  /** CPU of the generator; the device under test gets the other one. */
  generatorCpu: number;
  dutCpu: number;
  progress: (msg: string) => void;
  /** The devices under test, ours first; default: banana, testpmd (net_af_xdp), Linux bridge. */
  duts?: (path: ForwardPath, s: ForwardSettings, sinkNetns: string) => Forwarder[];
}

function defaultDuts(path: ForwardPath, s: ForwardSettings, sinkNetns: string): Forwarder[] {
  return [
    new BananaForwarder(path, { cpu: s.dutCpu }),
    new TestpmdForwarder(path, { cpu: s.dutCpu }),
    new LinuxBridgeForwarder(path, { sinkMac: SINK_MAC, cpu: s.dutCpu }),
    // The in-kernel upper bound for context: no userspace at all.
    new XdpRedirectForwarder(path, { cpu: s.dutCpu, egressPeer: { netns: sinkNetns, ifname: 's0' } }),
  ];
}

export const QUICK: Omit<ForwardSettings, 'progress'> = { frameSizes: [64], repetitions: 1, warmupMs: 500, durationMs: 1000, generatorCpu: 0, dutCpu: 1 };
export const FULL: Omit<ForwardSettings, 'progress'> = { frameSizes: [64, 256, 1400], repetitions: 5, warmupMs: 1000, durationMs: 3000, generatorCpu: 0, dutCpu: 1 };

const GEN_MAC = '02:ba:be:00:00:01';
const SINK_MAC = '02:ba:be:00:00:02';

interface Topology {
  bed: TestBed;
  path: ForwardPath;
  gen: string;
  sink: string;
}

async function buildTopology(): Promise<Topology> {
  const bed = await TestBed.create();
  const gen = await bed.createNetns('gen');
  const dut = await bed.createNetns('dut');
  const sink = await bed.createNetns('sink');
  await bed.createVeth({ ns: gen, name: 'g0', mac: GEN_MAC }, { ns: dut, name: 'p0' });
  await bed.createVeth({ ns: sink, name: 's0', mac: SINK_MAC }, { ns: dut, name: 'p1' });
  // The sink drops in XDP: the IP stack's cost for every frame would otherwise land on the
  // DUT core (frames from p1 are received on the core that sent them) and halve every DUT.
  await sink.exec(['ip', 'link', 'set', 'dev', 's0', 'xdpdrv', 'obj', join(nativeDir(), 'xdp_drop.bpf.o'), 'sec', 'xdp']);
  return { bed, path: { netns: dut.name, ingress: 'p0', egress: 'p1' }, gen: gen.name, sink: sink.name };
}

/** Floods g0 for the whole window at full speed, pinned to the generator CPU. */
function startGenerator(t: Topology, s: ForwardSettings, frameBytes: number, ms: number): Promise<void> {
  const args = ['-c', String(s.generatorCpu), trafficBinary(), 'send', '--netns', t.gen, '--ifname', 'g0',
    '--src-mac', GEN_MAC, '--dst-mac', SINK_MAC, '--size', String(frameBytes), '--duration-ms', String(ms), '--batch', '256', '--qdisc-bypass'];
  const child = spawn('taskset', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`traffic generator exited ${code}: ${err.trim()}`))));
  });
}

async function measureOnce(t: Topology, s: ForwardSettings, fwd: Forwarder, frameBytes: number): Promise<number> {
  await fwd.start();
  try {
    const gen = startGenerator(t, s, frameBytes, s.warmupMs + s.durationMs + 300);
    await new Promise((r) => setTimeout(r, s.warmupMs));
    const c0 = await readCounters('forward', t.sink, 's0');
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, s.durationMs));
    const c1 = await readCounters('forward', t.sink, 's0');
    const t1 = process.hrtime.bigint();
    await gen;
    return (c1.rxPackets - c0.rxPackets) / (Number(t1 - t0) / 1e9) / 1e6;
  } finally {
    await fwd.stop();
  }
}

export async function runForward(s: ForwardSettings): Promise<BenchResult[]> {
  const t = await buildTopology();
  try {
    const duts = (s.duts ?? defaultDuts)(t.path, s, t.sink);
    const runs = new Map<string, number[]>();
    const descriptions = new Map<string, string>();
    const total = s.repetitions * s.frameSizes.length * duts.length;
    let done = 0;
    // Interleaved: every repetition measures every DUT, so drift on a noisy machine hits all alike.
    for (let rep = 0; rep < s.repetitions; rep++) {
      for (const size of s.frameSizes) {
        for (const dut of duts) {
          const mpps = await measureOnce(t, s, dut, size);
          descriptions.set(dut.name, dut.description);
          const key = `${dut.name}@${size}`;
          runs.set(key, [...(runs.get(key) ?? []), mpps]);
          s.progress(`[${++done}/${total}] ${dut.name.padEnd(15)} ${String(size).padStart(5)} B  ${mpps.toFixed(3)} Mpps`);
        }
      }
    }
    const results: BenchResult[] = [];
    const [ours, ...baselines] = duts;
    for (const size of s.frameSizes) {
      const mine = summarize(runs.get(`${ours!.name}@${size}`) ?? []);
      const gbps = (mine.median * 1e6 * (size + 24) * 8) / 1e9; // with preamble, FCS and gap, as on a wire
      for (const b of baselines) {
        const theirs = summarize(runs.get(`${b.name}@${size}`) ?? []);
        results.push(result(size, 'mpps', mine, 'Mpps', b.name, theirs, descriptions));
      }
      results.push({
        scenario: 'forward', frameBytes: size, metric: 'gbps', value: round3(gbps), unit: 'Gbit/s (L1)',
        baseline: null, baselineValue: null, ratio: null, detail: { dut: descriptions.get(ours!.name) },
      });
    }
    return results;
  } finally {
    await t.bed.close();
  }
}

function result(size: number, metric: 'mpps', mine: Summary, unit: string, baseline: string, theirs: Summary, d: Map<string, string>): BenchResult {
  const value = round3(mine.median);
  const baselineValue = round3(theirs.median);
  return {
    scenario: 'forward', frameBytes: size, metric, value, unit, baseline, baselineValue, ratio: ratioOf(mine.median, theirs.median),
    detail: {
      runs: mine.runs.map(round3), baselineRuns: theirs.runs.map(round3), spread: [round3(mine.min), round3(mine.max)],
      baselineSpread: [round3(theirs.min), round3(theirs.max)], dut: d.get('banana-af_xdp'), baselineDescription: d.get(baseline),
    },
  };
}
