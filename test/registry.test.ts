// The endpoint registry: the backend contract on the embedded store, then what only the
// embedded store has (its files, lock, event log segments, polling fallback).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedRegistry, type EmbeddedRegistrySettings } from '../controller/registry/index.js';
import { endpoint, expectRegistryError, host, record, registryContract, waitFor } from './support/registry-contract.js';

// Short intervals keep the lease tests quick; the defaults are for daemons.
const FAST: EmbeddedRegistrySettings = { gcIntervalMs: 50, pollIntervalMs: 100 };

// Stores live on tmpfs when there is one, like /run/banana/registry in production: on ext4,
// rename over an existing file forces writeback and writes are ~20x slower.
function tempStore(): string {
  let base = tmpdir();
  try {
    accessSync('/dev/shm', constants.W_OK);
    base = '/dev/shm';
  } catch {
    // no tmpfs: the suite still passes, only slower
  }
  return mkdtempSync(join(base, 'banana-registry-'));
}

registryContract('embedded', async () => {
  const dir = tempStore();
  return {
    spec: `embedded:${dir}`,
    connect: () => EmbeddedRegistry.open({ ...FAST, dir }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('embedded registry', () => {
  const dirs: string[] = [];
  const regs: EmbeddedRegistry[] = [];
  const open = async (settings: EmbeddedRegistrySettings = {}, dir?: string): Promise<EmbeddedRegistry> => {
    const d = dir ?? tempStore();
    if (dir === undefined) dirs.push(d);
    const reg = await EmbeddedRegistry.open({ ...FAST, ...settings, dir: d });
    regs.push(reg);
    return reg;
  };

  afterEach(async () => {
    await Promise.all(regs.splice(0).map((r) => r.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps the documented layout on disk and leaves no lock behind', async () => {
    const reg = await open();
    const lease = await reg.grantLease(60_000);
    await reg.putHost(host('hostA'), lease);
    await reg.putEndpoint(endpoint('hostA/nic0/vf1'));
    expect(readdirSync(reg.dir).sort()).toEqual(['events', 'leases', 'records', 'rev']);
    expect(readdirSync(join(reg.dir, 'records')).sort()).toEqual(['endpoints%2FhostA%2Fnic0%2Fvf1.json', 'hosts%2FhostA.json']);
    expect(readdirSync(join(reg.dir, 'leases'))).toEqual([`${lease.id}.json`]);
    expect(readdirSync(join(reg.dir, 'events'))).toEqual(['00000000000000000001.log']);
    expect(readFileSync(join(reg.dir, 'rev'), 'utf8').trim()).toBe('2');
    const file = JSON.parse(readFileSync(join(reg.dir, 'records', 'hosts%2FhostA.json'), 'utf8')) as Record<string, unknown>;
    expect(file).toMatchObject({ key: 'hosts/hostA', createRevision: 1, modRevision: 1, lease: lease.id, value: { name: 'hostA' } });
    const log = readFileSync(join(reg.dir, 'events', '00000000000000000001.log'), 'utf8').trim().split('\n');
    expect(log.map((l) => (JSON.parse(l) as { rev: number }).rev)).toEqual([1, 2]);
    await lease.revoke();
    expect(readdirSync(join(reg.dir, 'leases'))).toEqual([]);
  });

  it('collects an expired lease file and its records', async () => {
    const reg = await open();
    const lease = await reg.grantLease(100);
    await reg.putEndpoint(endpoint('hostA/nic0/vf1'), lease);
    await waitFor('collection', () => readdirSync(join(reg.dir, 'leases')).length === 0 && readdirSync(join(reg.dir, 'records')).length === 0, 2000);
  });

  it('delivers through the periodic rescan alone when fs.watch is off', async () => {
    const reg = await open({ fsWatch: false, pollIntervalMs: 50 });
    const rec = record(reg, 'hosts/');
    for (let i = 0; i < 5; i++) await reg.putHost(host(`h${i}`));
    await waitFor('polled events', () => rec.events.length === 5, 2000);
    expect(rec.events.map((e) => e.revision)).toEqual([1, 2, 3, 4, 5]);
  });

  it('reads across event log segments, and reports a watch that fell behind compaction', async () => {
    const reg = await open({ segmentBytes: 600, segmentsKept: 100 });
    const live = record(reg, '');
    for (let i = 0; i < 30; i++) await reg.putHost(host(`h${i}`));
    await waitFor('30 events', () => live.events.length === 30);
    expect(live.events.map((e) => e.revision)).toEqual([...Array(30).keys()].map((i) => i + 1));
    expect(readdirSync(join(reg.dir, 'events')).length).toBeGreaterThan(5);
    // A writer that keeps fewer segments compacts the log for everyone.
    const pruner = await open({ segmentBytes: 600, segmentsKept: 2 }, reg.dir);
    await pruner.putHost(host('h30'));
    const segments = readdirSync(join(reg.dir, 'events')).sort();
    expect(segments.length).toBe(2);
    const behind = record(reg, '', { startRevision: 1 });
    await waitFor('compacted error', () => behind.errors.length === 1);
    expect(behind.errors[0]).toMatchObject({ reason: 'compacted' });
    expect(behind.events).toEqual([]);
    const oldest = Number(segments[0]?.slice(0, 20));
    const kept = record(reg, '', { startRevision: oldest });
    await waitFor('replay of kept segments', () => kept.events.length === 32 - oldest);
    await waitFor('live watch', () => live.events.length === 31);
    expect([...live.errors, ...kept.errors]).toEqual([]);
  });

  it('keeps a new watch’s starting point even if a burst of writes compacts the log before it reads', async () => {
    const reg = await open({ segmentBytes: 300, segmentsKept: 2, pollIntervalMs: 50 });
    const other = await open({ segmentBytes: 300, segmentsKept: 2 }, reg.dir);
    for (let i = 0; i < 5; i++) await reg.putHost(host(`h${i}`));
    const rec = record(reg, 'hosts/');
    // Not awaited one by one: a write's critical section is synchronous, so all 20 land (and
    // compact the segment the watch starts in) before the watch's first read.
    const writes = Promise.all([...Array(20).keys()].map((i) => other.putHost(host(`g${i}`))));
    await writes;
    expect(readdirSync(join(reg.dir, 'events')).length).toBe(2);
    // The pinned segment is read to its end (revision 6 shares it with 5), then the gap to the
    // oldest kept segment is reported, not skipped.
    await waitFor('compaction error', () => rec.errors.length === 1);
    expect(rec.events.map((e) => e.revision)).toEqual([6]);
    expect(rec.errors[0]).toMatchObject({ reason: 'compacted' });
  });

  it('breaks a lock left by a dead process, and times out on a live holder', async () => {
    const reg = await open({ lockTimeoutMs: 300 });
    const dead = spawnSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(reg.dir, 'lock'), `${dead.stdout} stale\n`);
    expect(await reg.putHost(host('hostA'))).toBe(1);
    expect(existsSync(join(reg.dir, 'lock'))).toBe(false);
    writeFileSync(join(reg.dir, 'lock'), `${process.ppid} held\n`);
    const err = await expectRegistryError(reg.putHost(host('hostB')), 'lock-timeout');
    expect(err.context.pid).toBe(process.ppid);
    rmSync(join(reg.dir, 'lock'));
  });

  it('reports a hand-edited record file as corrupt, naming the file', async () => {
    const reg = await open();
    await reg.putHost(host('hostA'));
    const path = join(reg.dir, 'records', 'hosts%2FhostA.json');
    const file = JSON.parse(readFileSync(path, 'utf8')) as { value: Record<string, unknown> };
    file.value.controller = 'nowhere';
    writeFileSync(path, JSON.stringify(file));
    const err = await expectRegistryError(reg.listHosts(), 'corrupt');
    expect(err.context).toMatchObject({ path, key: 'hosts/hostA', field: 'controller' });
    writeFileSync(path, 'not json');
    await expectRegistryError(reg.getHost('hostA'), 'corrupt');
  });

  it('releases every file descriptor on close', async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    const reg = await open();
    const recs = [record(reg, ''), record(reg, { kind: 'host' }), record(reg, 'endpoints/')];
    await reg.putHost(host('hostA'));
    await waitFor('events', () => recs[0]?.events.length === 1 && recs[1]?.events.length === 1);
    recs[0]?.close();
    await reg.close();
    expect(fds()).toBe(before);
  });

  it('rejects a bad cluster name before touching the filesystem', async () => {
    await expectRegistryError(EmbeddedRegistry.open({ cluster: '../etc' }), 'invalid', 'cluster');
  });
});
