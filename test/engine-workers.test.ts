// Several workers, multi-queue ports, configuration changes under traffic, and worker
// errors reaching JS as events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twoVmHost, type TwoVmHost } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import type { Engine, Port, QueueFailure } from '../dataplane/lib/index.js';
import { bindTaps, newEngine, ping, waitFor } from './support/engine.js';

/** Non-zero drop counters of the ports, so that a loss names where it happened. */
function dropsOf(ports: readonly Port[]): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const p of ports) {
    for (const [name, v] of Object.entries(p.counters())) {
      if (v > 0n && (name.startsWith('drop_') || name.startsWith('kernel_rx') || name === 'fill_empty')) out[`${p.ifname}.${name}`] = v;
    }
  }
  return out;
}

describe('two workers, one port each', () => {
  const bed = useTestBed();
  let topo: TwoVmHost;
  let engine: Engine;
  let ports: Port[];
  beforeAll(async () => {
    topo = await twoVmHost(bed(), { ipv6: false });
    engine = newEngine({ workers: 2 });
    ports = bindTaps(engine, topo.vms);
    engine.start();
  });
  afterAll(() => engine.close());

  it('spreads the ports over the workers', () => {
    expect(ports.map((p) => p.queues[0]?.worker)).toEqual([0, 1]);
  });

  // Four busy threads (two workers, sender, receiver) share two cores here: the rate is one
  // the handoff ring absorbs while a starved worker waits for a CPU.
  it('switches across workers without loss and counts the handoffs', async () => {
    expect(await ping(topo.vm1, topo.vm2.ip)).toMatch(/3 received/);
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm2.ns.name, flow: 3, expect: 20000, idleMs: 1000 });
    await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.vm2.mac, flow: 3, count: 20000, rate: 50000 });
    const got = await rx.done();
    const drops = dropsOf(ports);
    expect(drops).toEqual({});
    expect(got).toMatchObject({ unique: 20000, lost: 0, duplicated: 0, reordered: 0 });
    expect(engine.workerCounters(0).handoff_out).toBeGreaterThanOrEqual(20000n);
    expect(engine.workerCounters(1).handoff_in).toBeGreaterThanOrEqual(20000n);
    // Transmission happens on the worker that owns the egress queue.
    const [, p2] = ports as [Port, Port];
    const byWorker = p2.countersByWorker();
    expect(byWorker[1]?.tx_packets).toBeGreaterThanOrEqual(20000n);
    expect(byWorker[0]?.tx_packets).toBe(0n);
    expect(engine.auditFrames().ok).toBe(true);
  });
});

describe('a multi-queue port', () => {
  const bed = useTestBed();
  let engine: Engine;
  afterAll(() => engine.close());

  it('binds one socket per queue, spread over the workers, and forwards', async () => {
    const b = bed();
    const host = await b.createNetns('mqhost');
    const vmA = await b.createNetns('mqa');
    const vmB = await b.createNetns('mqb');
    const mq = ['numtxqueues', '2', 'numrxqueues', '2'];
    await host.exec(['ip', 'link', 'add', 'mqa', ...mq, 'type', 'veth', 'peer', 'name', 'eth0', ...mq, 'netns', vmA.name]);
    await host.exec(['ip', 'link', 'add', 'mqb', ...mq, 'type', 'veth', 'peer', 'name', 'eth0', ...mq, 'netns', vmB.name]);
    for (const [ns, mac] of [[vmA, '02:ba:00:00:0a:01'], [vmB, '02:ba:00:00:0b:01']] as const) {
      await ns.exec(['ip', 'link', 'set', 'eth0', 'address', mac, 'up']);
    }
    await host.exec(['ip', 'link', 'set', 'mqa', 'up']);
    await host.exec(['ip', 'link', 'set', 'mqb', 'up']);
    engine = newEngine({ workers: 2 });
    const a = engine.addPort({ ifname: 'mqa', netns: host.name, queues: 'all' });
    const bPort = engine.addPort({ ifname: 'mqb', netns: host.name, queues: 'all' });
    expect(a.queues).toEqual([{ queue: 0, worker: 0 }, { queue: 1, worker: 1 }]);
    expect(bPort.queues.map((q) => q.queue)).toEqual([0, 1]);
    engine.start();
    const rx = await startReceiver({ ifname: 'eth0', netns: vmB.name, flow: 4, expect: 10000, idleMs: 1000 });
    await send({ ifname: 'eth0', netns: vmA.name, srcMac: '02:ba:00:00:0a:01', dstMac: '02:ba:00:00:0b:01', flow: 4, count: 10000, rate: 50000 });
    expect(await rx.done()).toMatchObject({ unique: 10000, lost: 0 });
    const total = a.counters().rx_packets;
    const sum = a.countersByWorker().reduce((s, c) => s + c.rx_packets, 0n);
    expect(total).toBe(sum);
    expect(total).toBeGreaterThanOrEqual(10000n);
    expect(engine.auditFrames().ok).toBe(true);
  });
});

