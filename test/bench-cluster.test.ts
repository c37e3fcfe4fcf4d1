// `banana bench wire-udp --hosts FILE`: the wire benchmark on hosts given by config, driving the
// daemons already running there. Here the "cluster" is the reference topology's namespaces with
// real bananad processes, reached with an empty command prefix or one that runs its arguments
// as ssh does (on a cluster: ssh).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../bench/contract.js';
import type { SpikeView } from '../controller/model/views.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { banana } from './support/banana-cli.js';
import { DaemonCluster, TEST_SECRET } from './support/daemons.js';

describe('bench on hosts given by config (--hosts)', () => {
  const bed = useTestBed();
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'banana-bench-cluster-'));
  afterAll(async () => cluster?.stop());

  const configFor = (topo: ReferenceTopology, api: string) => ({
    secret: TEST_SECRET,
    spike: { host: 'hostB', api, exec: [], netns: topo.hostB.ns.name, underlayIp: topo.hostB.underlayIp },
    corm: { id: 'hostA/nic0', exec: [], netns: topo.hostA.ns.name, underlayIp: topo.hostA.underlayIp },
    // A prefix like ssh's (it runs its arguments as a command), so the remote path is taken:
    // tools under `timeout`, stopped with pkill on the host.
    peer: { exec: ['sh', '-c', 'exec "$@"', 'sh'], netns: topo.ext.ns.name, ifname: 'eth0', ip: topo.ext.ip, mac: topo.ext.eth0.mac },
    vm: { ip: '10.50.0.77', prefixLen: 24 },
  });

  it('measures a udp wire through the daemons: VM sockets vs the underlay floor, frame round trips, and leaves nothing behind', async () => {
    topo = await referenceTopology(bed(), { ipv6: false });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }] },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name },
    ]);
    const b = cluster.get('hostB');
    const file = join(dir, 'cluster.json');
    writeFileSync(file, JSON.stringify(configFor(topo, b.address)));
    const run = await banana(['bench', 'wire-udp', '--hosts', file, '--quick', '--json', '--out', dir]);
    expect(run.code, run.err).toBe(0);
    const report = JSON.parse(run.out) as BenchReport;
    const sockets = report.results.find((r) => r.metric === 'rtt_p50_us' && r.baseline === 'kernel-udp-pingpong-host-to-host')!;
    expect(sockets).toMatchObject({ scenario: 'wire-udp', unit: 'us (UDP sockets, VM to peer)' });
    expect(sockets.value).toBeGreaterThan(0);
    expect(sockets.ratio).toBeCloseTo(sockets.value / sockets.baselineValue!, 2);
    expect(sockets.detail).toMatchObject({ spikeHost: 'hostB', corm: 'hostA/nic0', wireType: 'udp', measuredIn: 'cluster (--hosts)' });
    const frames = report.results.filter((r) => r.unit === 'us (frames, VM to peer)');
    expect(frames.map((r) => `${r.frameBytes} ${r.metric}`)).toEqual(['64 rtt_p50_us', '64 rtt_p99_us']);
    for (const r of frames) expect(r.value).toBeGreaterThan(0);
    // The test VM and its Spike are gone again.
    expect(await b.api.request<SpikeView[]>('GET', '/v1/spikes')).toEqual([]);
    expect(await topo.hostB.ns.exec(['ip', '-o', 'link'])).not.toContain('bnbench');
    console.log(`bench --hosts: VM sockets p50 ${sockets.value} us vs underlay floor ${sockets.baselineValue} us (${sockets.ratio}x); frames p50 ${frames[0]!.value} us`);
  }, 180_000);

  it('refuses a bad hosts file naming the file and field, and --hosts on a scenario that has no cluster form', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...configFor(topo, '127.0.0.1:1'), peer: { ifname: 'eth0', ip: '10.50.0.1', mac: 'not-a-mac' } }));
    const r = await banana(['bench', 'wire-udp', '--hosts', bad, '--quick']);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}: peer.mac: a MAC such as 02:ba:00:00:00:01`);
    const other = await banana(['bench', 'forward', '--hosts', bad]);
    expect(other.code).toBe(2);
    expect(other.err).toContain('--hosts applies to wire-udp and wire-rdma, not forward');
  });
});
