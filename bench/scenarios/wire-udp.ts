/** `wire-udp`: a VM's traffic to a VM on another host over our `udp` wire, side by side with
 * the kernel's VXLAN (a bridge and a vxlan device per host), in the same run: throughput at
 * the far VM and round-trip latency (banana-traffic rtt against a reflector). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Engine } from '../../dataplane/lib/index.js';
import { nativeDir } from '../../dataplane/lib/paths.js';
import { connectUdpWire } from '../../wires/udp/connect.js';
import { writeNetSysfs, cpuMask } from '../baselines/sys.js';
import { rtt, startReflector } from '../traffic/traffic.js';
import { ratioOf, type BenchResult } from '../contract.js';
import { round3, summarize } from '../stats.js';
import { buildWireTopology, WIRE_BENCH, type WireTopology } from './wire-topology.js';
import { setSinkDrop, sinkRate } from './flood.js';

export interface WireUdpSettings {
  frameSizes: number[];
  repetitions: number;
  warmupMs: number;
  durationMs: number;
  rttProbes: number;
  progress: (msg: string) => void;
}

export const WIRE_QUICK: Omit<WireUdpSettings, 'progress'> = { frameSizes: [64], repetitions: 1, warmupMs: 300, durationMs: 1000, rttProbes: 300 };
export const WIRE_FULL: Omit<WireUdpSettings, 'progress'> = { frameSizes: [64, 1400], repetitions: 3, warmupMs: 500, durationMs: 2000, rttProbes: 2000 };

type Measure = 'throughput' | 'latency';

interface WirePath {
  readonly name: string;
  readonly description: string;
  start(t: WireTopology, m: Measure): Promise<void>;
  stop(t: WireTopology): Promise<void>;
}

class BananaWirePath implements WirePath {
  readonly name = 'banana-udp';
  readonly description =
    'two banana engines (one per host), udp wire over the underlay veth; throughput: both workers on CPU 1 with ' +
    'backoff idle (the generator has CPU 0); latency: busy-polling workers, not pinned';
  private engines: Engine[] = [];

  async start(t: WireTopology, m: Measure): Promise<void> {
    // Two pinned busy pollers on one core would take turns by scheduler slices (ms): for
    // throughput they share CPU 1 politely; for latency each gets a core of its own.
    const settings =
      m === 'throughput'
        ? { cpus: [1], idle: { policy: 'backoff', spinLoops: 5000, maxSleepUs: 50 } as const }
        : { idle: { policy: 'busy' } as const };
    const a = new Engine(settings);
    const b = new Engine(settings);
    this.engines = [a, b];
    a.addPort({ ifname: 'tapA', netns: t.hostA.name });
    b.addPort({ ifname: 'tapB', netns: t.hostB.name });
    const ua = a.addPort({ ifname: 'uA', netns: t.hostA.name, underlay: {} });
    const ub = b.addPort({ ifname: 'uB', netns: t.hostB.name, underlay: {} });
    await connectUdpWire({ engine: a, underlay: ua }, { engine: b, underlay: ub }, { wireId: 7 });
    a.start();
    b.start();
  }

  async stop(): Promise<void> {
    for (const e of this.engines) e.close();
    this.engines = [];
    await Promise.resolve();
  }
}

class VxlanPath implements WirePath {
  readonly name = 'kernel-vxlan';
  readonly description = 'Linux bridge + vxlan device per host (VNI 42, UDP 4789), RPS of tapB and uA to CPU 1';

  async start(t: WireTopology): Promise<void> {
    const u = WIRE_BENCH.underlay;
    for (const [ns, tap, local, remote, dev] of [
      [t.hostA, 'tapA', u.hostA, u.hostB, 'uA'],
      [t.hostB, 'tapB', u.hostB, u.hostA, 'uB'],
    ] as const) {
      await ns.exec(['ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', String(WIRE_BENCH.vni), 'local', local, 'remote', remote, 'dstport', '4789', 'dev', dev]);
      await ns.exec(['ip', 'link', 'add', 'brw', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
      for (const port of ['vx0', tap]) await ns.exec(['ip', 'link', 'set', port, 'master', 'brw']);
      for (const l of ['vx0', 'brw']) await ns.exec(['ip', 'link', 'set', l, 'up']);
    }
    for (const [ns, dev] of [[t.hostB.name, 'tapB'], [t.hostA.name, 'uA']] as const) {
      await writeNetSysfs(this.name, ns, dev, 'queues/rx-0/rps_cpus', cpuMask(1));
    }
  }

  async stop(t: WireTopology): Promise<void> {
    for (const ns of [t.hostA, t.hostB]) {
      await ns.exec(['ip', 'link', 'del', 'brw']).catch(() => undefined);
      await ns.exec(['ip', 'link', 'del', 'vx0']).catch(() => undefined);
    }
    for (const [ns, dev] of [[t.hostB.name, 'tapB'], [t.hostA.name, 'uA']] as const) {
      await writeNetSysfs(this.name, ns, dev, 'queues/rx-0/rps_cpus', '0').catch(() => undefined);
    }
  }
}

async function throughput(t: WireTopology, s: WireUdpSettings, frameBytes: number): Promise<number> {
  const f = { cpu: 0, netns: t.vmB.name, ifname: 'eth0', srcMac: WIRE_BENCH.vmB.mac, dstMac: WIRE_BENCH.vmA.mac, frameBytes };
  return sinkRate(f, { netns: t.vmA.name, ifname: 'eth0' }, s.warmupMs, s.durationMs);
}

/** Kernel UDP sockets between the two VMs over the same path: what an application would see. */
interface PingPongEnds {
  client: string;
  server: string;
  serverIp: string;
}

