/** `migrate`: vm1's backend follows its VM between hostB and hostC (DESIGN.md: the tap moves
 * to the other host's namespace) while ext sends sequence-numbered frames to vm1, run after
 * run in alternating directions. Banana's way (the Corm quiesces: what arrives for the VM
 * while it is in flight is queued at hostA, then sent to the new host in order) runs side by
 * side with break-before-make (the same move without the queue: hostA keeps sending to the old
 * host until it is switched), interleaved run by run. Per run: frames lost at vm1, the whole
 * gap (from the move's start to hostA sending to the new host: what the switch sees of it) and
 * the switch's share (from the tap being up on the new host to the same point: the tap is
 * bound while it is still down, as the controllers' `attach` phase does). The engine-level flow is test/wire-migrate.test.ts's; the controllers
 * add their API round trips on top (`banana spike migrate` reports its own gap). */
import { Engine, type Port, type UdpPathSettings, type UdpWire } from '../../dataplane/lib/index.js';
import { referenceTopology, TestBed, type ReferenceTopology } from '../../test/bed/index.js';
import { connectUdpWire } from '../../wires/udp/connect.js';
import { openUdpEnd } from '../../wires/udp/udp-end.js';
import { describeUnderlay, type UnderlayInterface } from '../../wires/udp/underlay.js';
import { ratioOf, type BenchResult } from '../contract.js';
import { histogram, round3, summarize } from '../stats.js';
import { send, startReceiver } from '../traffic/traffic.js';
import type { Progress } from '../progress.js';

export interface MigrateBenchSettings {
  /** Moves per method (alternating hostB -> hostC and back). */
  runs: number;
  ratePps: number;
  frameBytes: number;
  /** Traffic before and after the move. */
  warmupMs: number;
  tailMs: number;
  progress: Progress;
}

export const MIGRATE_QUICK: Omit<MigrateBenchSettings, 'progress'> = { runs: 2, ratePps: 10_000, frameBytes: 200, warmupMs: 300, tailMs: 300 };
export const MIGRATE_FULL: Omit<MigrateBenchSettings, 'progress'> = { runs: 10, ratePps: 10_000, frameBytes: 200, warmupMs: 400, tailMs: 400 };

const WIRE_PORT = 7471;
const SPIKE_DOMAIN = 5;
const SENDER_CPU = 0;
const ENGINE_CPU = 1;
const BASELINE = 'break-before-make (no quiesce)';

type Method = 'quiesce' | 'naive';

interface Side {
  name: 'hostB' | 'hostC';
  engine: Engine;
  underlay: Port;
  info: UnderlayInterface;
}

interface MoveOutcome {
  lost: number;
  duplicated: number;
  reordered: number;
  gapMs: number;
  switchMs: number;
  bindMs: number;
  queued: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`migrate bench: ${what} within ${ms} ms`);
    await pause(2);
  }
}

/** hostA's Corm (nic0) with its end of vm1's wire, and hostB / hostC, one of which holds vm1. */
class MoveBed {
  private nextWireId = 100;
  private spikeEnd: UdpWire;
  private spikePort: Port;
  private at: Side;

  private constructor(
    readonly bed: TestBed,
    readonly topo: ReferenceTopology,
    private readonly a: { engine: Engine; underlay: Port; info: UnderlayInterface; wire: UdpWire },
    private readonly sides: [Side, Side],
    first: { end: UdpWire; port: Port },
  ) {
    this.spikeEnd = first.end;
    this.spikePort = first.port;
    this.at = sides[0];
  }

