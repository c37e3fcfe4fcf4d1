// bananad's host configuration and the controller's desired-state planning (pure parts).
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../controller/config/config-error.js';
import { parseHostConfig } from '../controller/config/host-config.js';
import { plan, type HostState } from '../controller/model/plan.js';

const base = {
  host: 'hostA',
  underlay: { ifname: 'uA' },
  corms: [{ name: 'nic0', ifname: 'nic0' }],
  registry: { type: 'embedded', dir: '/dev/shm/x' },
  listen: '127.0.0.1:7400',
  secret: 'sixteen-chars-or-more',
};

describe('bananad host config', () => {
  it('accepts a valid config and fills the defaults', () => {
    const c = parseHostConfig('h.json', base);
    expect(c.underlay.udpPort).toBe(7471);
    // Unset Corm fields come from the NIC's hardware profile at start.
    expect(c.corms[0]).toEqual({ name: 'nic0', ifname: 'nic0' });
    expect(c.policy).toEqual({});
    expect(c.engine.idle).toEqual({ policy: 'backoff', spinLoops: 2000, maxSleepUs: 200 });
    expect(c.secret).toBe('sixteen-chars-or-more');
  });

  it('names the file and the field of a bad value', () => {
    expect(() => parseHostConfig('h.json', { ...base, corms: [{ name: 'nic0', ifname: 'nic0', mode: 'fast' }] })).toThrow(
      expect.objectContaining({ file: 'h.json', field: 'corms[0].mode' }),
    );
    expect(() => parseHostConfig('h.json', { ...base, listen: 'nowhere' })).toThrow(/h\.json: listen: must be host:port/);
    expect(() => parseHostConfig('h.json', { ...base, host: 'a/b' })).toThrow(/h\.json: host:/);
    expect(() => parseHostConfig('h.json', { ...base, secret: 'short' })).toThrow(/h\.json: secret:/);
    expect(() => parseHostConfig('h.json', { ...base, lables: {} })).toThrow(/h\.json: \(root\): .*lables/);
    expect(() => parseHostConfig('h.json', { ...base, policy: { forbid: ['carrier-pigeon'] } })).toThrow(/h\.json: policy\.forbid\[0\]:/);
    expect(() => parseHostConfig('h.json', { ...base, corms: [{ name: 'n', ifname: 'much-too-long-name' }] })).toThrow(/corms\[0\]\.ifname/);
    expect(() => parseHostConfig('h.json', { ...base, corms: [{ name: 'n', ifname: 'a' }, { name: 'n', ifname: 'b' }] })).toThrow(
      new ConfigError('h.json', 'corms[1].name', 'duplicate Corm name n'),
    );
  });

  it('takes an etcd registry, and names a bad endpoint', () => {
    const c = parseHostConfig('h.json', { ...base, registry: { type: 'etcd', endpoints: ['http://10.0.0.1:2379'] } });
    expect(c.registry).toEqual({ type: 'etcd', endpoints: ['http://10.0.0.1:2379'], cluster: 'default' });
    expect(() => parseHostConfig('h.json', { ...base, registry: { type: 'etcd', endpoints: ['not a url'] } })).toThrow(/h\.json: registry\.endpoints\[0\]:/);
    expect(() => parseHostConfig('h.json', { ...base, registry: { type: 'zookeeper' } })).toThrow(/h\.json: registry/);
  });

  it('reads the secret from a file', () => {
    const f = '/dev/shm/banana-test-secret';
    writeFileSync(f, 'from-a-file-0123456789\n');
    const noSecret: Record<string, unknown> = { ...base };
    delete noSecret.secret;
    expect(parseHostConfig('h.json', { ...noSecret, secretFile: f }).secret).toBe('from-a-file-0123456789');
    expect(() => parseHostConfig('h.json', { ...noSecret })).toThrow(/exactly one of secret and secretFile/);
  });
});

describe('desired-state planning', () => {
  const spike = { name: 'vm1', ifname: 'tap-vm1', netns: '', mac: '02:00:00:00:00:01' };
  const empty: HostState = { spikes: new Map(), cormEnds: new Map() };
  const state = (connect?: { corm: string; type: 'udp' | 'local' }): HostState => ({
    spikes: new Map([['vm1', connect ? { spec: spike, connect } : { spec: spike }]]),
    cormEnds: new Map(),
  });

  it('does nothing when desired equals actual', () => {
    expect(plan(state({ corm: 'hostA/nic0', type: 'udp' }), state({ corm: 'hostA/nic0', type: 'udp' }))).toEqual([]);
  });

  it('creates and connects, disconnects and removes, in order', () => {
    expect(plan(state({ corm: 'hostA/nic0', type: 'udp' }), empty).map((a) => a.op)).toEqual(['add-spike', 'connect']);
    expect(plan(empty, state({ corm: 'hostA/nic0', type: 'udp' })).map((a) => a.op)).toEqual(['disconnect', 'remove-spike']);
  });

  it('rewires only the wire when the Corm changes, and rebuilds the Spike when its interface changes', () => {
    expect(plan(state({ corm: 'hostC/nic0', type: 'udp' }), state({ corm: 'hostA/nic0', type: 'udp' })).map((a) => a.op)).toEqual(['rewire']);
    const moved: HostState = { spikes: new Map([['vm1', { spec: { ...spike, ifname: 'tap2' } }]]), cormEnds: new Map() };
    expect(plan(moved, state({ corm: 'hostA/nic0', type: 'udp' })).map((a) => a.op)).toEqual(['disconnect', 'remove-spike', 'add-spike']);
  });

  it('adds and removes Corm ends by wire id', () => {
    const end = { wireId: 7, corm: 'nic0', spike: 'hostB/vm1', spikeMac: spike.mac, peerHost: 'hostB', peer: { ip: '10.0.0.2', mtu: 1500, udpPort: 7471 } };
    const withEnd: HostState = { spikes: new Map(), cormEnds: new Map([[7, end]]) };
    expect(plan(withEnd, empty)).toEqual([{ op: 'add-corm-end', spec: end }]);
    expect(plan(empty, withEnd)).toEqual([{ op: 'remove-corm-end', wireId: 7 }]);
  });
});
