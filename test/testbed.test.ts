// The test bed itself: topologies come up with the right names, addresses and
// plain-Linux connectivity, and everything goes away again, whatever happens.

import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CloseError,
  CommandError,
  InvalidNameError,
  MARKER_DIR,
  TestBed,
  describeReference,
  listNetnsSync,
  referenceTopology,
  rootLinkNames,
  run,
  spawnIn,
  sweepStale,
  twoVmHost,
  waitExit,
  type Netns,
  type ReferenceTopology,
  type TwoVmHost,
} from './bed/index.js';
import { useTestBed } from './bed/vitest.js';

/** ping from ns; resolves on at least one reply. */
async function ping(ns: Netns, ip: string, extra: string[] = []): Promise<string> {
  return ns.exec(['ping', '-n', '-c', '2', '-i', '0.05', '-W', '2', ...extra, ip]);
}

async function linkNames(ns: Netns): Promise<string[]> {
  return (JSON.parse(await ns.exec(['ip', '-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
}

/** Everything on the machine that still carries prefix. */
async function leftovers(prefix: string): Promise<string[]> {
  const netnsList = (await run(['ip', 'netns', 'list'])).split('\n').filter((l) => l.startsWith(`${prefix}-`));
  const links = (await rootLinkNames()).filter((n) => n.startsWith(prefix));
  const marker = existsSync(`${MARKER_DIR}/${prefix}.pid`) ? [`marker ${prefix}.pid`] : [];
  return [...netnsList, ...links, ...marker];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('twoVmHost', () => {
  const bed = useTestBed();
  let t: TwoVmHost;

  beforeAll(async () => {
    t = await twoVmHost(bed(), { vm3: true });
  });

  it('creates prefixed namespaces, taps in the host and eth0 in each VM', async () => {
    const prefix = bed().prefix;
    expect(prefix).toMatch(/^bn[0-9a-z]{3}$/);
    expect(listNetnsSync()).toEqual(expect.arrayContaining([`${prefix}-host`, `${prefix}-vm1`, `${prefix}-vm2`, `${prefix}-vm3`]));
    expect(t.vms.map((v) => v.ns.name)).toEqual([`${prefix}-vm1`, `${prefix}-vm2`, `${prefix}-vm3`]);

    expect(await linkNames(t.host)).toEqual(expect.arrayContaining(['lo', 'tap-vm1', 'tap-vm2', 'tap-vm3']));
    for (const [i, vm] of t.vms.entries()) {
      const n = i + 1;
      const eth0 = await vm.eth0.info();
      expect(eth0.mac).toBe(`02:ba:00:00:0${n}:01`);
      expect(eth0.addresses).toContain(`10.0.0.${n}/24`);
      expect(eth0.mtu).toBe(1500);
      const tap = await vm.tap.info();
      expect(tap.mac).toBe(`02:ba:00:00:0${n}:fe`);
      expect(tap.flags).toContain('UP');
      // Equal indexes would make the kernel batch carrier events for up to 1 s (see VethEnd.ifindex).
      expect(tap.ifindex).not.toBe(eth0.ifindex);
      expect(vm.describe()).toMatchObject({ ip: `10.0.0.${n}`, prefixLen: 24, tap: `tap-vm${n}`, hostNetns: t.host.name });
      // What makes a moved tap look like a virtio NIC to the VM.
      expect(await vm.ns.readSysctl('net.ipv4.conf.all.arp_evict_nocarrier')).toBe('0');
      expect(await vm.ns.readSysctl('net.ipv4.conf.eth0.arp_evict_nocarrier')).toBe('0');
      expect(await vm.ns.readSysctl('net.ipv6.conf.all.ndisc_evict_nocarrier')).toBe('0');
      expect(await vm.ns.readSysctl('net.ipv6.conf.eth0.ndisc_evict_nocarrier')).toBe('0');
      expect((await vm.eth0.features())['tx-checksumming']).toBe(false);
    }
  });

  it('carries vm1 -> vm2 ping through a temporary bridge joining the taps', async () => {
    const br = await bed().createBridge(t.host, 'tmpbr0');
    for (const vm of t.vms) await br.addPort(vm.tap);
    expect((await br.ports()).sort()).toEqual(['tap-vm1', 'tap-vm2', 'tap-vm3']);

    await t.vm1.eth0.waitOperState('UP');
    const before = await t.vm2.tap.stats();
    await ping(t.vm1.ns, t.vm2.ip);
    if (t.vm3) await ping(t.vm3.ns, t.vm1.ip);
    const after = await t.vm2.tap.stats();
    expect(after.txPackets).toBeGreaterThan(before.txPackets);

    await br.close();
    expect(await linkNames(t.host)).not.toContain('tmpbr0');
    expect((await t.vm1.tap.info()).master).toBeUndefined();
    await br.close(); // the bed closes it again at the end: no error
  });

  it('wraps failures in CommandError with argv, netns, exit code and stderr', async () => {
    const err = await t.host.exec(['ip', 'link', 'del', 'dev', 'nope0']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    const ce = err as CommandError;
    expect(ce.argv).toEqual(['ip', 'link', 'del', 'dev', 'nope0']);
    expect(ce.netns).toBe(t.host.name);
    expect(ce.exitCode).not.toBe(0);
    expect(ce.stderr).toMatch(/Cannot find device/);
    expect(ce.isGone).toBe(true);
    expect(ce.message).toContain(t.host.name);
  });

  it('rejects interface names the kernel would refuse', async () => {
    await expect(bed().createVeth({ ns: t.host, name: 'a-name-too-long-0' }, { ns: t.host, name: 'ok0' })).rejects.toBeInstanceOf(
      InvalidNameError,
    );
    expect(await linkNames(t.host)).not.toContain('ok0');
  });
});

describe('referenceTopology', () => {
  const bed = useTestBed();
  let t: ReferenceTopology;

  beforeAll(async () => {
    t = await referenceTopology(bed(), { nic0Ip: true });
  });

  it('has the DESIGN.md namespaces and interfaces', async () => {
    const p = bed().prefix;
    expect(bed().namespaces().map((n) => n.name)).toEqual(
      ['ext', 'hostA', 'hostB', 'hostC', 'fabric', 'vm1'].map((n) => `${p}-${n}`),
    );
    expect(await linkNames(t.hostA.ns)).toEqual(expect.arrayContaining(['nic0', 'uA']));
    expect(await linkNames(t.hostB.ns)).toEqual(expect.arrayContaining(['uB', 'tap-vm1']));
    expect(await linkNames(t.hostC.ns)).toEqual(expect.arrayContaining(['uC']));
    expect((await t.fabric.bridge.ports()).sort()).toEqual(['uA-br', 'uB-br', 'uC-br']);
    expect((await t.hostA.underlay.info()).mtu).toBe(9000);
    expect((await t.fabric.bridge.info()).mtu).toBe(9000);

    const d = describeReference(t);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    expect(d.vm1).toMatchObject({ netns: `${p}-vm1`, ifname: 'eth0', ip: '10.50.0.11', tap: 'tap-vm1', hostNetns: `${p}-hostB` });
    expect(d.hosts.hostB.underlay).toMatchObject({ ifname: 'uB', ip: '10.99.0.2', mac: '02:ba:0b:99:00:01' });
    expect(d.nic0).toEqual({ netns: `${p}-hostA`, ifname: 'nic0', mac: '02:ba:0a:00:00:01' });
  });

  it('pings hostA <-> hostB and hostA -> hostC over the fabric bridge', async () => {
    await ping(t.hostA.ns, t.hostB.underlayIp);
    await ping(t.hostB.ns, t.hostA.underlayIp);
    await ping(t.hostA.ns, t.hostC.underlayIp);
    // jumbo frames cross the fabric unfragmented
    await ping(t.hostA.ns, t.hostB.underlayIp, ['-M', 'do', '-s', String(9000 - 28)]);
  });

  it('reaches ext from hostA over nic0 (the device network)', async () => {
    await ping(t.hostA.ns, t.ext.ip);
    await ping(t.ext.ns, t.deviceNet.hostA);
    const stats = await t.hostA.nic0.stats();
    expect(stats.rxPackets).toBeGreaterThan(0);
    expect(stats.txPackets).toBeGreaterThan(0);
  });

  it('moves vm1 from hostB to hostC keeping MAC, IP and the VM neighbour cache', async () => {
    const { vm1, hostB, hostC } = t;
    const gw = '10.50.0.254';
    // Plain-Linux stand-in for the switch: the tap answers for gw, so vm1 learns a neighbour.
    await vm1.tap.addAddress(`${gw}/24`);
    await vm1.eth0.waitOperState('UP');
    await ping(vm1.ns, gw);
    const tapMac = vm1.tap.mac;
    const tapIndex = (await vm1.tap.info()).ifindex;

    const started = performance.now();
    await vm1.move(hostC.ns);
    const moveMs = performance.now() - started;

    expect(vm1.host).toBe(hostC.ns);
    expect(await linkNames(hostB.ns)).not.toContain('tap-vm1');
    expect(await linkNames(hostC.ns)).toContain('tap-vm1');
    const tap = await vm1.tap.info();
    expect(tap.mac).toBe(tapMac);
    expect(tap.ifindex).toBe(tapIndex);
    expect(tap.flags).toContain('UP');
    expect(tap.addresses.filter((a) => a.startsWith('10.'))).toEqual([]); // the kernel drops them on a move

    const eth0 = await vm1.eth0.info();
    expect(eth0.mac).toBe('02:ba:00:00:01:01');
    expect(eth0.addresses).toContain('10.50.0.11/24');
    await vm1.eth0.waitOperState('UP');
    // arp_evict_nocarrier=0: the carrier blip did not flush the entry
    const neigh = JSON.parse(await vm1.ns.exec(['ip', '-j', 'neigh', 'show', gw, 'dev', 'eth0'])) as { lladdr?: string; state: string[] }[];
    expect(neigh[0]?.lladdr).toBe(tapMac);
    expect(neigh[0]?.state).not.toContain('FAILED');

    await vm1.tap.addAddress(`${gw}/24`);
    await ping(vm1.ns, gw);
    expect(vm1.describe().hostNetns).toBe(hostC.ns.name);
    expect(moveMs).toBeLessThan(2000);
  });
});

describe('teardown', () => {
  it('removes every namespace, link, process and marker of the run; close() is idempotent', async () => {
    const bed = await TestBed.create();
    const { host, vm1 } = await twoVmHost(bed);
    const tracked = host.spawn(['sleep', '600']);
    // A stray the bed did not start (think `iperf3 -s -D`): close() must kill it too.
    const stray = spawnIn(['sleep', '600'], { netns: vm1.ns.name, stdio: 'ignore' });
    const pids = [tracked.pid, stray.pid];
    await new Promise((r) => setTimeout(r, 100));
    expect(pids.every((p) => p !== undefined && isAlive(p))).toBe(true);
    expect(await leftovers(bed.prefix)).not.toEqual([]);

    // Already-gone things are not errors: a VM closed early, a namespace deleted behind the bed's back.
    await vm1.close();
    await run(['ip', 'netns', 'del', `${bed.prefix}-vm2`]);

    await Promise.all([bed.close(), bed.close()]);
    expect(await waitExit(tracked, 2000)).toBe(true);
    expect(await waitExit(stray, 2000)).toBe(true);
    expect(await leftovers(bed.prefix)).toEqual([]);
    expect(bed.closed).toBe(true);
    await expect(bed.close()).resolves.toBeUndefined();
    await expect(bed.createNetns('late')).rejects.toThrow(/closed/);
  });

  it('reports real teardown failures as one CloseError after closing everything else', async () => {
    const bed = await TestBed.create({ sweep: false });
    const ns = await bed.createNetns('x');
    bed.own({ close: () => Promise.reject(new Error('boom')) }, 'failing helper');
    const err = await bed.close().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloseError);
    expect((err as CloseError).message).toMatch(/failing helper: boom/);
    expect(ns.exists()).toBe(false);
    expect(await leftovers(bed.prefix)).toEqual([]);
  });

  it('sweepStale() removes a dead run (killing its processes) and leaves live runs alone', async () => {
    const live = await TestBed.create({ sweep: false });
    try {
      const liveNs = await live.createNetns('keep');
      // A "crashed run": its marker names a process that has exited.
      const dead = spawnIn(['true'], { stdio: 'ignore' });
      await waitExit(dead, 5000);
      const stale = await TestBed.create({ sweep: false });
      const staleNs = await stale.createNetns('stale');
      const sleeper = staleNs.spawn(['sleep', '600']);
      await fs.writeFile(`${MARKER_DIR}/${stale.prefix}.pid`, JSON.stringify({ pid: dead.pid, startTime: '1' }));

      const report = await sweepStale();
      expect(report.prefixes).toContain(stale.prefix);
      expect(report.netns).toContain(staleNs.name);
      expect(report.prefixes).not.toContain(live.prefix);
      expect(await waitExit(sleeper, 2000)).toBe(true);
      expect(await leftovers(stale.prefix)).toEqual([]);
      expect(liveNs.exists()).toBe(true);
      await stale.close(); // everything already swept: still no error
    } finally {
      await live.close();
    }
  });

  it('cleans up when the process is killed by SIGTERM, and sweeps after SIGKILL', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const script = join(await fs.mkdtemp(join(tmpdir(), 'bed-')), 'crash.ts');
    await fs.writeFile(
      script,
      `import { TestBed, twoVmHost } from ${JSON.stringify(join(root, 'test/bed/index.ts'))};\n` +
        `const bed = await TestBed.create({ sweep: false });\n` +
        `await twoVmHost(bed);\n` +
        `console.log(bed.prefix);\n` +
        `setInterval(() => undefined, 1000);\n`,
    );
    const startChild = async (): Promise<{ child: ReturnType<typeof spawnIn>; prefix: string }> => {
      const child = spawnIn([join(root, 'node_modules/.bin/vite-node'), script], { cwd: root });
      let out = '';
      child.stderr?.resume();
      const prefix = await new Promise<string>((resolve, reject) => {
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /^(bn[0-9a-z]{3})$/m.exec(out);
          if (m?.[1]) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`child exited ${code}: ${out}`)));
      });
      return { child, prefix };
    };
    try {
      const a = await startChild();
      expect(await leftovers(a.prefix)).not.toEqual([]);
      a.child.kill('SIGTERM');
      expect(await waitExit(a.child, 10_000)).toBe(true);
      expect(a.child.signalCode).toBe('SIGTERM');
      expect(await leftovers(a.prefix)).toEqual([]);

      const b = await startChild();
      b.child.kill('SIGKILL');
      expect(await waitExit(b.child, 10_000)).toBe(true);
      expect(await leftovers(b.prefix)).not.toEqual([]);
      const report = await sweepStale();
      expect(report.prefixes).toContain(b.prefix);
      expect(await leftovers(b.prefix)).toEqual([]);
    } finally {
      await fs.rm(join(script, '..'), { recursive: true, force: true });
    }
  });
});