  static async open(): Promise<MoveBed> {
    const bed = await TestBed.create();
    const engines: Engine[] = [];
    try {
      const topo = await referenceTopology(bed, { ipv6: false });
      const settings = { cpus: [ENGINE_CPU], idle: { policy: 'backoff', spinLoops: 5000, maxSleepUs: 50 } as const };
      const [a, b, c] = [new Engine(settings), new Engine(settings), new Engine(settings)];
      engines.push(a, b, c);
      a.addPort({ ifname: 'nic0', netns: topo.hostA.ns.name });
      const ua = a.addPort({ ifname: topo.hostA.underlay.name, netns: topo.hostA.ns.name, underlay: { udpPort: WIRE_PORT } });
      const ub = b.addPort({ ifname: topo.hostB.underlay.name, netns: topo.hostB.ns.name, underlay: { udpPort: WIRE_PORT } });
      const uc = c.addPort({ ifname: topo.hostC.underlay.name, netns: topo.hostC.ns.name, underlay: { udpPort: WIRE_PORT } });
      const tap = b.addPort({ ifname: topo.vm1.tap.name, netns: topo.hostB.ns.name, domain: SPIKE_DOMAIN });
      const [wa, wb] = await connectUdpWire({ engine: a, underlay: ua }, { engine: b, underlay: ub }, { wireId: 1, keepaliveMs: 10 });
      b.setDomain(wb, SPIKE_DOMAIN);
      for (const e of engines) e.start();
      await until('the wire came up', () => wa.state() === 'up' && wb.state() === 'up');
      const [ia, ib, ic] = await Promise.all([
        describeUnderlay(topo.hostA.ns.name, topo.hostA.underlay.name),
        describeUnderlay(topo.hostB.ns.name, topo.hostB.underlay.name),
        describeUnderlay(topo.hostC.ns.name, topo.hostC.underlay.name),
      ]);
      // A VM's NIC keeps its ARP cache when the carrier blinks (DESIGN.md).
      await topo.vm1.ns.exec(['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_evict_nocarrier=0']);
      return new MoveBed(
        bed, topo, { engine: a, underlay: ua, info: ia, wire: wa },
        [{ name: 'hostB', engine: b, underlay: ub, info: ib }, { name: 'hostC', engine: c, underlay: uc, info: ic }],
        { end: wb, port: tap },
      );
    } catch (e) {
      for (const x of engines) x.close();
      await bed.close();
      throw e;
    }
  }

  private other(): Side {
    return this.sides[0] === this.at ? this.sides[1] : this.sides[0];
  }

  /** Moves vm1 to the other host: prepare (a wire end there, hostA's path to it, verified),
   * then [quiesce], move the tap, bind it there, switch hostA over [and resume]. */
  async move(method: Method): Promise<Omit<MoveOutcome, 'lost' | 'duplicated' | 'reordered'>> {
    const to = this.other();
    const wireId = this.nextWireId++;
    const a = this.a;
    const end = await openUdpEnd({ engine: to.engine, underlayPort: to.underlay, local: to.info, peer: { ip: a.info.ip, mtu: a.info.mtu, udpPort: WIRE_PORT }, wireId, domain: SPIKE_DOMAIN, keepaliveMs: 10 });
    const path: UdpPathSettings = { wireId, underlay: a.underlay, localMac: a.info.mac, nextHopMac: to.info.mac, localIp: a.info.ip, remoteIp: to.info.ip, remotePort: WIRE_PORT, underlayMtu: Math.min(a.info.mtu, to.info.mtu) };
    const since = process.hrtime.bigint();
    a.wire.prepareSwap(path);
    await until('the new path carried keepalives both ways', () => a.wire.swapInfo().otherHeardSince(since) && end.state() === 'up');
    const queuedBefore = a.wire.counters().quiesce_queued;
    const t0 = performance.now();
    if (method === 'quiesce') a.wire.quiesce();
    // The tap arrives down and is bound before it comes up (the controllers' `attach` phase).
    await this.topo.vm1.tap.moveTo(to.name === 'hostB' ? this.topo.hostB.ns : this.topo.hostC.ns);
    const b0 = performance.now();
    const port = to.engine.addPort({ ifname: this.topo.vm1.tap.name, netns: to.name === 'hostB' ? this.topo.hostB.ns.name : this.topo.hostC.ns.name, domain: SPIKE_DOMAIN, takeOverBananaXdp: true });
    const bindMs = performance.now() - b0;
    await this.topo.vm1.tap.up();
    const up = performance.now();
    a.wire.switchOver();
    const done = performance.now();
    // The old host lets go of the tap's port (its interface left) and its wire end.
    this.spikePort.close();
    this.spikeEnd.close();
    this.spikePort = port;
    this.spikeEnd = end;
    this.at = to;
    return { gapMs: done - t0, switchMs: done - up, bindMs, queued: Number(a.wire.counters().quiesce_queued - queuedBefore) };
  }

  audit(): boolean {
    return [this.a.engine, ...this.sides.map((s) => s.engine)].every((e) => e.auditFrames().ok);
  }

  async close(): Promise<void> {
    this.a.engine.close();
    for (const s of this.sides) s.engine.close();
    await this.bed.close();
  }
}

async function runOne(mb: MoveBed, method: Method, s: MigrateBenchSettings, flow: number): Promise<MoveOutcome> {
  const { ext, vm1 } = mb.topo;
  // The move takes well under a second; the count keeps the sender going past it.
  const count = Math.round((s.ratePps * (s.warmupMs + 1000 + s.tailMs)) / 1000);
  const rx = await startReceiver({ ifname: 'eth0', netns: vm1.ns.name, flow, expect: count, idleMs: 1500 });
  try {
    const sending = send({ ifname: 'eth0', netns: ext.ns.name, srcMac: ext.eth0.mac, dstMac: vm1.mac, flow, count, size: s.frameBytes, rate: s.ratePps, cpu: SENDER_CPU });
    await pause(s.warmupMs);
    const m = await mb.move(method);
    await sending;
    const got = await rx.done();
    return { ...m, lost: got.lost, duplicated: got.duplicated, reordered: got.reordered };
  } finally {
    rx.kill();
  }
}

