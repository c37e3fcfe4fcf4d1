// Controllers and the `rdma` wire: two bananad processes, each with the RDMA device in its
// config; vm1 (hostB) wired to hostA/nic0. Placement picks rdma where both ends have a device;
// the queue pairs' endpoints travel in the signed peer requests; the controller hot-swaps
// rdma <-> udp under traffic; a failed queue pair fails the wire over to udp at once (rdma to
// that host held down) and the wire comes back to rdma by hot-swap when the hold-down ends.
// Runs where an RDMA device is active, else in the Soft-RoCE guest (support/rdma-guest.ts);
// there the daemons are the built JS (bin/bananad.js: vite's loader misfires under emulation).
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../controller/api/api-client.js';
import type { HostView, MigrationView, SwapView, WireView } from '../controller/model/views.js';
import type { Explanation } from '../controller/placement/choose-wire.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { LocalCluster, type LocalDaemon } from '../controller/local-cluster.js';
import { TEST_SECRET } from './support/daemons.js';
import { waitFor } from './support/engine.js';
import { rdmaTests } from './support/rdma-guest.js';

// Long enough to outlast the failover itself under emulation (seconds of API round trips).
const HOLD_DOWN_MS = 20_000;
/** Every daemon: the RDMA device; Spike rings of 2048 (emulation stalls the guest for a few
 * hundred ms at times: the default 512 overflows at the tests' rates). */
const extra = { rdma: { device: '', holdDownMs: HOLD_DOWN_MS }, spikes: { ringSize: 2048 } };
const EXPLAIN = `/v1/explain?spike=vm1&corm=${encodeURIComponent('hostA/nic0')}`;

