/** The throughput method both scenarios share: flood from a generator pinned to one CPU,
 * and count what reaches the sink over a window after a warm-up. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { nativeDir } from '../../dataplane/lib/paths.js';
import { readCounters } from '../baselines/sys.js';
import { trafficBinary } from '../traffic/traffic.js';

export interface FloodSpec {
  cpu: number;
  netns: string;
  ifname: string;
  srcMac: string;
  dstMac: string;
  frameBytes: number;
  /** af-packet (default): sendmmsg from a socket, ~0.7 Mpps on one core here, paying the
   * ingress veth's receive work on the same core. xdp-live: BPF_PROG_RUN live frames, several
   * Mpps, for a device under test that must never be starved. */
  generator?: 'af-packet' | 'xdp-live';
}

/** Each live-frames call pauses ~30 ms (the kernel sets up and tears down a page pool) every
 * ~200 ms; a second generator on the same core covers the other's pauses. */
const XDP_LIVE_GENERATORS = 2;

function floodPinned(f: FloodSpec, ms: number): Promise<number> {
  const backend = f.generator === 'xdp-live' ? ['--backend', 'xdp-live'] : ['--batch', '256', '--qdisc-bypass'];
  const args = ['-c', String(f.cpu), trafficBinary(), 'send', '--netns', f.netns, '--ifname', f.ifname, '--src-mac', f.srcMac,
    '--dst-mac', f.dstMac, '--size', String(f.frameBytes), '--duration-ms', String(ms), ...backend];
  const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`traffic generator exited ${code}: ${err.trim()}`));
      const pps = (JSON.parse(out) as { pps?: unknown }).pps;
      resolve(typeof pps === 'number' ? pps : 0);
    });
  });
}

export interface SinkRate {
  /** Mpps that reached the sink over the window. */
  mpps: number;
  /** Mpps the generator(s) sent over their whole run: well above mpps, or the generator bounded the result. */
  offeredMpps: number;
}

/** What arrives at the sink interface while the generator floods. */
export async function sinkRate(f: FloodSpec, sink: { netns: string; ifname: string }, warmupMs: number, durationMs: number): Promise<SinkRate> {
  const n = f.generator === 'xdp-live' ? XDP_LIVE_GENERATORS : 1;
  const gens = Promise.all(Array.from({ length: n }, () => floodPinned(f, warmupMs + durationMs + 300)));
  await new Promise((r) => setTimeout(r, warmupMs));
  const c0 = await readCounters('flood', sink.netns, sink.ifname);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, durationMs));
  const c1 = await readCounters('flood', sink.netns, sink.ifname);
  const t1 = process.hrtime.bigint();
  const offered = (await gens).reduce((a, b) => a + b, 0);
  return { mpps: (c1.rxPackets - c0.rxPackets) / (Number(t1 - t0) / 1e9) / 1e6, offeredMpps: offered / 1e6 };
}

/** The sink drops in XDP, before the IP stack, whose cost would otherwise land on the DUT
 * core (a veth peer receives on the core that sent to it). */
export async function setSinkDrop(exec: (argv: string[]) => Promise<string>, ifname: string, on: boolean): Promise<void> {
  const argv = on ? ['xdpdrv', 'obj', join(nativeDir(), 'xdp_drop.bpf.o'), 'sec', 'xdp'] : ['xdpdrv', 'off'];
  await exec(['ip', 'link', 'set', 'dev', ifname, ...argv]);
}
