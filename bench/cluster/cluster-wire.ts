/** The wire scenarios on hosts given by config (`--hosts FILE`, cluster-config.ts): a test VM
 * on the Spike host, wired to the Corm through the deployment's own controllers, answers a
 * machine on the Corm's network. Measured side by side in the same run: frame round trips
 * from the VM to that machine over the wire, UDP sockets over the same path, and UDP sockets
 * host to host on the bare underlay (the floor: no VM, no wire). */
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { ApiClient } from '../../controller/api/api-client.js';
import type { WireView } from '../../controller/model/views.js';
import { ratioOf, type BenchResult, type ScenarioName } from '../contract.js';
import { round3, summarize } from '../stats.js';
import { rtt, startReflector, trafficBinary, type RemoteHost } from '../traffic/traffic.js';
import { udpPingPong, type WireBenchSettings } from '../scenarios/wire-run.js';
import type { ClusterConfig, ClusterHost } from './cluster-config.js';

const VM_NS = 'bnbench-vm';
const TAP = 'bnbench-tap';
const SPIKE = 'bnbench';

/** Runs argv on a host (through its command prefix); rejects with its stderr. */
async function on(host: ClusterHost, argv: string[]): Promise<string> {
  const [cmd, ...args] = [...host.exec, ...argv];
  try {
    return (await promisify(execFile)(cmd!, args, { timeout: 30_000 })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${[...host.exec, ...argv].join(' ')}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

const ipIn = (ns: string, args: string[]) => (ns ? ['ip', '-n', ns, ...args] : ['ip', ...args]);

/** The test VM: a namespace on the Spike host, its eth0 a veth whose other end (the tap) sits
 * in the daemon's namespace. Checksums are computed in the VM (AF_XDP carries no offload
 * metadata). */
async function createVm(c: ClusterConfig): Promise<void> {
  const h = c.spike;
  await on(h, ['ip', 'netns', 'add', VM_NS]);
  await on(h, ['ip', 'link', 'add', TAP, 'type', 'veth', 'peer', 'name', 'bnbench-eth0', 'netns', VM_NS]);
  if (h.netns) await on(h, ['ip', 'link', 'set', TAP, 'netns', h.netns]);
  await on(h, ipIn(h.netns, ['link', 'set', TAP, 'up']));
  await on(h, ipIn(VM_NS, ['link', 'set', 'bnbench-eth0', 'name', 'eth0']));
  await on(h, ipIn(VM_NS, ['link', 'set', 'eth0', 'address', c.vm.mac]));
  await on(h, ipIn(VM_NS, ['addr', 'add', `${c.vm.ip}/${c.vm.prefixLen}`, 'dev', 'eth0']));
  await on(h, ipIn(VM_NS, ['link', 'set', 'eth0', 'up']));
  await on(h, ['ip', 'netns', 'exec', VM_NS, 'ethtool', '-K', 'eth0', 'tx', 'off']);
}

async function removeVm(c: ClusterConfig): Promise<void> {
  await on(c.spike, ipIn(c.spike.netns, ['link', 'del', TAP])).catch(() => undefined);
  await on(c.spike, ['ip', 'netns', 'del', VM_NS]).catch(() => undefined);
}

/** Up to the wire: the VM's tap a Spike of the Spike host, connected to the Corm over `type`. */
async function wireVm(api: ApiClient, c: ClusterConfig, type: 'udp' | 'rdma'): Promise<WireView> {
  await api.request('POST', '/v1/spikes', { name: SPIKE, ifname: TAP, mac: c.vm.mac });
  const wire = await api.request<WireView>('POST', `/v1/spikes/${SPIKE}/connect`, { corm: c.corm.id, type });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const w = (await api.request<WireView[]>('GET', '/v1/wires')).find((x) => x.id === wire.id);
    if (w?.state === 'up') return w;
    if (Date.now() > deadline) throw new Error(`wire ${wire.id} from ${c.spike.host}/${SPIKE} to ${c.corm.id} did not come up within 10 s (state ${w?.state ?? 'gone'})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runClusterWire(scenario: ScenarioName, type: 'udp' | 'rdma', c: ClusterConfig & { secretValue: string }, s: WireBenchSettings): Promise<BenchResult[]> {
  const api = new ApiClient({ address: c.spike.api, secret: c.secretValue, caller: 'cli' });
  const binDir = c.bin;
  const remote = (h: ClusterHost): RemoteHost => ({ exec: h.exec, ...(binDir ? { bin: `${binDir}/banana-traffic` } : {}) });
  const pingDir = binDir ?? dirname(trafficBinary());
  s.progress(`cluster: test VM on ${c.spike.host}, ${type} wire to ${c.corm.id}, peer ${c.peer.ip}`);
  // What a killed run left: the Spike first (it holds the tap), then the VM.
  await api.request('DELETE', `/v1/spikes/${SPIKE}`).catch(() => undefined);
  await removeVm(c);
  const results: BenchResult[] = [];
  try {
    await createVm(c);
    const wire = await wireVm(api, c, type);
    s.progress(`cluster: wire ${wire.id} (${wire.type}) up, MTU ${wire.mtu}`);
    const frames = new Map<number, { p50: number[]; p99: number[] }>();
    const overWire: number[] = [];
    const floor: number[] = [];
    const total = s.repetitions * (s.frameSizes.length + 2);
    let done = 0;
    for (let rep = 0; rep < s.repetitions; rep++) {
      const reflector = await startReflector({ ifname: c.peer.ifname, ...(c.peer.netns ? { netns: c.peer.netns } : {}), on: remote(c.peer) });
      try {
        for (const size of s.frameSizes) {
          const r = await rtt({ ifname: 'eth0', netns: VM_NS, on: remote(c.spike), srcMac: c.vm.mac, dstMac: c.peer.mac, count: s.rttProbes, warmup: 50, size });
          const l = frames.get(size) ?? { p50: [], p99: [] };
          l.p50.push(r.rttNs.p50 / 1000);
          l.p99.push(r.rttNs.p99 / 1000);
          frames.set(size, l);
          s.progress(`[rep ${rep + 1}] ${size} B frames, VM -> peer over the wire: p50 ${(r.rttNs.p50 / 1000).toFixed(1)} us`, { done: ++done, total });
        }
      } finally {
        await reflector.stop();
      }
      // Interleaved: sockets over the wire, then on the bare underlay, in each repetition.
      const w = await udpPingPong(s, { client: VM_NS, clientExec: c.spike.exec, server: c.peer.netns, serverExec: c.peer.exec, serverIp: c.peer.ip, binDir: pingDir });
      overWire.push(w.p50);
      s.progress(`[rep ${rep + 1}] udp sockets VM -> peer over the wire: p50 ${w.p50.toFixed(1)} us`, { done: ++done, total });
      const f = await udpPingPong(s, { client: c.spike.netns, clientExec: c.spike.exec, server: c.corm.netns, serverExec: c.corm.exec, serverIp: c.corm.underlayIp, binDir: pingDir });
      floor.push(f.p50);
      s.progress(`[rep ${rep + 1}] udp sockets ${c.spike.host} -> Corm host on the underlay: p50 ${f.p50.toFixed(1)} us`, { done: ++done, total });
    }
    const ours = summarize(overWire);
    const base = summarize(floor);
    const where = { spikeHost: c.spike.host, corm: c.corm.id, wire: wire.id, wireType: wire.type, mtu: wire.mtu, measuredIn: 'cluster (--hosts)' };
    results.push({
      scenario, frameBytes: 60, metric: 'rtt_p50_us', value: round3(ours.median), unit: 'us (UDP sockets, VM to peer)',
      baseline: 'kernel-udp-pingpong-host-to-host', baselineValue: round3(base.median), ratio: ratioOf(ours.median, base.median),
      detail: { ...where, runs: ours.runs.map(round3), baselineRuns: base.runs.map(round3), dut: `UDP sockets in the test VM on ${c.spike.host} to the peer, over the ${wire.type} wire and ${c.corm.id}`, baselineDescription: `UDP sockets from ${c.spike.host} to the Corm host on the underlay itself (no VM, no wire)` },
    });
    for (const [size, l] of frames) {
      for (const [metric, values] of [['rtt_p50_us', l.p50], ['rtt_p99_us', l.p99]] as const) {
        const v = summarize(values);
        // Frames against sockets would compare different things: no baseline here, the
        // sockets' ratio above is the comparison.
        results.push({ scenario, frameBytes: size, metric, value: round3(v.median), unit: 'us (frames, VM to peer)', baseline: null, baselineValue: null, ratio: null, detail: { ...where, runs: v.runs.map(round3) } });
      }
    }
    return results;
  } finally {
    await api.request('DELETE', `/v1/spikes/${SPIKE}`).catch(() => undefined);
    await removeVm(c);
  }
}
