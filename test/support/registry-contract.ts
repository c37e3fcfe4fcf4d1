// The registry contract: one suite every backend must pass. test/registry.test.ts runs it on
// the embedded backend; an etcd adapter runs it by passing its own store factory.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  RegistryError,
  type EndpointRecord,
  type HostInput,
  type Registry,
  type WatchEvent,
  type WatchOptions,
  type WatchSelector,
} from '../../controller/registry/index.js';

/** One empty store, fresh for each test. */
export interface ContractStore {
  /** A new client of this store (several may be open at once). */
  connect(): Promise<Registry>;
  /** How test/support/registry-child.ts reaches this store, e.g. `embedded:/tmp/x`. */
  readonly spec: string;
  dispose(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const host = (name: string, extra: Partial<HostInput> = {}): HostInput => ({
  name,
  labels: { site: 's1', cluster: 'c1', rack: 'r1' },
  controller: `${name}:7000`,
  underlay: '10.9.0.1',
  ...extra,
});

export const endpoint = (id: string, kind: 'corm' | 'spike' = 'corm', mac = '02:00:00:00:00:01'): EndpointRecord => ({
  id,
  kind,
  host: id.split('/')[0] ?? '',
  mac,
  attributes: {},
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - t0;
}

export interface Recorder {
  readonly events: WatchEvent[];
  readonly errors: Error[];
  close(): void;
}

export function record(reg: Registry, selector: WatchSelector, options: Omit<WatchOptions, 'onError'> = {}): Recorder {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const w = reg.watch(selector, (e) => events.push(e), { ...options, onError: (e) => errors.push(e) });
  return { events, errors, close: () => w.close() };
}

/** Expects a RegistryError of the given reason (and field, if given). */
export async function expectRegistryError(p: Promise<unknown>, reason: string, field?: string): Promise<RegistryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  const re = err as RegistryError;
  expect(re.reason).toBe(reason);
  if (field !== undefined) {
    expect(re.field).toBe(field);
    expect(re.message).toContain(field);
  }
  return re;
}

export interface Child {
  /** Resolves once the child is connected and waiting. */
  readonly ready: Promise<void>;
  go(): void;
  /** The revisions the child's writes got, once it exits. */
  readonly done: Promise<number[]>;
}

export function startChild(spec: string, args: readonly string[]): Child {
  const child = spawn(`${ROOT}node_modules/.bin/vite-node`, ['test/support/registry-child.ts', spec, ...args], { cwd: ROOT });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"ready":true')) resolve();
    });
    child.on('exit', () => reject(new Error(`child exited before it was ready: ${out} ${err}`)));
  });
  const done = new Promise<number[]>((resolve, reject) => {
    child.on('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      const result = JSON.parse(last.startsWith('{') ? last : '{}') as { ok?: boolean; revisions?: number[]; error?: string };
      if (code === 0 && result.ok === true && result.revisions) resolve(result.revisions);
      else reject(new Error(`child failed (exit ${String(code)}): ${result.error ?? ''} ${err}`));
    });
  });
  ready.catch(() => undefined);
  return { ready, go: () => child.stdin.end('go\n'), done };
}

const isIncreasing = (xs: readonly number[]): boolean => xs.every((x, i) => i === 0 || x > (xs[i - 1] as number));

export interface ContractOptions {
  /** The short lease TTL the lease tests use; waits scale with it. Default 300 ms (etcd's
   * minimum TTL is about a second or more: an etcd run passes its own). */
  readonly shortTtlMs?: number;
}