async function udpPingPong(t: WireTopology, s: WireUdpSettings, ends?: PingPongEnds): Promise<{ p50: number; p99: number; p999: number }> {
  const e = ends ?? { client: t.vmB.name, server: t.vmA.name, serverIp: WIRE_BENCH.vmA.ip };
  const bin = join(nativeDir(), 'udp-pingpong');
  const server = spawn(bin, ['server', '--netns', e.server, '--bind', e.serverIp, '--port', '7600'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stderr.on('data', (d: Buffer) => (d.toString().includes('ready') ? resolve() : undefined));
      server.on('exit', (code) => reject(new Error(`udp-pingpong server exited ${code}`)));
    });
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(bin, ['client', '--netns', e.client, '--server', e.serverIp, '--port', '7600', '--count', String(s.rttProbes)]);
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
    server.kill();
  }
}

async function roundTrip(t: WireTopology, s: WireUdpSettings): Promise<{ p50: number; p99: number; p999: number }> {
  const reflector = await startReflector({ ifname: 'eth0', netns: t.vmA.name });
  try {
    const r = await rtt({ ifname: 'eth0', netns: t.vmB.name, srcMac: WIRE_BENCH.vmB.mac, dstMac: WIRE_BENCH.vmA.mac, count: s.rttProbes, warmup: 50, size: 64 });
    return { p50: r.rttNs.p50 / 1000, p99: r.rttNs.p99 / 1000, p999: r.rttNs.p999 / 1000 };
  } finally {
    await reflector.stop();
  }
}