describe('configuration changes under traffic', () => {
  const bed = useTestBed();
  let topo: TwoVmHost;
  let engine: Engine;
  afterAll(() => engine.close());

  it('adds and removes ports and flushes the MAC table without losing a frame of a running flow', async () => {
    topo = await twoVmHost(bed(), { vm3: true, ipv6: false });
    engine = newEngine();
    const [p1, p2] = bindTaps(engine, [topo.vm1, topo.vm2]) as [Port, Port];
    engine.start();
    await ping(topo.vm1, topo.vm2.ip, 1);
    const count = 60000;
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm2.ns.name, flow: 5, expect: count, idleMs: 1500 });
    const sending = send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.vm2.mac, flow: 5, count, rate: 40000 });
    const changes: string[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 80));
      const p3 = engine.addPort({ ifname: topo.vm3!.tap.name, netns: topo.host.name });
      changes.push(`add ${p3.id}`);
      engine.flushFdb();
      await new Promise((r) => setTimeout(r, 80));
      p3.close();
      changes.push('remove');
    }
    await sending;
    const got = await rx.done();
    expect(changes).toHaveLength(10);
    expect(got).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
    expect(p1.counters().rx_packets).toBeGreaterThanOrEqual(BigInt(count));
    expect(p2.counters().tx_packets).toBeGreaterThanOrEqual(BigInt(count));
    expect(engine.workerCounters(0).table_swaps).toBeGreaterThanOrEqual(10n);
    expect(engine.auditFrames().ok).toBe(true);
  });
});

describe('worker errors', () => {
  const bed = useTestBed();
  let topo: TwoVmHost;
  let engine: Engine;
  afterAll(() => engine.close());

  it('reports a vanished interface as a queue-failed event and keeps switching the rest', async () => {
    topo = await twoVmHost(bed(), { vm3: true, ipv6: false });
    engine = newEngine();
    const [, , p3] = bindTaps(engine, topo.vms) as [Port, Port, Port];
    const failures: QueueFailure[] = [];
    engine.on('queue-failed', (f) => failures.push(f));
    engine.start();
    const t0 = Date.now();
    await topo.host.exec(['ip', 'link', 'del', topo.vm3!.tap.name]);
    await waitFor('queue-failed event', () => failures.length > 0, 3000);
    expect(Date.now() - t0).toBeLessThan(1000);
    // The port by identity: a deep comparison would walk the engine's live counter memory.
    expect(failures[0]?.port).toBe(p3);
    expect(failures[0]).toMatchObject({ queue: 0, code: 'ENETDOWN' });
    expect(await ping(topo.vm1, topo.vm2.ip)).toMatch(/3 received/);
    p3.close(); // the interface is gone: closing must still work and release its frames
    expect(engine.auditFrames().ok).toBe(true);
  });
});

describe('preferred busy polling', () => {
  const bed = useTestBed();
  let engine: Engine;
  afterAll(() => engine.close());

  it('drives receive NAPI from the worker, tunes NAPI for the port and restores it at close', async () => {
    const topo = await twoVmHost(bed(), { ipv6: false });
    // nsenter does not remount /sys; read through ip netns exec, which does.
    const napi = async (ifname: string) => ({
      defer: (await execIn(topo.host.name, ['cat', `/sys/class/net/${ifname}/napi_defer_hard_irqs`])).trim(),
      gro: (await execIn(topo.host.name, ['cat', `/sys/class/net/${ifname}/gro_flush_timeout`])).trim(),
    });
    const before = await napi(topo.vm1.tap.name);
    engine = newEngine();
    const [p1, p2] = topo.vms.map((vm) =>
      engine.addPort({ ifname: vm.tap.name, netns: topo.host.name, busyPoll: { budget: 64 } }),
    ) as [Port, Port];
    expect(await napi(topo.vm1.tap.name)).toEqual({ defer: '2', gro: '200000' });
    engine.start();
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm2.ns.name, flow: 6, expect: 10000, idleMs: 1000 });
    await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.vm2.mac, flow: 6, count: 10000, rate: 50000 });
    expect(await rx.done()).toMatchObject({ unique: 10000, lost: 0 });
    expect(p1.counters().busy_polls).toBeGreaterThan(0n);
    p1.close();
    expect(await napi(topo.vm1.tap.name)).toEqual(before);
    engine.close();
    expect(await napi(topo.vm2.tap.name)).toEqual(before);
    expect(p2.closed).toBe(true);
  });
});

async function execIn(netns: string, argv: string[]): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile('ip', ['netns', 'exec', netns, ...argv], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}
