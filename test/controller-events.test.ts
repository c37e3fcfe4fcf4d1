// The controller's event stream (server-sent events): wire state changes and refused requests,
// including a peer whose daemon is killed with SIGKILL, detected from the wire's keepalives.
import { afterAll, describe, expect, it } from 'vitest';
import type { WireView } from '../controller/model/views.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { DaemonCluster, type Daemon } from './support/daemons.js';
import { waitFor } from './support/engine.js';

describe('controller events', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  let a: Daemon;
  let b: Daemon;
  const events: Record<string, unknown>[] = [];
  const stream = new AbortController();
  const afterAllAbort: AbortController[] = [];
  afterAll(async () => {
    stream.abort();
    for (const c of afterAllAbort) c.abort();
    await cluster?.stop();
  });

  it('streams wire-up and the wire’s state changes', async () => {
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }], extra: { cormEndReapMs: 2000 } },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name },
    ]);
    a = cluster.get('hostA');
    b = cluster.get('hostB');
    void b.api.events((ev) => events.push({ ...ev, at: performance.now() }), stream.signal);
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    const wire = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    await waitFor('wire up event', () => events.some((e) => e.type === 'wire-state' && e.to === 'up' && e.wire === wire.id));
    expect(events.find((e) => e.type === 'spike-up')).toMatchObject({ host: 'hostB', spike: 'vm1' });
    expect(events.find((e) => e.type === 'wire-up')).toMatchObject({ wire: wire.id, wireType: 'udp', corm: 'hostA/nic0' });
    const unsigned = await fetch(`http://${b.address}/v1/wires`);
    expect(unsigned.status).toBe(401);
    await waitFor('refusal event', () => events.some((e) => e.type === 'request-refused' && e.reason === 'unsigned'));
  });

  it('reaps the Corm end when the Spike host dies, and the restarted Spike host wires again', async () => {
    const onA: Record<string, unknown>[] = [];
    const streamA = new AbortController();
    void a.api.events((ev) => onA.push(ev), streamA.signal);
    try {
      const old = (await a.api.request<WireView[]>('GET', '/v1/wires'))[0]!;
      stream.abort();
      b.process.kill('SIGKILL');
      await waitFor('Corm end reaped', () => onA.some((e) => e.type === 'wire-reaped' && e.wire === old.id), 8000);
      expect(await a.api.request<WireView[]>('GET', '/v1/wires')).toEqual([]);
      await cluster!.stopOne('hostB');
      b = await cluster!.restart('hostB');
      await waitFor('rewired after the restart', async () => (await a.api.request<WireView[]>('GET', '/v1/wires'))[0]?.state === 'up', 15_000);
      expect(b.log()).toContain('"event":"spike-restored"');
      expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
    } finally {
      streamA.abort();
    }
    const again = new AbortController();
    events.length = 0;
    void b.api.events((ev) => events.push({ ...ev, at: performance.now() }), again.signal);
    afterAllAbort.push(again);
    await waitFor('stream open', () => b.api.request('GET', '/v1/wires').then(() => true));
  });

  it('reports the wire down in bounded time when the peer daemon is killed with SIGKILL', async () => {
    const before = events.length;
    const t0 = performance.now();
    a.process.kill('SIGKILL');
    await waitFor('wire down event', () => events.slice(before).some((e) => e.type === 'wire-state' && e.to === 'down'), 5000);
    const down = events.slice(before).find((e) => e.type === 'wire-state' && e.to === 'down')!;
    const ms = (down.at as number) - t0;
    console.log(`wire down reported ${ms.toFixed(0)} ms after SIGKILL (keepalive 20 ms, dead after 80 ms, checked every 20 ms)`);
    expect(down).toMatchObject({ from: 'up', side: 'spike', spike: 'hostB/vm1', corm: 'hostA/nic0', wireType: 'udp' });
    // Target 100 ms; the margin absorbs this 2-core machine's scheduling noise.
    expect(ms).toBeLessThan(250);
    expect((await b.api.request<WireView[]>('GET', '/v1/wires'))[0]?.state).toBe('down');
  });
});