await rdmaTests('controllers with rdma wires', fileURLToPath(import.meta.url), (device) => {
  extra.rdma.device = device;
  describe('vm1 (hostB) to hostA/nic0', () => {
    const bed = useTestBed();
    let topo: ReferenceTopology;
    let cluster: LocalCluster | undefined;
    let a: LocalDaemon;
    let b: LocalDaemon;
    let c: LocalDaemon;
    const events: Record<string, unknown>[] = [];
    const stream = new AbortController();
    afterAll(async () => {
      stream.abort();
      await cluster?.stop();
    });
    afterEach(async (ctx) => {
      if (ctx.task.result?.state !== 'fail') return;
      // What the daemons did: their warnings and errors, and hostB's event stream.
      for (const d of [a, b, c].filter(Boolean)) console.log(`--- ${d.host} log (warn and up):\n${d.log().split('\n').filter((l) => /"level":(4|5)0/.test(l)).slice(-40).join('\n')}`);
      console.log(`--- hostB events:\n${events.map((e) => JSON.stringify(e)).join('\n')}`);
      for (const d of [a, b, c].filter(Boolean)) console.log(`--- ${d.host} wires: ${JSON.stringify(await wires(d).catch((e: unknown) => String(e)))}`);
    });

    const wires = async (d: LocalDaemon) => d.api.request<WireView[]>('GET', '/v1/wires');
    /** Sequence-numbered traffic both ways while `during` runs: what each side received. */
    const trafficDuring = async (flow: number, rate: number, seconds: number, during: () => Promise<void>) => {
      const count = rate * seconds;
      const toExt = await startReceiver({ ifname: 'eth0', netns: topo.ext.ns.name, flow, expect: count, idleMs: 5000 });
      const toVm = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: flow + 1, expect: count, idleMs: 5000 });
      let sending = 2;
      const senders = [
        send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.ext.eth0.mac, flow, count, size: 256, rate }),
        send({ ifname: 'eth0', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: flow + 1, count, size: 256, rate }),
      ].map((p) => p.finally(() => sending--));
      await during();
      const finishedEarly = sending < 2;
      await Promise.all(senders);
      const [ext, vm] = await Promise.all([toExt.done(), toVm.done()]);
      return { ext, vm, finishedEarly };
    };

    // Under emulation a daemon takes tens of seconds to start (node loading its modules).
    it('starts two daemons that find the device and offer rdma wires', { timeout: 300_000 }, async () => {
      expect(existsSync('dist/controller/bananad.js'), 'the built daemon (npm run build:ts)').toBe(true);
      topo = await referenceTopology(bed(), { ipv6: false });
      // The guest has no /dev/shm: the cluster's files go to the temporary directory.
      cluster = new LocalCluster({ command: ['node', 'bin/bananad.js'], secret: TEST_SECRET, parent: tmpdir(), startTimeoutMs: 120_000 });
      await cluster.startAll([
        { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }], labels: { cluster: 'c1', rack: 'r1' }, extra },
        { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name, labels: { cluster: 'c1', rack: 'r2' }, extra },
      ]);
      a = cluster.daemons.get('hostA')!;
      b = cluster.daemons.get('hostB')!;
      void b.api.events((ev) => events.push(ev), stream.signal);
      expect(a.log()).toContain(`rdma wires over ${device}`);
      expect(b.log()).toContain(`rdma wires over ${device}`);
      // Discovery feeds the host's view next to the device's hardware profile.
      const host = await b.api.request<HostView>('GET', '/v1/host');
      expect(host.rdma).toMatchObject({ device, profile: 'rxe', port: 1, active: true, transport: 'roce-v2', mismatches: [] });
      expect(host.rdma!.activeMtu).toBeGreaterThanOrEqual(256);
      expect(host.rdma!.maxQpWr).toBeGreaterThan(0);
    });

    it('connects vm1 over rdma by placement: endpoints exchanged, both ends up, ping passes', async () => {
      await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
      expect((await b.api.request<Explanation>('GET', EXPLAIN)).chosen).toBe('rdma');
      const wire = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
      expect(wire).toMatchObject({ type: 'rdma', side: 'spike', corm: 'hostA/nic0', peerHost: 'hostA' });
      await waitFor('rdma wire up on both ends', async () => (await wires(a))[0]?.state === 'up' && (await wires(b))[0]?.state === 'up', 20_000);
      expect((await wires(a))[0]).toMatchObject({ id: wire.id, type: 'rdma', side: 'corm', spike: 'hostB/vm1' });
      expect(await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.ext.ip])).toMatch(/3 received/);
      expect(await topo.ext.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.vm1.ip])).toMatch(/2 received/);
    });

    it('carries sequence-numbered traffic both ways: 0 lost, 0 duplicated, 0 reordered', async () => {
      const { ext, vm } = await trafficDuring(31, 2000, 4, async () => undefined);
      for (const r of [ext, vm]) expect(r).toMatchObject({ lost: 0, duplicated: 0, reordered: 0 });
      const [wb] = await wires(b);
      expect(wb?.sequence?.gaps).toBe(0);
    });

    it('hot-swaps rdma -> udp -> rdma under traffic both ways: 0 lost, duplicated or reordered', { timeout: 120_000 }, async () => {
      const swaps: SwapView[] = [];
      // Each swap is a few signed requests and a verification: seconds apiece under emulation.
      const { ext, vm, finishedEarly } = await trafficDuring(33, 2000, 30, async () => {
        for (const type of ['udp', 'rdma', 'udp', 'rdma']) swaps.push(await b.api.request<SwapView>('POST', '/v1/spikes/vm1/swap', { type }));
      });
      expect(finishedEarly).toBe(false);
      expect(swaps.map((s) => s.type)).toEqual(['udp', 'rdma', 'udp', 'rdma']);
      for (const s of swaps) expect(s.settled).toBe(true);
      for (const r of [ext, vm]) expect(r).toMatchObject({ lost: 0, duplicated: 0, reordered: 0 });
      const id = swaps.at(-1)!.to;
      expect((await wires(a))[0]).toMatchObject({ id, type: 'rdma', side: 'corm' });
      expect((await wires(b))[0]).toMatchObject({ id, type: 'rdma', side: 'spike', state: 'up' });
    });

    it('fails over to udp when the queue pair fails, and hot-swaps back to rdma after the hold-down', async () => {
      const [before] = await wires(b);
      // The Corm end (and its queue pair) goes away under the Spike's feet, as if its host had
      // dropped it: hostB's sends then complete with errors (retries exhausted).
      const asB = new ApiClient({ address: a.address, secret: TEST_SECRET, caller: 'hostB' });
      const t0 = Date.now();
      await asB.request('DELETE', `/v1/peer/wires/${before!.id}`);
      await waitFor('the wire failed over to udp', async () => {
        const [w] = await wires(b);
        return w?.type === 'udp' && w.state === 'up';
      }, 30_000);
      const failoverMs = Date.now() - t0;
      expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
      expect(events.find((e) => e.type === 'wire-failed' && e.wire === before!.id)).toMatchObject({ side: 'spike', wireType: 'rdma' });
      expect(events.find((e) => e.type === 'rewired' && e.why === 'failover')).toMatchObject({ from: 'rdma', to: 'udp', corm: 'hostA/nic0' });
      // While held down, placement says why rdma is out.
      const x = await b.api.request<Explanation>('GET', EXPLAIN);
      expect(x.candidates.find((c) => c.type === 'rdma')?.reason).toMatch(/^rdma: a queue pair to hostA failed \(.+\); rdma to it is held down/);
      // Back to rdma when the hold-down ends, by hot-swap: traffic running across it loses nothing.
      const { ext, vm } = await trafficDuring(35, 2000, Math.ceil(HOLD_DOWN_MS / 1000) + 6, async () => {
        await waitFor('the wire back on rdma', async () => (await wires(b))[0]?.type === 'rdma', HOLD_DOWN_MS + 20_000);
      });
      for (const r of [ext, vm]) expect(r).toMatchObject({ lost: 0, duplicated: 0, reordered: 0 });
      expect(events.find((e) => e.type === 'rewired' && e.to === 'rdma' && e.why === 'placement')).toBeDefined();
      console.log(`rdma failover: queue pair gone -> udp wire up in ${failoverMs} ms; back on rdma after the ${HOLD_DOWN_MS} ms hold-down`);
    }, 120_000);

    it('migrates vm1 to hostC: the rdma wire crosses over as udp (hot-swapped first), and hostC brings it back to rdma', async () => {
      const migrate = (phase: string) => b.api.request<MigrationView>('POST', '/v1/spikes/vm1/migrate', { to: 'hostC', phase });
      expect((await wires(b))[0]?.type).toBe('rdma');
      // hostC starts only now: a third busy daemon on the guest's two emulated CPUs would make
      // the tests above lose frames to stalls.
      c = await cluster!.start({ name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name, labels: { cluster: 'c1', rack: 'r3' }, extra });
      expect(c.log()).toContain(`rdma wires over ${device}`);
      // Each phase is an API round trip of seconds under emulation: a low rate keeps what the
      // Corm queues while the VM is in flight within its bound (its overflow is tested elsewhere).
      const rate = 250;
      const count = rate * 40;
      const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: 37, expect: count, idleMs: 5000 });
      const sending = send({ ifname: 'eth0', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: 37, count, size: 200, rate });
      sending.catch(() => undefined); // awaited below; a failure before that must not go unhandled
      await new Promise((r) => setTimeout(r, 1000));
      const seen = events.length;
      expect(await migrate('prepare')).toMatchObject({ phase: 'prepared' });
      expect(events.slice(seen).some((e) => e.type === 'wire-swap' && e.wireType === 'udp')).toBe(true);
      expect(await migrate('quiesce')).toMatchObject({ phase: 'quiesced' });
      await topo.vm1.tap.moveTo(topo.hostC.ns);
      expect(await migrate('attach')).toMatchObject({ phase: 'attached' });
      await topo.vm1.tap.up();
      expect(await migrate('switch')).toMatchObject({ phase: 'switched', dropped: 0 });
      expect(await migrate('resume')).toMatchObject({ phase: 'done', dropped: 0, lostAtSource: 0 });
      await waitFor('vm1 on hostC back on rdma', async () => {
        const [w] = await wires(c);
        return w?.type === 'rdma' && w.state === 'up';
      }, 30_000);
      await sending;
      expect(await rx.done()).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
      expect((await wires(a))[0]).toMatchObject({ type: 'rdma', side: 'corm', spike: 'hostC/vm1', state: 'up' });
      expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
    }, 300_000);
  });
}, 900_000);
