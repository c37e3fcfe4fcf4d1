/** `forward`: port-to-port forwarding rate between two veths, our engine side by side with
 * dpdk-testpmd (net_af_xdp) and the Linux bridge, interleaved in the same run. */
import { TestBed } from '../../test/bed/index.js';
import { LinuxBridgeForwarder } from '../baselines/linux-bridge.js';
import { TestpmdForwarder } from '../baselines/testpmd.js';
import { XdpRedirectForwarder } from '../baselines/xdp-redirect.js';
import type { ForwardPath, Forwarder } from '../baselines/forwarder.js';
import { ratioOf, type BenchResult } from '../contract.js';
import { round3, summarize, type Summary } from '../stats.js';
import { BananaForwarder } from './banana-forwarder.js';
import { setSinkDrop, sinkRate } from './flood.js';
import type { Progress } from '../progress.js';

export interface ForwardSettings {
  frameSizes: number[];
  repetitions: number;
  warmupMs: number;
  durationMs: number;
  /** CPU of the generator; the device under test gets the other one. */
  generatorCpu: number;
  dutCpu: number;
  progress: Progress;
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
/** A DUT that forwarded nearly all it was offered (within this factor) may have had more to
 * give: the result is flagged as possibly generator-bound. One that drops the rest is not. */
const GENERATOR_HEADROOM = 1.1;
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
  await setSinkDrop((argv) => sink.exec(argv), 's0', true);
  // Live frames reach a veth only through its NAPI: GRO on for a DUT without an XDP program
  // (the bridge); XDP programs see the frames before GRO.
  await dut.exec(['ethtool', '-K', 'p0', 'gro', 'on']);
  return { bed, path: { netns: dut.name, ingress: 'p0', egress: 'p1' }, gen: gen.name, sink: sink.name };
}

async function measureOnce(t: Topology, s: ForwardSettings, fwd: Forwarder, frameBytes: number): Promise<number> {
  await fwd.start();
  try {
    const f = { cpu: s.generatorCpu, netns: t.gen, ifname: 'g0', srcMac: GEN_MAC, dstMac: SINK_MAC, frameBytes, generator: 'xdp-live' as const };
    const r = await sinkRate(f, { netns: t.sink, ifname: 's0' }, s.warmupMs, s.durationMs);
    // The device under test, not the generator, must set the rate.
    if (r.offeredMpps < r.mpps * GENERATOR_HEADROOM)
      s.progress(`warning: ${fwd.name} at ${frameBytes} B got ${r.mpps.toFixed(3)} Mpps of ${r.offeredMpps.toFixed(3)} offered: the generator may have bounded it`);
    return r.mpps;
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
          s.progress(`${dut.name.padEnd(15)} ${String(size).padStart(5)} B  ${mpps.toFixed(3)} Mpps`, { done: ++done, total });
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