export function registryContract(name: string, newStore: () => Promise<ContractStore>, options: ContractOptions = {}): void {
  const ttl = options.shortTtlMs ?? 300;
  describe(`registry contract: ${name}`, () => {
    let store: ContractStore | undefined;
    const open: Registry[] = [];

    async function connect(): Promise<Registry> {
      store ??= await newStore();
      const reg = await store.connect();
      open.push(reg);
      return reg;
    }

    afterEach(async () => {
      await Promise.all(open.splice(0).map((r) => r.close()));
      await store?.dispose();
      store = undefined;
    });

    it('puts, gets, lists and deletes hosts and endpoints', async () => {
      const reg = await connect();
      const r1 = await reg.putHost(host('hostA', { labels: { rack: 'r1' } }));
      const r2 = await reg.putHost(host('hostB'));
      expect(r2).toBeGreaterThan(r1);
      expect(await reg.revision()).toBe(r2);
      const a = await reg.getHost('hostA');
      expect(a).toMatchObject({ name: 'hostA', labels: { rack: 'r1' }, controller: 'hostA:7000', underlay: '10.9.0.1' });
      expect(Date.now() - Date.parse(a?.updatedAt ?? '')).toBeLessThan(5000);
      expect(await reg.getHost('hostC')).toBeUndefined();
      expect((await reg.listHosts()).map((h) => h.name)).toEqual(['hostA', 'hostB']);

      await reg.putEndpoint(endpoint('hostA/nic0/vf1', 'corm', '02:AA:00:00:00:01'));
      await reg.putEndpoint(endpoint('hostA/nic0/vf0'));
      await reg.putEndpoint({ ...endpoint('hostB/vm1/eth0', 'spike'), attributes: { vm: 'vm1' } });
      expect(await reg.getEndpoint('hostA/nic0/vf1')).toEqual({ id: 'hostA/nic0/vf1', kind: 'corm', host: 'hostA', mac: '02:aa:00:00:00:01', attributes: {} });
      expect((await reg.listEndpoints()).map((e) => e.id)).toEqual(['hostA/nic0/vf0', 'hostA/nic0/vf1', 'hostB/vm1/eth0']);
      expect((await reg.listEndpoints({ host: 'hostA' })).map((e) => e.id)).toEqual(['hostA/nic0/vf0', 'hostA/nic0/vf1']);
      expect((await reg.listEndpoints({ kind: 'spike' })).map((e) => e.id)).toEqual(['hostB/vm1/eth0']);
      expect(await reg.listEndpoints({ host: 'hostB', kind: 'corm' })).toEqual([]);

      // a put replaces
      await reg.putEndpoint({ ...endpoint('hostA/nic0/vf0'), attributes: { numa: '1' } });
      expect((await reg.getEndpoint('hostA/nic0/vf0'))?.attributes).toEqual({ numa: '1' });

      expect(await reg.delete('endpoints/hostA/nic0/vf1')).toBe(true);
      expect(await reg.delete('endpoints/hostA/nic0/vf1')).toBe(false);
      expect(await reg.getEndpoint('hostA/nic0/vf1')).toBeUndefined();
      expect(await reg.delete('hosts/hostB')).toBe(true);
      expect((await reg.listHosts()).map((h) => h.name)).toEqual(['hostA']);
      // deleting a host leaves its endpoints to their owner
      expect((await reg.listEndpoints({ host: 'hostB' })).length).toBe(1);
    });

    it('rejects bad records with a RegistryError naming the field, and writes nothing', async () => {
      const reg = await connect();
      const before = await reg.revision();
      const badHosts: [unknown, string][] = [
        [host('bad name'), 'name'],
        [host('a/b'), 'name'],
        [{ ...host('h'), labels: { rack: 5 } }, 'labels.rack'],
        [{ ...host('h'), labels: { 'bad key!': 'x' } }, 'labels.bad key!'],
        [host('h', { controller: '10.0.0.1' }), 'controller'],
        [host('h', { controller: 'h:70000' }), 'controller'],
        [host('h', { controller: '[zz::1]:7000' }), 'controller'],
        [host('h', { underlay: '10.0.0' }), 'underlay'],
        [host('h', { underlay: 'fe80::1' }), 'underlay'],
        [{ ...host('h'), lables: {} }, 'lables'],
      ];
      for (const [rec, field] of badHosts) await expectRegistryError(reg.putHost(rec as HostInput), 'invalid', field);
      const badEndpoints: [unknown, string][] = [
        [endpoint('hostA/nic0/vf1', 'corm', 'zz:00:00:00:00:01'), 'mac'],
        [endpoint('hostA/nic0/vf1', 'corm', '01:00:5e:00:00:01'), 'mac'],
        [endpoint('hostA/nic0/vf1', 'corm', '00:00:00:00:00:00'), 'mac'],
        [{ ...endpoint('hostA/nic0/vf1'), kind: 'vf' }, 'kind'],
        [{ ...endpoint('hostA/nic0/vf1'), host: 'hostB' }, 'id'],
        [endpoint('hostA'), 'id'],
        [endpoint('hostA/nic 0'), 'id'],
        [{ ...endpoint('hostA/nic0/vf1'), attributes: { numa: 1 } }, 'attributes.numa'],
      ];
      for (const [rec, field] of badEndpoints) await expectRegistryError(reg.putEndpoint(rec as EndpointRecord), 'invalid', field);
      const err = await expectRegistryError(reg.putEndpoint({ ...endpoint('hostA/nic0/vf1'), kind: 'vf' } as unknown as EndpointRecord), 'invalid');
      expect(err.key).toBe('endpoints/hostA/nic0/vf1');
      await expectRegistryError(reg.delete('nonsense'), 'invalid', 'key');
      await expectRegistryError(reg.getEndpoint('no-slash'), 'invalid', 'id');
      await expectRegistryError(reg.grantLease(0), 'invalid', 'ttlMs');
      expect(() => reg.watch({ kind: 'vf' } as unknown as WatchSelector, () => undefined)).toThrow(RegistryError);
      expect(await reg.revision()).toBe(before);
      expect(await reg.listHosts()).toEqual([]);
      expect(await reg.listEndpoints()).toEqual([]);
    });

    it('makes leased records vanish when the lease expires, announced as deletes', async () => {
      const reg = await connect();
      const rec = record(reg, '');
      const lease = await reg.grantLease(ttl);
      const t0 = Date.now();
      await reg.putHost(host('hostA'), lease);
      await reg.putEndpoint(endpoint('hostA/nic0/vf0'), lease);
      await reg.putEndpoint(endpoint('hostA/nic0/vf1')); // not leased: stays
      await sleep(ttl / 3);
      expect(await reg.getHost('hostA')).toBeDefined();
      await waitFor('the leased endpoint to vanish', async () => (await reg.getEndpoint('hostA/nic0/vf0')) === undefined, ttl + 2000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(ttl - 10);
      expect(await reg.getHost('hostA')).toBeUndefined();
      expect((await reg.listEndpoints()).map((e) => e.id)).toEqual(['hostA/nic0/vf1']);
      await waitFor('expiry deletes', () => rec.events.filter((e) => e.type === 'delete').length === 2, ttl + 2000);
      const deletes = rec.events.filter((e) => e.type === 'delete');
      expect(deletes.map((e) => (e.type === 'delete' ? e.cause : ''))).toEqual(['lease-expired', 'lease-expired']);
      expect(deletes.map((e) => e.key).sort()).toEqual(['endpoints/hostA/nic0/vf0', 'hosts/hostA']);
      await expectRegistryError(lease.keepAlive(), 'lease-not-found');
      await expectRegistryError(reg.putHost(host('hostA'), lease), 'lease-not-found');
      expect(rec.errors).toEqual([]);
    });

    it('keeps leased records while keepAlive is called', async () => {
      const reg = await connect();
      const lease = await reg.grantLease(ttl);
      await reg.putEndpoint(endpoint('hostA/nic0/vf0'), lease);
      // three TTLs' worth of renewals
      for (let i = 0; i < 9; i++) {
        await sleep(ttl / 3);
        await lease.keepAlive();
        expect(await reg.getEndpoint('hostA/nic0/vf0')).toBeDefined();
      }
      await waitFor('expiry once keepAlive stops', async () => (await reg.getEndpoint('hostA/nic0/vf0')) === undefined, ttl + 2000);
    });

    it('deletes a revoked lease’s records at once', async () => {
      const reg = await connect();
      const rec = record(reg, { kind: 'spike' });
      const lease = await reg.grantLease(60_000);
      await reg.putEndpoint(endpoint('hostA/vm1/eth0', 'spike'), lease);
      await reg.putEndpoint(endpoint('hostA/vm2/eth0', 'spike'), lease);
      await lease.revoke();
      expect(await reg.listEndpoints()).toEqual([]);
      await lease.revoke(); // idempotent
      await expectRegistryError(lease.keepAlive(), 'lease-not-found');
      await expectRegistryError(reg.putEndpoint(endpoint('hostA/vm3/eth0'), lease), 'lease-not-found');
      // a key put with a lease, then again without it, no longer belongs to the lease
      const other = await reg.grantLease(60_000);
      await reg.putEndpoint(endpoint('hostA/vm9/eth0', 'corm'), other);
      await reg.putEndpoint(endpoint('hostA/vm9/eth0', 'corm'));
      await other.revoke();
      expect((await reg.listEndpoints()).map((e) => e.id)).toEqual(['hostA/vm9/eth0']);
      await waitFor('revoke deletes', () => rec.events.length === 4);
      expect(rec.events.map((e) => `${e.type} ${e.key} ${e.type === 'delete' ? e.cause : ''}`)).toEqual([
        'put endpoints/hostA/vm1/eth0 ',
        'put endpoints/hostA/vm2/eth0 ',
        'delete endpoints/hostA/vm1/eth0 lease-revoked',
        'delete endpoints/hostA/vm2/eth0 lease-revoked',
      ]);
    });

    it('delivers another process’s puts and deletes in revision order; a closed watch sees nothing', async () => {
      const reg = await connect();
      const s = store as ContractStore;
      const all = record(reg, '');
      const spikes = record(reg, { kind: 'spike' });
      const hosts = record(reg, { kind: 'host' });
      const closed = record(reg, 'endpoints/');
      closed.close();
      closed.close();
      const child = startChild(s.spec, ['churn', 'hostX']);
      await child.ready;
      child.go();
      const revs = await child.done;
      await waitFor('all child events', () => all.events.length === 5);
      expect(all.events.map((e) => e.revision)).toEqual(revs);
      expect(all.events.map((e) => `${e.type} ${e.key}`)).toEqual([
        'put hosts/hostX',
        'put endpoints/hostX/vm1/eth0',
        'put endpoints/hostX/nic0/vf0',
        'delete endpoints/hostX/vm1/eth0',
        'delete hosts/hostX',
      ]);
      const put = all.events[1];
      expect(put?.type === 'put' ? put.endpoint : undefined).toEqual({ id: 'hostX/vm1/eth0', kind: 'spike', host: 'hostX', mac: '02:00:00:00:00:01', attributes: { vm: 'vm1' } });
      const del = all.events[3];
      expect(del?.type === 'delete' ? [del.cause, del.prev?.endpoint?.kind] : undefined).toEqual(['delete', 'spike']);
      expect(spikes.events.map((e) => `${e.type} ${e.key}`)).toEqual(['put endpoints/hostX/vm1/eth0', 'delete endpoints/hostX/vm1/eth0']);
      expect(hosts.events.map((e) => e.type)).toEqual(['put', 'delete']);
      expect(closed.events).toEqual([]);
      expect([...all.errors, ...spikes.errors, ...hosts.errors]).toEqual([]);
    });

    it('replays from a start revision (list, then watch without a gap)', async () => {
      const reg = await connect();
      const first = await reg.putHost(host('h1'));
      await reg.putHost(host('h2'));
      await reg.delete('hosts/h1');
      const now = record(reg, 'hosts/');
      const replay = record(reg, 'hosts/', { startRevision: first });
      await reg.putHost(host('h3'));
      await waitFor('replay', () => replay.events.length === 4 && now.events.length === 1);
      expect(replay.events.map((e) => `${e.type} ${e.key}`)).toEqual(['put hosts/h1', 'put hosts/h2', 'delete hosts/h1', 'put hosts/h3']);
      expect(replay.events[0]?.revision).toBe(first);
      expect(now.events.map((e) => e.key)).toEqual(['hosts/h3']);
    });

    it('lets two clients of one store in one process see each other’s writes', async () => {
      const a = await connect();
      const b = await connect();
      const seen = record(b, '');
      await a.putHost(host('hostA'));
      expect((await b.getHost('hostA'))?.name).toBe('hostA');
      const lease = await a.grantLease(60_000);
      await a.putEndpoint(endpoint('hostA/nic0/vf0'), lease);
      expect((await b.listEndpoints()).length).toBe(1);
      expect(await b.delete('endpoints/hostA/nic0/vf0')).toBe(true);
      expect(await a.getEndpoint('hostA/nic0/vf0')).toBeUndefined();
      // parallel writes from both clients
      await Promise.all([...Array(20).keys()].map((i) => (i % 2 === 0 ? a : b).putHost(host(`h${i}`))));
      expect((await a.listHosts()).length).toBe(21);
      await waitFor('b sees all', () => seen.events.length === 23);
      expect(isIncreasing(seen.events.map((e) => e.revision))).toBe(true);
    });

    it('never loses a write from concurrent writer processes; revisions are unique and increasing', async () => {
      const reg = await connect();
      const s = store as ContractStore;
      const rec = record(reg, 'endpoints/');
      const children = [startChild(s.spec, ['put-endpoints', 'hostP', '200', 'hostQ']), startChild(s.spec, ['put-endpoints', 'hostQ', '200', 'hostP'])];
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.go();
      const [p, q] = await Promise.all(children.map((c) => c.done));
      expect(p?.length).toBe(201);
      expect(q?.length).toBe(201);
      expect(isIncreasing(p ?? [])).toBe(true);
      expect(isIncreasing(q ?? [])).toBe(true);
      const all = [...(p ?? []), ...(q ?? [])];
      expect(new Set(all).size).toBe(402);
      // the writers really overlapped (each waited for the other's host before its 200 puts)
      const [pq, qq] = [p ?? [], q ?? []];
      expect(Math.min(...qq) < Math.max(...pq) && Math.min(...pq) < Math.max(...qq)).toBe(true);
      expect((await reg.listEndpoints()).length).toBe(400);
      expect((await reg.listEndpoints({ host: 'hostQ' })).length).toBe(200);
      await waitFor('400 watch events', () => rec.events.length === 400, 5000);
      const seen = rec.events.map((e) => e.revision);
      expect(isIncreasing(seen)).toBe(true);
      expect(seen).toEqual([...(p ?? []).slice(1), ...(q ?? []).slice(1)].sort((x, y) => x - y));
      expect(rec.errors).toEqual([]);
    });

    it('closes idempotently, closes its watches, and refuses use after close', async () => {
      const reg = await connect();
      const rec = record(reg, '');
      await reg.putHost(host('hostA'));
      await waitFor('one event', () => rec.events.length === 1);
      await Promise.all([reg.close(), reg.close()]);
      await reg.close();
      rec.close();
      await expectRegistryError(reg.putHost(host('hostB')), 'closed');
      await expectRegistryError(reg.listHosts(), 'closed');
      expect(() => reg.watch('', () => undefined)).toThrow(/closed/);
      const other = await connect();
      await other.putHost(host('hostC'));
      await sleep(300);
      expect(rec.events.length).toBe(1);
    });
  });
}