function results(ours: MoveOutcome[], naive: MoveOutcome[], s: MigrateBenchSettings, audited: boolean): BenchResult[] {
  const sum = (v: MoveOutcome[], k: 'lost' | 'duplicated' | 'reordered') => v.reduce((n, r) => n + r[k], 0);
  const med = (v: MoveOutcome[], k: 'gapMs' | 'switchMs' | 'bindMs') => round3(summarize(v.map((r) => r[k])).median);
  const common = {
    moves: ours.length, ratePps: s.ratePps, audited,
    dut: `vm1's backend moved between hostB and hostC ${ours.length} times (alternating) with the Corm quiescing (queue at hostA, sent in order after the switch), ext -> vm1 at ${s.ratePps} pps of ${s.frameBytes} B; engines in one process, workers on CPU ${ENGINE_CPU} (backoff), sender on CPU ${SENDER_CPU}`,
    baselineDescription: 'the same move without the queue: hostA sends to the old host until it is switched (interleaved run by run)',
    perRun: ours.map((r) => ({ lost: r.lost, gapMs: round3(r.gapMs), switchMs: round3(r.switchMs), bindMs: round3(r.bindMs), queued: r.queued })),
    baselinePerRun: naive.map((r) => ({ lost: r.lost, gapMs: round3(r.gapMs), switchMs: round3(r.switchMs), bindMs: round3(r.bindMs) })),
    bindMs: { median: med(ours, 'bindMs'), baseline: med(naive, 'bindMs') },
  };
  type Key = 'lost' | 'duplicated' | 'reordered' | 'gapMs' | 'switchMs';
  const row = (metric: BenchResult['metric'], key: Key, value: number, baselineValue: number, unit: string, extra: Record<string, unknown> = {}): BenchResult => ({
    scenario: 'migrate', frameBytes: s.frameBytes, metric, value, unit, baseline: BASELINE, baselineValue, ratio: ratioOf(value, baselineValue),
    detail: { ...common, runs: ours.map((r) => round3(r[key])), baselineRuns: naive.map((r) => round3(r[key])), ...extra },
  });
  return [
    row('lost', 'lost', sum(ours, 'lost'), sum(naive, 'lost'), 'frames', {
      histograms: [histogram('frames lost per move (quiesce)', 'frames', ours.map((r) => r.lost)), histogram('frames lost per move (break-before-make)', 'frames', naive.map((r) => r.lost))],
    }),
    row('duplicated', 'duplicated', sum(ours, 'duplicated'), sum(naive, 'duplicated'), 'frames'),
    row('reordered', 'reordered', sum(ours, 'reordered'), sum(naive, 'reordered'), 'frames'),
    row('gap_ms', 'gapMs', med(ours, 'gapMs'), med(naive, 'gapMs'), 'ms', { histograms: [histogram('whole gap per move (quiesce)', 'ms', ours.map((r) => r.gapMs))] }),
    row('switch_gap_ms', 'switchMs', med(ours, 'switchMs'), med(naive, 'switchMs'), 'ms', {
      histograms: [histogram("the switch's share per move (tap up on the new host -> hostA sending to it)", 'ms', ours.map((r) => r.switchMs))],
    }),
  ];
}

export async function runMigrateBench(s: MigrateBenchSettings): Promise<BenchResult[]> {
  const mb = await MoveBed.open();
  try {
    const ours: MoveOutcome[] = [];
    const naive: MoveOutcome[] = [];
    let flow = 300;
    const total = 2 * s.runs;
    for (let run = 0; run < s.runs; run++) {
      // Alternate which method goes first (and so which direction each one moves in).
      const order: Method[] = run % 2 === 0 ? ['quiesce', 'naive'] : ['naive', 'quiesce'];
      for (const method of order) {
        const r = await runOne(mb, method, s, flow++);
        (method === 'quiesce' ? ours : naive).push(r);
        s.progress(
          `[run ${run + 1}] ${method === 'quiesce' ? 'quiesce          ' : 'break-before-make'} lost ${String(r.lost).padStart(5)}  gap ${r.gapMs.toFixed(1)} ms  ` +
            `switch ${r.switchMs.toFixed(1)} ms (binding ${r.bindMs.toFixed(1)})${method === 'quiesce' ? `  queued ${r.queued}` : ''}`,
          { done: ours.length + naive.length, total },
        );
      }
    }
    return results(ours, naive, s, mb.audit());
  } finally {
    await mb.close();
  }
}
