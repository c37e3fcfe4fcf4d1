/** The cluster demo on the DESIGN.md reference topology: three hosts, each with its own bananad
 * process, sharing the embedded registry. vm1's Spike on hostB is wired to hostA's Corm on
 * nic0 through the controller API (over `udp`, negotiated between the two daemons); vm1 talks
 * to a server on the outside network as if plugged into hostA, with live per-wire counters.
 * Then, under sequence-numbered traffic towards vm1, the wire is hot-swapped and vm1's backend
 * migrates to hostC with the VM, with what each cost printed. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { repoRoot } from '../../dataplane/lib/paths.js';
import { referenceTopology, TestBed } from '../../test/bed/index.js';
import { formatTable } from '../cli/table.js';
import { LocalCluster } from '../local-cluster.js';
import type { MigrationView, SwapView, WireView } from '../model/views.js';
import { send, startReceiver } from '../../bench/traffic/traffic.js';
import type { EndpointRecord, HostRecord } from '../registry/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function wireTable(rows: { host: string; w: WireView; prev?: WireView; secs: number }[]): string {
  const rate = (now: number, before: number | undefined, secs: number) => (before === undefined || secs <= 0 ? '-' : ((now - before) / secs / 1000).toFixed(1));
  return formatTable(
    ['host', 'wire', 'type', 'side', 'state', 'rx pkts', 'tx pkts', 'rx kpps', 'tx kpps', 'tx Mbit/s', 'seq gaps', 'keepalives rx'],
    rows.map(({ host, w, prev, secs }) => [
      host, w.id, w.type, w.side, w.state, w.counters.rx_packets, w.counters.tx_packets,
      rate(w.counters.rx_packets, prev?.counters.rx_packets, secs), rate(w.counters.tx_packets, prev?.counters.tx_packets, secs),
      prev && secs > 0 ? (((w.counters.tx_bytes - prev.counters.tx_bytes) * 8) / secs / 1e6).toFixed(1) : '-',
      w.sequence?.gaps ?? 0, w.sequence?.keepaliveRx ?? 0,
    ]),
  );
}

export async function runClusterDemo(log: (s: string) => void = console.log): Promise<boolean> {
  const bed = await TestBed.create();
  const cluster = new LocalCluster({ command: [process.execPath, join(repoRoot(), 'bin', 'bananad.js')], secret: randomBytes(24).toString('hex') });
  try {
    log('\nBuilding the reference topology: ext, hostA (nic0), hostB (vm1), hostC, a fabric bridge...');
    const topo = await referenceTopology(bed, { underlayMtu: 3000, ipv6: false });
    log('Starting bananad on hostA (Corm on nic0), hostB and hostC, sharing an embedded registry...');
    await cluster.startAll([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }], labels: { rack: 'r1' } },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name, labels: { rack: 'r2' } },
      { name: 'hostC', netns: topo.hostC.ns.name, underlay: topo.hostC.underlay.name, labels: { rack: 'r2' } },
    ]);
    const a = cluster.get('hostA');
    const b = cluster.get('hostB');
    const hosts = await b.api.request<HostRecord[]>('GET', '/v1/hosts');
    log(`\n$ banana hosts\n${formatTable(['host', 'controller', 'underlay', 'labels'], hosts.map((h) => [h.name, h.controller, h.underlay, Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(',')]))}`);

    log(`\n$ banana spike create vm1 --ifname ${topo.vm1.tap.name} --mac ${topo.vm1.mac}   (on hostB)`);
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    log('$ banana spike connect vm1 hostA/nic0   (type auto: the Corm is on another host, so udp)');
    const wire = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    log(`  ${wire.spike} -> ${wire.corm}: ${wire.type} wire ${wire.id}, usable MTU ${wire.mtu}`);
    for (let i = 0; i < 50; i++) {
      const [wa] = await a.api.request<WireView[]>('GET', '/v1/wires');
      const [wb] = await b.api.request<WireView[]>('GET', '/v1/wires');
      if (wa?.state === 'up' && wb?.state === 'up') break;
      await sleep(20);
    }
    const eps = await b.api.request<EndpointRecord[]>('GET', '/v1/endpoints');
    log(`\n$ banana endpoints\n${formatTable(['endpoint', 'kind', 'mac', 'attributes'], eps.map((e) => [e.id, e.kind, e.mac, Object.entries(e.attributes).map(([k, v]) => `${k}=${v}`).join(',')]))}`);

    log(`\nping vm1 (${topo.vm1.ip}, hostB) -> ext (${topo.ext.ip}, the outside network behind hostA's nic0):`);
    log((await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.ext.ip])).trim().split('\n').slice(-2).join('\n'));
    const neigh = JSON.parse(await topo.ext.ns.exec(['ip', '-j', 'neigh', 'show', topo.vm1.ip])) as { lladdr?: string }[];
    log(`ext sees vm1 at ${neigh[0]?.lladdr} (vm1's own MAC ${topo.vm1.mac}): the logical topology is preserved`);

    let ok = true;
    for (const reverse of [false, true]) {
      log(`\nTCP iperf3 ${reverse ? 'ext -> vm1' : 'vm1 -> ext'} for 3 s across the wire, live per-wire counters from both daemons:`);
      const server = topo.ext.ns.spawn(['iperf3', '-s', '-1', '-B', topo.ext.ip]);
      await sleep(300);
      const client = topo.vm1.ns.exec(['iperf3', '-c', topo.ext.ip, '-t', '3', '-J', ...(reverse ? ['-R'] : [])], { timeoutMs: 30_000 });
      let prev: Record<string, WireView | undefined> = {};
      let at = performance.now();
      for (let s = 0; s < 3; s++) {
        await sleep(1000);
        const now = performance.now();
        const rows = [];
        for (const d of [b, a]) {
          const [w] = await d.api.request<WireView[]>('GET', '/v1/wires');
          if (w) rows.push({ host: d.host, w, prev: prev[d.host], secs: (now - at) / 1000 });
          prev = { ...prev, [d.host]: w };
        }
        at = now;
        log(`[t=${s + 1}s]\n${wireTable(rows)}`);
      }
      const report = JSON.parse(await client) as { end: { sum_received: { bits_per_second: number } } };
      server.kill();
      log(`iperf3: ${(report.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s received`);
      ok = ok && report.end.sum_received.bits_per_second > 0;
    }

    const c = cluster.get('hostC');
    const count = 40_000;
    log(`\nUnder ${count / 10_000} s of sequence-numbered traffic ext -> vm1 (10 kpps), the wire is hot-swapped, then vm1 migrates:`);
    await topo.vm1.ns.exec(['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_evict_nocarrier=0']);
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm1.ns.name, flow: 91, expect: count, idleMs: 3000 });
    const sending = send({ ifname: 'eth0', netns: topo.ext.ns.name, srcMac: topo.ext.eth0.mac, dstMac: topo.vm1.mac, flow: 91, count, size: 200, rate: 10_000 });
    await sleep(500);
    for (let i = 0; i < 3; i++) {
      const r = await b.api.request<SwapView>('POST', '/v1/spikes/vm1/swap', {});
      log(`$ banana wire swap vm1   -> wire ${r.from} replaced by ${r.to}: new path verified in ${r.verifyMs.toFixed(1)} ms, old one drained in ${r.settleMs.toFixed(1)} ms`);
    }
    const phase = async (p: string) => {
      const m = await b.api.request<MigrationView>('POST', '/v1/spikes/vm1/migrate', { to: 'hostC', phase: p });
      log(`$ banana spike migrate vm1 --to hostC --phase ${p}   -> ${m.phase}`);
      return m;
    };
    await phase('prepare');
    await phase('quiesce');
    log(`  (the VM manager moves ${topo.vm1.tap.name} to hostC: ip link set ${topo.vm1.tap.name} netns hostC; it arrives down)`);
    await topo.vm1.tap.moveTo(topo.hostC.ns);
    const attached = await phase('attach');
    log(`  (hostC bound it in ${attached.bindMs?.toFixed(1)} ms; the VM manager brings it up)`);
    await topo.vm1.tap.up();
    await phase('switch');
    const moved = await phase('resume');
    log(`  gap ${moved.gapMs?.toFixed(1)} ms; the switch's share ${moved.switchMs?.toFixed(1)} ms (hostA's own ${moved.cormSwitchMs?.toFixed(2)} ms, the rest the API round trip); frames queued at hostA ${moved.queued}, dropped ${moved.dropped}, lost at hostB ${moved.lostAtSource}`);
    await sending;
    const got = await rx.done();
    log(`traffic to vm1: ${got.unique} of ${count} delivered, lost ${got.lost}, duplicated ${got.duplicated}, reordered ${got.reordered}`);
    ok = ok && got.lost === 0 && got.duplicated === 0 && got.reordered === 0;

    log('\n$ banana spike disconnect vm1   (on hostC now; both ends come down, the Corm endpoint leaves the registry)');
    await c.api.request('POST', '/v1/spikes/vm1/disconnect');
    const cut = await topo.vm1.ns.exec(['ping', '-c', '1', '-W', '1', topo.ext.ip]).then(() => false, () => true);
    log(`  vm1 -> ext now: ${cut ? 'unreachable, as it should be' : 'STILL REACHABLE'}`);
    const audits = await Promise.all([a, b, c].map((d) => d.api.request<{ ok: boolean }>('GET', '/v1/audit')));
    const audited = audits.every((x) => x.ok);
    log(`Frame audit on hostA, hostB and hostC: ${audited ? 'every frame accounted for' : 'FRAMES MISSING'}`);
    return ok && cut && audited;
  } finally {
    await cluster.stop();
    await bed.close();
    log('Daemons stopped, topology removed.');
  }
}
