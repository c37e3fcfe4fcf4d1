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
}

function floodPinned(f: FloodSpec, ms: number): Promise<void> {
  const args = ['-c', String(f.cpu), trafficBinary(), 'send', '--netns', f.netns, '--ifname', f.ifname, '--src-mac', f.srcMac,
    '--dst-mac', f.dstMac, '--size', String(f.frameBytes), '--duration-ms', String(ms), '--batch', '256', '--qdisc-bypass'];
  const child = spawn('taskset', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`traffic generator exited ${code}: ${err.trim()}`))));
  });
}

/** Mpps arriving at the sink interface while the generator floods. */
export async function sinkRate(f: FloodSpec, sink: { netns: string; ifname: string }, warmupMs: number, durationMs: number): Promise<number> {
  const gen = floodPinned(f, warmupMs + durationMs + 300);
  await new Promise((r) => setTimeout(r, warmupMs));
  const c0 = await readCounters('flood', sink.netns, sink.ifname);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, durationMs));
  const c1 = await readCounters('flood', sink.netns, sink.ifname);
  const t1 = process.hrtime.bigint();
  await gen;
  return (c1.rxPackets - c0.rxPackets) / (Number(t1 - t0) / 1e9) / 1e6;
}

/** The sink drops in XDP, before the IP stack, whose cost would otherwise land on the DUT
 * core (a veth peer receives on the core that sent to it). */
export async function setSinkDrop(exec: (argv: string[]) => Promise<string>, ifname: string, on: boolean): Promise<void> {
  const argv = on ? ['xdpdrv', 'obj', join(nativeDir(), 'xdp_drop.bpf.o'), 'sec', 'xdp'] : ['xdpdrv', 'off'];
  await exec(['ip', 'link', 'set', 'dev', ifname, ...argv]);
}
