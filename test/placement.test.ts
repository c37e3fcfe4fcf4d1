// Placement-aware wire choice: a table of proximity classes, capabilities and policies, with the
// chosen wire and the reason for every rejected candidate; the same answer from either peer.
import { describe, expect, it } from 'vitest';
import type { EndCapabilities } from '../controller/placement/capabilities.js';
import { capabilitiesFromAttributes, capabilitiesToAttributes } from '../controller/placement/capabilities.js';
import { chooseWire, explainLines, withRejected } from '../controller/placement/choose-wire.js';
import { proximity } from '../controller/placement/proximity.js';

const end = (host: string, labels: Record<string, string>, over: Partial<EndCapabilities> = {}): EndCapabilities => ({
  host, labels, wires: ['local', 'udp'], underlayMtu: 9000, rdma: null, policy: {}, ...over,
});
const R1 = { site: 's1', cluster: 'c1', rack: 'r1' };
const R2 = { site: 's1', cluster: 'c1', rack: 'r2' };
const C2 = { site: 's1', cluster: 'c2', rack: 'r9' };
const S2 = { site: 's2', cluster: 'c7', rack: 'r1' };
const RDMA: Partial<EndCapabilities> = { rdma: 'rxe0 (roce-v2)', wires: ['local', 'udp', 'rdma'] };

describe('proximity', () => {
  it.each([
    ['same host', end('a', R1), end('a', R2), 'same-host'],
    ['same rack', end('a', R1), end('b', R1), 'same-rack'],
    ['same cluster', end('a', R1), end('b', R2), 'same-cluster'],
    ['same site', end('a', R1), end('b', C2), 'same-site'],
    ['different site', end('a', R1), end('b', S2), 'remote'],
    ['no labels at all', end('a', {}), end('b', {}), 'remote'],
    ['rack name reused in another site', end('a', R1), end('b', { ...S2, rack: 'r1' }), 'remote'],
  ] as const)('%s', (_name, a, b, want) => {
    expect(proximity(a, b)).toBe(want);
    expect(proximity(b, a)).toBe(want);
  });
});

describe('wire choice matrix', () => {
  type Row = [string, EndCapabilities, EndCapabilities, number, string | null, Record<string, RegExp>];
  const rows: Row[] = [
    ['same host: local', end('a', R1), end('a', R1), 1500, 'local', {
      udp: /^udp: both ends are on a/, rdma: /^rdma: both ends are on a/, tunnel: /^tunnel: both ends are on a/,
    }],
    ['same rack: udp', end('a', R1), end('b', R1), 1500, 'udp', {
      local: /^local: not on the same host \(a and b\)$/, tunnel: /^tunnel: not built in this version$/, rdma: /^rdma: a has no RDMA device$/,
    }],
    ['different site: udp', end('a', R1), end('b', S2), 1500, 'udp', { local: /not on the same host/ }],
    ['inner MTU too big for the underlay', end('a', R1), end('b', R2, { underlayMtu: 1500 }), 9000, null, {
      udp: /^udp: inner MTU 9000 > underlay 1500 - 58$/, local: /not on the same host/,
    }],
    ['policy forbids udp on the Corm side', end('a', R1), end('b', R1, { policy: { forbid: ['udp'] } }), 1500, null, {
      udp: /^udp: forbidden by b's policy$/,
    }],
    ['policy pins local across hosts', end('a', R1, { policy: { pin: 'local' } }), end('b', R1), 1500, null, {
      udp: /^udp: a's policy pins local$/, local: /^local: not on the same host/,
    }],
    ['peer does not run udp', end('a', R1), end('b', R1, { wires: ['local'] }), 1500, null, { udp: /^udp: b does not run udp wires$/ }],
    ['rdma device on both, but one end does not run rdma wires', end('a', R1, { rdma: 'rxe0' }), end('b', R1, { rdma: 'rxe0', wires: ['local', 'udp', 'rdma'] }), 1500, 'udp', {
      rdma: /^rdma: a does not run rdma wires$/,
    }],
    ['rdma on both ends: rdma', end('a', R1, RDMA), end('b', R2, RDMA), 1500, 'rdma', { local: /not on the same host/ }],
    ['inner MTU beyond an rdma message: udp on a jumbo underlay', end('a', R1, RDMA), end('b', R1, RDMA), 4000, 'udp', {
      rdma: /^rdma: inner MTU 4000 > 3810 \(a 4096-byte frame less headroom and headers\)$/,
    }],
    ['policy forbids rdma', end('a', R1, RDMA), end('b', R1, { ...RDMA, policy: { forbid: ['rdma'] } }), 1500, 'udp', { rdma: /^rdma: forbidden by b's policy$/ }],
  ];

  it.each(rows)('%s', (_name, spike, corm, mtu, chosen, reasons) => {
    const x = chooseWire(spike, corm, mtu);
    expect(x.chosen).toBe(chosen);
    for (const [type, re] of Object.entries(reasons)) expect(x.candidates.find((c) => c.type === type)?.reason).toMatch(re);
    // Exactly the chosen one is scored-and-lowest; every other candidate is either rejected or scores higher.
    for (const c of x.candidates) expect(c.score !== undefined || c.reason !== undefined).toBe(true);
    // Symmetric: the Corm's host computes the same explanation with the roles swapped.
    expect(chooseWire(corm, spike, mtu)).toEqual(x);
  });

  it('scores grow with distance and the explanation reads as one line per candidate', () => {
    const near = chooseWire(end('a', R1), end('b', R1), 1500).candidates.find((c) => c.type === 'udp')!.score!;
    const far = chooseWire(end('a', R1), end('b', S2), 1500).candidates.find((c) => c.type === 'udp')!.score!;
    expect(far).toBeGreaterThan(near);
    const lines = explainLines(chooseWire(end('a', R1), end('b', R1), 1500));
    expect(lines[0]).toBe('a <-> b: same-rack; chosen: udp');
    expect(lines.find((l) => l.includes('* udp'))).toMatch(/score [\d.]+ \(latency 17 us, 10 Gbit\/s, cpu 1\)/);
    expect(lines).toContain('    local  rejected: local: not on the same host (a and b)');
  });

  it('a host-local fact (a failed queue pair) rejects rdma and the choice falls back to udp', () => {
    const x = chooseWire(end('a', R1, RDMA), end('b', R1, RDMA), 1500);
    expect(x.chosen).toBe('rdma');
    const held = withRejected(x, 'rdma', 'rdma: a queue pair to b failed');
    expect(held.chosen).toBe('udp');
    expect(held.candidates.find((c) => c.type === 'rdma')).toEqual({ type: 'rdma', reason: 'rdma: a queue pair to b failed' });
    expect(x.chosen).toBe('rdma'); // the original is left as it was
  });

  it('carries capabilities through registry attributes unchanged', () => {
    const c = end('b', R1, { rdma: 'rxe0 (roce-v2)', policy: { pin: 'udp', forbid: ['tunnel'] } });
    expect(capabilitiesFromAttributes('b', R1, capabilitiesToAttributes(c))).toEqual(c);
  });
});
