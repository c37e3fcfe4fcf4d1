// Bad input and missing privileges: every failure is a typed error that names the
// interface, queue and step, and leaves nothing behind (fds, threads, XDP programs).
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twoVmHost, type TwoVmHost } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { ClosedError, Engine, PortError, SettingsError } from '../dataplane/lib/index.js';
import { newEngine } from './support/engine.js';

const execFileP = promisify(execFile);
const fds = () => readdirSync('/proc/self/fd').length;
const threads = () => readdirSync('/proc/self/task').length;

async function xdpAttached(topo: TwoVmHost, ifname: string): Promise<boolean> {
  const out = await topo.host.exec(['ip', '-j', 'link', 'show', 'dev', ifname]);
  const [link] = JSON.parse(out) as { xdp?: unknown }[];
  return link?.xdp !== undefined;
}

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, got none');
}

describe('engine bad input', () => {
  const bed = useTestBed();
  let topo: TwoVmHost;
  let engine: Engine;
  beforeAll(async () => {
    topo = await twoVmHost(bed(), { ipv6: false });
    engine = newEngine();
  });
  afterAll(() => engine.close());

  it('rejects an unknown interface with its name and namespace', () => {
    const err = catchError(() => engine.addPort({ ifname: 'nosuch0', netns: topo.host.name }));
    expect(err).toBeInstanceOf(PortError);
    expect(err.message).toMatch(/nosuch0/);
    expect(err.message).toContain(topo.host.name);
    expect((err as PortError).context).toMatchObject({ ifname: 'nosuch0', code: 'ENODEV', step: 'resolve' });
  });

  it('rejects an unknown namespace', () => {
    const err = catchError(() => engine.addPort({ ifname: 'tap-vm1', netns: 'no-such-ns' }));
    expect(err).toBeInstanceOf(PortError);
    expect(err.message).toMatch(/no-such-ns/);
  });

  it('rejects a queue out of range, naming the queue and the count', async () => {
    const err = catchError(() => engine.addPort({ ifname: topo.vm1.tap.name, netns: topo.host.name, firstQueue: 5 }));
    expect(err).toBeInstanceOf(PortError);
    expect(err.message).toMatch(/queue 5 out of range: tap-vm1 has 1 queue/);
    expect((err as PortError).context.queue).toBe(5);
    expect(await xdpAttached(topo, topo.vm1.tap.name)).toBe(false);
  });

  it('rejects required zero-copy on veth clearly and detaches its program', async () => {
    const err = catchError(() =>
      engine.addPort({ ifname: topo.vm1.tap.name, netns: topo.host.name, mode: 'native', zeroCopy: 'required' }),
    );
    expect(err).toBeInstanceOf(PortError);
    expect((err as PortError).context).toMatchObject({ code: 'EOPNOTSUPP', step: 'bind', ifname: topo.vm1.tap.name });
    expect(err.message).toMatch(/zero-copy/);
    expect(await xdpAttached(topo, topo.vm1.tap.name)).toBe(false);
  });

  it('rejects zero-copy with generic XDP before touching the interface', () => {
    const err = catchError(() =>
      engine.addPort({ ifname: topo.vm1.tap.name, netns: topo.host.name, mode: 'generic', zeroCopy: 'required' }),
    );
    expect((err as PortError).context.code).toBe('EOPNOTSUPP');
  });

  it('rejects a port added twice', () => {
    const port = engine.addPort({ ifname: topo.vm1.tap.name, netns: topo.host.name });
    const err = catchError(() => engine.addPort({ ifname: topo.vm1.tap.name, netns: topo.host.name }));
    expect(err).toBeInstanceOf(PortError);
    expect((err as PortError).context.code).toBe('EEXIST');
    expect(err.message).toMatch(/tap-vm1 is already a port/);
    port.close();
    port.close(); // idempotent
  });

  it('refuses a port whose fill ring the worker pool cannot fill, before attaching anything', async () => {
    const small = newEngine({ framesPerWorker: 4096 });
    try {
      small.addPort({ ifname: topo.vm1.tap.name, netns: topo.host.name, ringSize: 2048 });
      const err = catchError(() => small.addPort({ ifname: topo.vm2.tap.name, netns: topo.host.name, ringSize: 2048 }));
      expect((err as PortError).context.code).toBe('ENOSPC');
      expect(err.message).toMatch(/pool of 4096 frames cannot also fill tap-vm2's 2048-entry ring \(2048 frames already committed/);
      expect(await xdpAttached(topo, topo.vm2.tap.name)).toBe(false);
      expect(small.addPort({ ifname: topo.vm2.tap.name, netns: topo.host.name, ringSize: 1024 }).closed).toBe(false);
    } finally {
      small.close();
    }
  });

  it('rejects bad settings before anything is created', () => {
    expect(() => engine.addPort({ ifname: 'a-name-longer-than-15' })).toThrow(SettingsError);
    expect(() => engine.addPort({ ifname: 'x', ringSize: 1000 })).toThrow(/ringSize must be a power of two/);
    expect(() => new Engine({ workers: 0 })).toThrow(/workers must be an integer in 1\.\.16, got 0/);
    expect(() => new Engine({ frameSize: 1000 as 2048 })).toThrow(SettingsError);
  });

  it('leaks no fd, thread or XDP program over add/remove/start/stop/close cycles', async () => {
    const fd0 = fds();
    const th0 = threads();
    for (let i = 0; i < 5; i++) {
      const e = newEngine();
      const a = e.addPort({ ifname: topo.vm1.tap.name, netns: topo.host.name, mode: i % 2 ? 'native' : 'generic' });
      e.addPort({ ifname: topo.vm2.tap.name, netns: topo.host.name });
      e.start();
      a.close();
      e.stop();
      e.start();
      e.close();
      e.close();
    }
    expect(fds()).toBe(fd0);
    expect(threads()).toBe(th0);
    expect(await xdpAttached(topo, topo.vm1.tap.name)).toBe(false);
    expect(await xdpAttached(topo, topo.vm2.tap.name)).toBe(false);
  });

  it('throws ClosedError for an engine or port used after close', () => {
    const e = newEngine();
    const p = e.addPort({ ifname: topo.vm2.tap.name, netns: topo.host.name });
    e.close();
    expect(() => e.start()).toThrow(ClosedError);
    expect(() => e.addPort({ ifname: topo.vm2.tap.name })).toThrow(/engine is closed \(addPort\)/);
    expect(() => p.counters()).toThrow(ClosedError);
    expect(p.closed).toBe(true);
    p.close(); // still idempotent
  });
});

describe('engine without privileges', () => {
  const bed = useTestBed();
  let topo: TwoVmHost;
  beforeAll(async () => {
    topo = await twoVmHost(bed(), { ipv6: false });
  });

  async function childAddPort(prefix: string[]): Promise<{ ok: boolean; name?: string; message?: string }> {
    const argv = [...prefix, 'node_modules/.bin/vite-node', 'test/support/add-port-child.ts', topo.host.name, topo.vm1.tap.name];
    const { stdout } = await execFileP(argv[0]!, argv.slice(1), { timeout: 30000 });
    const line = stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(line) as { ok: boolean; name?: string; message?: string };
  }

  it('works with full privileges (the control for the cases below)', async () => {
    expect(await childAddPort([])).toMatchObject({ ok: true });
  });

  it('names CAP_BPF/CAP_NET_ADMIN when they are missing', async () => {
    const r = await childAddPort(['setpriv', '--bounding-set=-bpf,-net_admin,-net_raw,-perfmon', '--']);
    expect(r).toMatchObject({ ok: false, name: 'PrivilegeError' });
    expect(r.message).toMatch(/CAP_BPF/);
    expect(r.message).toMatch(/CAP_NET_ADMIN/);
    expect(await xdpAttached(topo, topo.vm1.tap.name)).toBe(false);
  });

  it('names RLIMIT_MEMLOCK and CAP_IPC_LOCK when locked memory is too low', async () => {
    const r = await childAddPort(['prlimit', '--memlock=65536:65536', 'setpriv', '--bounding-set=-ipc_lock', '--']);
    expect(r).toMatchObject({ ok: false, name: 'PrivilegeError' });
    expect(r.message).toMatch(/RLIMIT_MEMLOCK/);
    expect(r.message).toMatch(/CAP_IPC_LOCK/);
    expect(await xdpAttached(topo, topo.vm1.tap.name)).toBe(false);
  });
});
