/** `wire-udp`: a VM's traffic to a VM on another host over our `udp` wire, side by side with
 * the kernel's VXLAN (a bridge and a vxlan device per host), in the same run: throughput at
 * the far VM, frame round trips, UDP sockets in the VMs, and host-to-host UDP as the floor. */
import type { Engine, UdpWire } from '../../dataplane/lib/index.js';
import { connectUdpWire } from '../../wires/udp/connect.js';
import { writeNetSysfs, cpuMask } from '../baselines/sys.js';
import { ratioOf, type BenchResult } from '../contract.js';
import { round3, summarize } from '../stats.js';
import { buildWireTopology, WIRE_BENCH, type WireTopology } from './wire-topology.js';
import { measureWireEcho, type EchoRuns } from './wire-echo.js';
import { hostEngines, runWirePaths, udpPingPong, type Measure, type WireBenchSettings, type WirePath } from './wire-run.js';

class BananaWirePath implements WirePath {
  readonly name = 'banana-udp';
  readonly description =
    'two banana engines (one per host), udp wire over the underlay veth; throughput: both workers on CPU 1 with ' +
    'backoff idle (the generator has CPU 0); latency: busy-polling workers, not pinned';
  private engines: Engine[] = [];
  /** hostB's end of the wire while started (the echo probes' requester). */
  wire: UdpWire | undefined;

  async start(t: WireTopology, m: Measure): Promise<void> {
    const [a, b] = hostEngines(t, m);
    this.engines = [a, b];
    const ua = a.addPort({ ifname: 'uA', netns: t.hostA.name, underlay: {} });
    const ub = b.addPort({ ifname: 'uB', netns: t.hostB.name, underlay: {} });
    this.wire = (await connectUdpWire({ engine: a, underlay: ua }, { engine: b, underlay: ub }, { wireId: 7 }))[1];
    a.start();
    b.start();
  }

  async stop(): Promise<void> {
    for (const e of this.engines) e.close();
    this.engines = [];
    this.wire = undefined;
    await Promise.resolve();
  }
}

export class VxlanPath implements WirePath {
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

export async function runWireUdp(s: WireBenchSettings): Promise<BenchResult[]> {
  const t = await buildWireTopology();
  try {
    const ours = new BananaWirePath();
    const { results, socketP50, step } = await runWirePaths(
      { scenario: 'wire-udp', topology: t, ours, base: new VxlanPath(), socketBaseline: 'kernel-udp-pingpong-over-vxlan', extraSteps: s.repetitions * (1 + s.frameSizes.length) },
      s,
    );
    // The floor: UDP sockets host to host on the bare underlay, no wire and no VM at all;
    // interleaved with the wire's own round trip (echoes engine to engine) on the same underlay.
    const bare: { p50: number[]; p99: number[] } = { p50: [], p99: [] };
    const echo: EchoRuns = new Map();
    for (let rep = 0; rep < s.repetitions; rep++) {
      const r = await udpPingPong(s, { client: t.hostB.name, server: t.hostA.name, serverIp: WIRE_BENCH.underlay.hostA });
      bare.p50.push(r.p50);
      bare.p99.push(r.p99);
      step(`[rep ${rep + 1}] underlay host-to-host udp socket ping-pong p50 ${r.p50.toFixed(1)} us`);
      await ours.start(t, 'latency');
      try {
        await measureWireEcho(ours.wire!, s.frameSizes, s.rttProbes, echo, step, rep);
      } finally {
        await ours.stop();
      }
    }
    for (const size of s.frameSizes) {
      for (const m of ['p50', 'p99'] as const) {
        const mine = summarize(echo.get(size)?.[m] ?? []);
        const floorM = summarize(bare[m]);
        results.push({
          scenario: 'wire-udp', frameBytes: size, metric: `rtt_${m}_us`, value: round3(mine.median), unit: 'us', baseline: 'kernel-udp-pingpong-host-to-host',
          baselineValue: round3(floorM.median), ratio: ratioOf(mine.median, floorM.median),
          detail: {
            runs: mine.runs.map(round3), baselineRuns: floorM.runs.map(round3),
            dut: `the wire's own round trip: an echo of ${size} B (+58 B of outer headers) from hostB's engine worker over the underlay, turned around in hostA's worker poll loop (${s.rttProbes} per repetition)`,
            baselineDescription: 'UDP sockets in hostB/hostA on the underlay itself, 18-byte payload, blocking recv as an application does (no VM, no wire)',
          },
        });
      }
    }
    const floor = summarize(bare.p50);
    const uo = summarize(socketP50);
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
