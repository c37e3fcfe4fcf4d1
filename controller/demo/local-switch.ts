/** The demo: one simulated host, three VMs, the engine switching real traffic between them
 * (ping, a TCP iperf3 session, sequence-numbered frames), with live counters. Everything it
 * creates lives in network namespaces of its own and is removed at the end. */
import { Engine } from '../../dataplane/lib/index.js';
import { TestBed, twoVmHost } from '../../test/bed/index.js';
import { send, startReceiver } from '../../bench/traffic/traffic.js';
import { CountersTable } from './counters-table.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLocalSwitchDemo(log: (s: string) => void = console.log): Promise<boolean> {
  const bed = await TestBed.create();
  const engine = new Engine({ idle: { policy: 'backoff', spinLoops: 2000, maxSleepUs: 200 } });
  try {
    log('Building a simulated host with three VMs (network namespaces, veth vNICs)...');
    const topo = await twoVmHost(bed, { vm3: true });
    const ports = topo.vms.map((vm) => engine.addPort({ ifname: vm.tap.name, netns: vm.host.name }));
    engine.start();
    for (const [i, p] of ports.entries()) {
      log(`  port ${p} -> ${topo.vms[i]}: AF_XDP, XDP ${p.mode} mode, ${p.zeroCopy ? 'zero-copy' : 'copy mode'}`);
    }
    const table = new CountersTable(ports);
    table.render();

    log(`\nping ${topo.vm1.name} -> ${topo.vm2.name}:`);
    log((await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.vm2.ip])).trim().split('\n').slice(-2).join('\n'));

    log(`\nTCP iperf3 ${topo.vm1.name} -> ${topo.vm2.name} for 5 s, live counters:`);
    const server = topo.vm2.ns.spawn(['iperf3', '-s', '-1', '-B', topo.vm2.ip]);
    await sleep(300);
    const client = topo.vm1.ns.exec(['iperf3', '-c', topo.vm2.ip, '-t', '5', '-J'], { timeoutMs: 30_000 });
    for (let s = 0; s < 5; s++) {
      await sleep(1000);
      log(`\n[t=${s + 1}s]\n${table.render()}`);
    }
    const report = JSON.parse(await client) as { end: { sum_received: { bits_per_second: number } } };
    server.kill();
    log(`\niperf3: ${(report.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s received by ${topo.vm2.name}`);

    log(`\n100000 sequence-numbered frames ${topo.vm1.name} -> ${topo.vm2.name} (unicast: ${topo.vm3?.name} sees none of them):`);
    const rx = await startReceiver({ ifname: 'eth0', netns: topo.vm2.ns.name, flow: 1, expect: 100_000, idleMs: 1000 });
    const sent = await send({ ifname: 'eth0', netns: topo.vm1.ns.name, srcMac: topo.vm1.mac, dstMac: topo.vm2.mac, flow: 1, count: 100_000, rate: 100_000 });
    const got = await rx.done();
    log(`  sent ${sent.sent}, received ${got.unique}, lost ${got.lost}, duplicated ${got.duplicated}, reordered ${got.reordered}, latency p50 ${(got.latencyNs.p50 / 1000).toFixed(0)} us, p99 ${(got.latencyNs.p99 / 1000).toFixed(0)} us`);
    log(`\n${table.render()}`);

    const fdb = engine.fdb().filter((e) => topo.vms.some((vm) => vm.mac === e.mac));
    log(`\nMAC table: ${fdb.map((e) => `${e.mac} on ${e.port}`).join(', ')}`);
    const audit = engine.auditFrames();
    log(`Frame audit: ${audit.ok ? 'every frame accounted for' : 'FRAMES MISSING'} (${JSON.stringify(audit.workers[0])})`);
    return audit.ok && got.lost === 0;
  } finally {
    engine.close();
    await bed.close();
    log('Cleaned up: namespaces, veths and XDP programs removed.');
  }
}