export async function runWireUdp(s: WireUdpSettings): Promise<BenchResult[]> {
  const t = await buildWireTopology();
  const sinkExec = (argv: string[]) => t.vmA.exec(argv);
  try {
    // The far VM drops in XDP so the stack's cost of each frame is not part of either path.
    await setSinkDrop(sinkExec, 'eth0', true);
    const paths: WirePath[] = [new BananaWirePath(), new VxlanPath()];
    const mpps = new Map<string, number[]>();
    const lat = new Map<string, { p50: number[]; p99: number[]; p999: number[] }>();
    for (let rep = 0; rep < s.repetitions; rep++) {
      for (const p of paths) {
        await p.start(t, 'throughput');
        try {
          for (const size of s.frameSizes) {
            const v = await throughput(t, s, size);
            mpps.set(`${p.name}@${size}`, [...(mpps.get(`${p.name}@${size}`) ?? []), v]);
            s.progress(`[rep ${rep + 1}] ${p.name.padEnd(13)} ${String(size).padStart(5)} B  ${v.toFixed(3)} Mpps`);
          }
        } finally {
          await p.stop(t);
        }
        // RTT needs the far VM to answer: the XDP drop comes off for it.
        await setSinkDrop(sinkExec, 'eth0', false);
        await p.start(t, 'latency');
        try {
          const r = await roundTrip(t, s);
          const l = lat.get(p.name) ?? { p50: [], p99: [], p999: [] };
          l.p50.push(r.p50);
          l.p99.push(r.p99);
          l.p999.push(r.p999);
          lat.set(p.name, l);
          s.progress(`[rep ${rep + 1}] ${p.name.padEnd(13)} rtt p50 ${r.p50.toFixed(1)} us  p99 ${r.p99.toFixed(1)} us`);
        } finally {
          await p.stop(t);
          await setSinkDrop(sinkExec, 'eth0', true);
        }
      }
    }
    const [ours, base] = paths as [WirePath, WirePath];
    const results: BenchResult[] = [];
    for (const size of s.frameSizes) {
      const v = summarize(mpps.get(`${ours.name}@${size}`) ?? []);
      const b = summarize(mpps.get(`${base.name}@${size}`) ?? []);
      results.push({
        scenario: 'wire-udp', frameBytes: size, metric: 'mpps', value: round3(v.median), unit: 'Mpps', baseline: base.name,
        baselineValue: round3(b.median), ratio: ratioOf(v.median, b.median),
        detail: { runs: v.runs.map(round3), baselineRuns: b.runs.map(round3), dut: ours.description, baselineDescription: base.description },
      });
    }
    // The application's view: UDP sockets in the two VMs over our wire, and over VXLAN.
    const udp = new Map<string, { p50: number[]; p99: number[]; p999: number[] }>();
    for (let rep = 0; rep < s.repetitions; rep++) {
      for (const p of paths) {
        await setSinkDrop(sinkExec, 'eth0', false).catch(() => undefined);
        await p.start(t, 'latency');
        try {
          const r = await udpPingPong(t, s);
          const l = udp.get(p.name) ?? { p50: [], p99: [], p999: [] };
          l.p50.push(r.p50);
          l.p99.push(r.p99);
          l.p999.push(r.p999);
          udp.set(p.name, l);
          s.progress(`[rep ${rep + 1}] ${p.name.padEnd(13)} udp socket ping-pong p50 ${r.p50.toFixed(1)} us  p99 ${r.p99.toFixed(1)} us`);
        } finally {
          await p.stop(t);
        }
      }
    }
    // The floor: UDP sockets host to host on the bare underlay, no wire and no VM at all.
    const bare: number[] = [];
    for (let rep = 0; rep < s.repetitions; rep++) {
      const r = await udpPingPong(t, s, { client: t.hostB.name, server: t.hostA.name, serverIp: WIRE_BENCH.underlay.hostA });
      bare.push(r.p50);
      s.progress(`[rep ${rep + 1}] underlay host-to-host udp socket ping-pong p50 ${r.p50.toFixed(1)} us`);
    }
    const lo = lat.get(ours.name);
    const lb = lat.get(base.name);
    for (const m of ['p50', 'p99', 'p999'] as const) {
      const v = summarize(lo?.[m] ?? []);
      const b = summarize(lb?.[m] ?? []);
      results.push({
        scenario: 'wire-udp', frameBytes: 64, metric: `rtt_${m}_us`, value: round3(v.median), unit: 'us', baseline: base.name,
        baselineValue: round3(b.median), ratio: ratioOf(v.median, b.median),
        detail: { runs: v.runs.map(round3), baselineRuns: b.runs.map(round3), dut: ours.description, baselineDescription: base.description },
      });
    }
    // Target of the issue: RTT p50 over our wire <= a kernel UDP ping-pong (here: over VXLAN,
    // the path such an application would otherwise use between the two VMs).
    const uo = summarize(udp.get(ours.name)?.p50 ?? []);
    const ub = summarize(udp.get(base.name)?.p50 ?? []);
    results.push({
      scenario: 'wire-udp', frameBytes: 60, metric: 'rtt_p50_us', value: round3(uo.median), unit: 'us (UDP sockets in the VMs)',
      baseline: 'kernel-udp-pingpong-over-vxlan', baselineValue: round3(ub.median), ratio: ratioOf(uo.median, ub.median),
      detail: { runs: uo.runs.map(round3), baselineRuns: ub.runs.map(round3), dut: 'UDP sockets in vmB/vmA over the banana udp wire', baselineDescription: 'UDP sockets in vmB/vmA over kernel VXLAN' },
    });
    const floor = summarize(bare);
    results.push({
      scenario: 'wire-udp', frameBytes: 60, metric: 'rtt_p50_us', value: round3(uo.median), unit: 'us (UDP sockets in the VMs)',
      baseline: 'kernel-udp-pingpong-host-to-host', baselineValue: round3(floor.median), ratio: ratioOf(uo.median, floor.median),
      detail: { runs: uo.runs.map(round3), baselineRuns: floor.runs.map(round3), dut: 'UDP sockets in vmB/vmA over the banana udp wire', baselineDescription: 'UDP sockets in hostB/hostA on the underlay itself (no VM, no wire)' },
    });
    return results;
  } finally {
    await t.bed.close();
  }
}
