// Hardware profiles: the built-in files load and say what the hardware does; bad files are
// rejected with the file and the field; detection reads a real veth's driver, MTU and queues.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectInterface } from '../hw-profiles/lib/detect.js';
import { loadProfileFile, loadProfiles, parseProfile } from '../hw-profiles/lib/load-profiles.js';
import { planPort, resolveProfile } from '../hw-profiles/lib/resolve-profile.js';
import { rdmaFacts } from '../hw-profiles/lib/rdma-facts.js';
import type { RdmaDevice } from '../dataplane/lib/index.js';
import { useTestBed } from './bed/vitest.js';
import { banana } from './support/banana-cli.js';

const VALID = `name: good
description: a test NIC
kind: ethernet
match: { drivers: [goodnic] }
lineRateGbps: 10
xdp: { native: true, generic: true }
afXdp: { zeroCopy: false }
queues: { max: 8 }
mtu: { max: 9000 }
rdma: null
dpdk: { pmd: null }
recommended: { mode: native, burst: 32, ringSize: 2048, umemFrames: 16384, busyPoll: false }
`;

describe('built-in hardware profiles', () => {
  const profiles = loadProfiles();

  it('has a profile for every NIC family the project targets', () => {
    expect([...profiles.keys()].sort()).toEqual(['i40e', 'ixgbe', 'mlx5', 'myri10ge', 'rxe', 'veth', 'virtio-net']);
  });

  it('states the facts that decide how a NIC is driven', () => {
    const p = (n: string) => profiles.get(n)!;
    expect(p('myri10ge')).toMatchObject({ xdp: { native: false }, afXdp: { zeroCopy: false }, dpdk: { pmd: null }, recommended: { mode: 'generic' } });
    expect(p('mlx5')).toMatchObject({ xdp: { native: true }, afXdp: { zeroCopy: true }, rdma: { transport: 'roce-v2' }, dpdk: { pmd: 'net_mlx5' } });
    expect(p('ixgbe')).toMatchObject({ xdp: { native: true }, afXdp: { zeroCopy: true }, dpdk: { pmd: 'net_ixgbe' }, lineRateGbps: 10 });
    expect(p('i40e')).toMatchObject({ xdp: { native: true }, afXdp: { zeroCopy: true }, dpdk: { pmd: 'net_i40e' } });
    expect(p('rxe')).toMatchObject({ kind: 'rdma', rdma: { transport: 'roce-v2' }, match: { drivers: ['rdma_rxe'] } });
    expect(p('veth')).toMatchObject({ afXdp: { zeroCopy: false }, xdp: { native: true, nativeMaxMtu: 3506 }, match: { drivers: ['veth'] } });
    expect(p('virtio-net').match.drivers).toEqual(['virtio_net']);
  });
});

describe('rdma device facts next to the profile', () => {
  const profiles = loadProfiles();
  // As rdmaDevices() reports Soft-RoCE in the rdma-vm guest (the device itself is tested there:
  // controller-rdma shows these facts in GET /v1/host).
  const rxe0: RdmaDevice = {
    name: 'rxe0', nodeGuid: '0000:0000:0000:0000', maxQpWr: 1048576, maxSge: 32, maxCqe: 32767, maxInline: 64,
    ports: [{ num: 1, active: true, activeMtu: 1024, linkLayer: 'ethernet', gids: [{ index: 0, gid: 'fe80::1', type: 'RoCEv2' }, { index: 1, gid: '::ffff:10.0.0.1', type: 'RoCEv2' }] }],
  };

  it('reports transport, MTU and limits, and no mismatch when device and profile agree', () => {
    expect(rdmaFacts(rxe0, profiles.get('rxe'))).toEqual({
      device: 'rxe0', profile: 'rxe', port: 1, active: true, transport: 'roce-v2', activeMtu: 1024, maxInline: 64, maxQpWr: 1048576, gids: 2, mismatches: [],
    });
  });

  it('names every disagreement between what the device runs and what its profile promises', () => {
    const ib: RdmaDevice = { ...rxe0, ports: [{ ...rxe0.ports[0]!, linkLayer: 'infiniband', activeMtu: 8192 }] };
    expect(rdmaFacts(ib, profiles.get('rxe')).mismatches).toEqual([
      'profile rxe says roce-v2, rxe0 port 1 runs ib',
      "rxe0 port 1 is at MTU 8192, above profile rxe's maximum 4096",
    ]);
    expect(rdmaFacts(rxe0, profiles.get('veth')).mismatches).toEqual(['profile veth describes no RDMA, but rxe0 is an RDMA device']);
    expect(rdmaFacts(rxe0, undefined, 2)).toMatchObject({ profile: null, active: false, mismatches: ['rxe0 has no port 2'] });
  });
});

