// Migration of vm1's backend with the VM (DESIGN.md): three bananad processes; vm1's Spike on
// hostB is wired over udp to hostA/nic0; its tap moves to hostC between the phases a VM manager
// drives through the API (prepare, quiesce, [move], switch, resume). Traffic towards the VM
// must arrive whole and in order, and a TCP session must survive.
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiError } from '../controller/api/api-client.js';
import type { MigrationView, SpikeView, WireView } from '../controller/model/views.js';
import type { EndpointRecord } from '../controller/registry/index.js';
import { send, startReceiver } from '../bench/traffic/traffic.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { banana } from './support/banana-cli.js';
import { DaemonCluster, type Daemon } from './support/daemons.js';
import { waitFor } from './support/engine.js';
import { iperfVm1ToExt } from './support/reference-traffic.js';

describe('migrating vm1 from hostB to hostC with the controllers', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  let a: Daemon;
  let b: Daemon;
  let c: Daemon;
  afterAll(async () => cluster?.stop());

  const wires = async (d: Daemon) => d.api.request<WireView[]>('GET', '/v1/wires');
  const status = async (p: Promise<unknown>) => p.then(() => 200, (e: ApiError) => ({ status: e.status, body: e.body }));
  const migrate = (d: Daemon, body: Record<string, unknown>) => d.api.request<MigrationView>('POST', '/v1/spikes/vm1/migrate', body);

  it('wires vm1 on hostB to hostA/nic0 over udp', async () => {
    topo = await referenceTopology(bed(), { ipv6: false });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }] },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name },
      { name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name },
    ]);
    [a, b, c] = [cluster.get('hostA'), cluster.get('hostB'), cluster.get('hostC')];
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    await b.api.request('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    await waitFor('wire up', async () => (await wires(a))[0]?.state === 'up' && (await wires(b))[0]?.state === 'up');
    // As a real VM's NIC would: no ARP flush when the carrier blinks during the move.
    await topo.vm1.ns.exec(['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_evict_nocarrier=0']);
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });

  it('refuses bad migrations with the reason, leaving the wire running', async () => {
    expect(await status(migrate(b, { to: 'hostZ' }))).toMatchObject({ status: 404 });
    expect(await status(migrate(b, { to: 'hostB' }))).toMatchObject({ status: 400 });
    expect(await status(b.api.request('POST', '/v1/spikes/ghost/migrate', { to: 'hostC' }))).toMatchObject({ status: 404 });
    expect(await status(migrate(b, { to: 'hostC', phase: 'switch' }))).toMatchObject({ status: 409 });
    expect(await status(migrate(b, { to: 'hostC', phase: 'warp' }))).toMatchObject({ status: 400, body: { field: 'phase' } });
    // Prepared, then a second migration elsewhere, then abort: nothing moved.
    const prepared = await migrate(b, { to: 'hostC', phase: 'prepare' });
    expect(prepared).toMatchObject({ phase: 'prepared', from: 'hostB', to: 'hostC', corm: 'hostA/nic0' });
    expect((await c.api.request<SpikeView[]>('GET', '/v1/spikes'))).toEqual([]);
    const twice = await status(migrate(b, { to: 'hostA', phase: 'prepare' }));
    expect(twice).toMatchObject({ status: 409 });
    expect(JSON.stringify(twice)).toContain('already moving to hostC');
    expect(await migrate(b, { to: 'hostC', phase: 'abort' })).toMatchObject({ phase: 'aborted' });
    expect((await wires(c))).toEqual([]);
    expect((await wires(a))[0]).toMatchObject({ spike: 'hostB/vm1', state: 'up' });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });

  it('moves vm1 to hostC under sequence-numbered traffic and a TCP session: nothing sent to the VM is lost', async () => {
    const count = 40_000;
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: 71, expect: count, idleMs: 3000 });
    const sending = send({ ifname: 'eth0', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: 71, count, size: 200, rate: 10_000 });
    // The VM sends (its ACKs come back through the queue): a bulk flow towards the VM could
    // outgrow the Corm's bounded queue while the VM is in flight (then drops are counted).
    const tcp = iperfVm1ToExt(topo, false, 4);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await migrate(b, { to: 'hostC', phase: 'prepare' })).toMatchObject({ phase: 'prepared' });
    expect(await migrate(b, { to: 'hostC', phase: 'quiesce' })).toMatchObject({ phase: 'quiesced' });
    // The tap arrives down; hostC binds it before it comes up, so the switch is the cutover alone.
    await topo.vm1.tap.moveTo(topo.hostC.ns);
    expect(await migrate(b, { to: 'hostC', phase: 'attach' })).toMatchObject({ phase: 'attached' });
    await topo.vm1.tap.up();
    const switched = await migrate(b, { to: 'hostC', phase: 'switch' });
    expect(switched).toMatchObject({ phase: 'switched', dropped: 0 });
    expect(switched.switchMs).toBeLessThan(switched.bindMs!);
    const done = await migrate(b, { to: 'hostC', phase: 'resume' });
    console.log(`migration: ${JSON.stringify(done)}`);
    expect(done).toMatchObject({ phase: 'done', dropped: 0, lostAtSource: 0 });
    expect(done.queued).toBeGreaterThan(0);
    expect(done.gapMs).toBeGreaterThan(done.switchMs!);

    await sending;
    expect(await rx.done()).toMatchObject({ unique: count, lost: 0, duplicated: 0, reordered: 0 });
    expect(await tcp).toBeGreaterThan(100_000); // the session survived the move
    // hostC holds the Spike now, wired to the same VF under the new wire id; hostB let go.
    expect(await b.api.request('GET', '/v1/spikes')).toEqual([]);
    expect(await wires(b)).toEqual([]);
    expect((await c.api.request<SpikeView[]>('GET', '/v1/spikes'))[0]).toMatchObject({ id: 'hostC/vm1', connect: { corm: 'hostA/nic0', type: 'udp' }, wire: done.wire.to });
    expect((await wires(a))[0]).toMatchObject({ id: done.wire.to, side: 'corm', spike: 'hostC/vm1', peerHost: 'hostC', state: 'up' });
    const ids = (await a.api.request<EndpointRecord[]>('GET', '/v1/endpoints')).map((e) => e.id);
    expect(ids).toContain('hostA/nic0/hostC.vm1');
    expect(ids).toContain('hostC/vm1');
    expect(ids).not.toContain('hostA/nic0/hostB.vm1');
    expect(ids).not.toContain('hostB/vm1');
    expect(await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.1', topo.ext.ip])).toMatch(/3 received/);
    for (const d of [a, b, c]) expect((await d.api.request<{ ok: boolean }>('GET', '/v1/audit')).ok).toBe(true);
  }, 60_000);

  it('moves it back with the CLI, the last phases in one go', async () => {
    const cli = (phase: string) => banana(['spike', 'migrate', 'vm1', '--to', 'hostB', '--phase', phase, '--config', c.configFile]);
    expect((await cli('prepare')).out).toMatch(/hostC\/vm1 -> hostB: prepared; wire \d+ -> \d+ to hostA\/nic0/);
    expect((await cli('quiesce')).out).toMatch(/quiesced/);
    await topo.vm1.move(topo.hostB.ns);
    const out = await cli('all');
    expect(out.out).toMatch(/hostC\/vm1 -> hostB: done; .* gap [\d.]+ ms \(switch [\d.]+ ms, at the Corm [\d.]+ ms, binding [\d.]+ ms\), queued \d+, dropped 0, lost at hostC 0/);
    expect((await b.api.request<SpikeView[]>('GET', '/v1/spikes'))[0]).toMatchObject({ id: 'hostB/vm1' });
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.1', topo.ext.ip])).toMatch(/2 received/);
  });
});