describe('profile validation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'banana-profiles-'));
  const file = (name: string, text: string) => {
    const f = join(dir, `${name}.yaml`);
    writeFileSync(f, text);
    return f;
  };

  it('accepts a valid file', () => {
    expect(parseProfile('good.yaml', VALID).name).toBe('good');
  });

  it.each([
    ['an unknown key', VALID.replace('lineRateGbps: 10', 'lineRateGbps: 10\nlinerate: 10'), /good\.yaml: \(root\)\.linerate: /],
    ['a bad XDP mode', VALID.replace('mode: native', 'mode: turbo'), /good\.yaml: recommended\.mode: /],
    ['a ring size that is not a power of two', VALID.replace('ringSize: 2048', 'ringSize: 1000'), /good\.yaml: recommended\.ringSize: must be a power of two/],
    ['native mode without native XDP', VALID.replace('native: true, generic', 'native: false, generic'), /good\.yaml: recommended\.mode: is native but xdp\.native is false/],
    ['a missing field', VALID.replace('queues: { max: 8 }\n', ''), /good\.yaml: queues: /],
    ['a name that is not the file name', VALID.replace('name: good', 'name: other'), /good\.yaml: name: must match the file name \(good\), got other/],
    ['YAML that does not parse', 'name: [good', /good\.yaml: \(yaml\): /],
  ])('rejects %s with the file and the field', (_what, text, re) => {
    expect(() => loadProfileFile(file('good', text))).toThrow(re);
  });

  it('rejects two profiles claiming one driver', () => {
    const d = mkdtempSync(join(tmpdir(), 'banana-profiles-'));
    writeFileSync(join(d, 'good.yaml'), VALID);
    writeFileSync(join(d, 'twin.yaml'), VALID.replace('name: good', 'name: twin'));
    expect(() => loadProfiles(d)).toThrow(/twin\.yaml: match\.drivers\[0\]: driver goodnic is already matched by profile good/);
  });
});

describe('detection on a real veth', () => {
  const bed = useTestBed();
  const profiles = loadProfiles();

  it('reads driver, MTU and queues from the kernel and plans the port from the profile', async () => {
    const ns = await bed().createNetns('detect');
    await bed().createVeth({ ns, name: 'nic0', mtu: 1500 }, { ns, name: 'peer0' });
    const d = await detectInterface(ns.name, 'nic0');
    expect(d).toMatchObject({ driver: 'veth', mtu: 1500, rdma: [] });
    expect(d.rxQueues).toBeGreaterThanOrEqual(1);
    const r = resolveProfile(d, profiles);
    expect(r).toMatchObject({ source: 'driver', profile: { name: 'veth' } });
    const plan = planPort(d, r.profile);
    expect(plan).toMatchObject({ mode: 'native', zeroCopy: 'off' });
    expect(plan.reasons.join('\n')).toContain('zero-copy: off (veth has none)');

    // Above the native XDP limit veth refuses, the plan switches to generic and says why.
    await ns.exec(['ip', 'link', 'set', 'nic0', 'mtu', '9000']);
    const big = planPort(await detectInterface(ns.name, 'nic0'), r.profile);
    expect(big.mode).toBe('generic');
    expect(big.reasons[0]).toBe('mode generic: MTU 9000 > 3506, the largest veth accepts native XDP at');

    expect(resolveProfile(d, profiles, 'virtio-net')).toMatchObject({ source: 'override', profile: { name: 'virtio-net' } });
    expect(() => resolveProfile(d, profiles, 'nope')).toThrow(/profile: no profile named nope/);
    await ns.exec(['ip', 'link', 'add', 'br9', 'type', 'bridge']);
    expect(() => resolveProfile({ ...d, ifname: 'br9', driver: 'bridge' }, profiles)).toThrow(/br9: driver: no profile matches driver bridge/);
    await expect(detectInterface(ns.name, 'ghost0')).rejects.toThrow(/no such interface \[netns=.*ifname=ghost0\]/);
  });

  it('is what `banana profile detect` prints, and `profile validate` names a bad file', async () => {
    const ns = await bed().createNetns('detect2');
    await bed().createVeth({ ns, name: 'nic1' }, { ns, name: 'peer1' });
    const run = banana;
    const detect = await run(['profile', 'detect', 'nic1', '--netns', ns.name]);
    expect(detect.out).toContain('nic1: driver veth, mtu 1500');
    expect(detect.out).toContain('profile: veth (matched driver veth)');
    const bad = join(mkdtempSync(join(tmpdir(), 'banana-profiles-')), 'good.yaml');
    writeFileSync(bad, VALID.replace('burst: 32', 'burst: 48'));
    const v = await run(['profile', 'validate', bad]);
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/good\.yaml: recommended\.burst: /);
    const ls = await run(['profile', 'ls']);
    expect(ls.out).toMatch(/myri10ge\s+ethernet\s+myri10ge\s+10\s+no\s+no\s+-\s+-/);
  });
});
