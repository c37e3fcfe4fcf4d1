// End-to-end test of bench/traffic (banana-traffic + its TypeScript wrapper)
// over a veth pair between two private network namespaces. Needs root + gcc.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  TrafficToolError,
  rtt,
  send,
  startReceiver,
  startReflector,
  type Receiver,
  type Reflector,
} from '../bench/traffic/traffic.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(repoRoot, 'bench', 'traffic');
const isRoot = process.getuid?.() === 0;

const tag = `${process.pid.toString(36)}${Math.floor(Math.random() * 0xfff).toString(36)}`.slice(-6);
const nsA = `trt-${tag}-a`;
const nsB = `trt-${tag}-b`;
const ifA = `tva${tag}`;
const ifB = `tvb${tag}`;
const macA = '02:54:52:00:00:0a';
const macB = '02:54:52:00:00:0b';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

describe.skipIf(!isRoot)('banana-traffic over a veth pair', () => {
  let binDir = '';
  const running: Array<Receiver | Reflector> = [];

  beforeAll(() => {
    binDir = mkdtempSync(join(tmpdir(), 'banana-traffic-'));
    const bin = join(binDir, 'banana-traffic');
    const sources = readdirSync(srcDir)
      .filter((f) => f.endsWith('.c'))
      .map((f) => join(srcDir, f));
    execFileSync('gcc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, ...sources], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    process.env.BANANA_TRAFFIC_BIN = bin;

    ip('netns', 'add', nsA);
    ip('netns', 'add', nsB);
    ip('link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', ifB, 'netns', nsB);
    ip('-n', nsA, 'link', 'set', ifA, 'address', macA, 'up');
    ip('-n', nsB, 'link', 'set', ifB, 'address', macB, 'up');
  });

  afterAll(() => {
    for (const p of running) p.kill();
    for (const ns of [nsA, nsB]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created (setup failed early) or already gone
      }
    }
    if (binDir) rmSync(binDir, { recursive: true, force: true });
    delete process.env.BANANA_TRAFFIC_BIN;
  });

  const tx = { netns: nsA, ifname: ifA, srcMac: macA, dstMac: macB };

  it('delivers every frame: received == sent, nothing lost', async () => {
    const rx = await startReceiver({ netns: nsB, ifname: ifB, expect: 20_000, idleMs: 3000 });
    running.push(rx);
    const s = await send({ ...tx, count: 20_000, rate: 100_000, size: 128 });
    const r = await rx.done();
    expect(s.sent).toBe(20_000);
    expect(r.received).toBe(s.sent);
    expect(r.unique).toBe(s.sent);
    expect(r.lost).toBe(0);
    expect(r.duplicated).toBe(0);
    expect(r.reordered).toBe(0);
    expect(r.firstSeq).toBe(0);
    expect(r.lastSeq).toBe(19_999);
    expect(r.latencyNs.p50).toBeGreaterThan(0);
    expect(r.latencyNs.max).toBeGreaterThanOrEqual(r.latencyNs.p99);
  });

  it('counts duplicates and reordering from overlapping sequence ranges', async () => {
    const rx = await startReceiver({ netns: nsB, ifname: ifB, flow: 7, idleMs: 0 });
    running.push(rx);
    await send({ ...tx, flow: 7, count: 1000, startSeq: 1000 }); // 1000..1999
    await send({ ...tx, flow: 7, count: 1000, startSeq: 1500 }); // 1500..2499: 500 dups
    await send({ ...tx, flow: 7, count: 500, startSeq: 0 }); //     0..499: reordered
    await send({ ...tx, flow: 8, count: 100 }); //                 other flow: foreign
    const r = await rx.stop();
    expect(r.received).toBe(2500);
    expect(r.unique).toBe(2000);
    expect(r.duplicated).toBe(500);
    expect(r.reordered).toBe(500);
    expect(r.foreign).toBeGreaterThanOrEqual(100);
    expect(r.firstSeq).toBe(0);
    expect(r.lastSeq).toBe(2499);
    expect(r.lost).toBe(500); // 500..999 never sent
  });

  it('measures round trips through a reflector', async () => {
    const refl = await startReflector({ netns: nsB, ifname: ifB });
    running.push(refl);
    const r = await rtt({ ...tx, count: 200, warmup: 5 });
    const f = await refl.stop();
    expect(r.sent).toBe(200);
    expect(r.received).toBe(200);
    expect(r.lost).toBe(0);
    expect(r.rttNs.min).toBeGreaterThan(0);
    expect(r.rttNs.p50).toBeGreaterThanOrEqual(r.rttNs.min);
    // The histogram: non-empty bins, ascending, counting every received probe once.
    expect(r.hist.length).toBeGreaterThan(0);
    expect(r.hist.reduce((sum, [, count]) => sum + count, 0)).toBe(r.received);
    expect(r.hist.every(([upper, count], i) => count > 0 && (i === 0 || upper > r.hist[i - 1]![0]))).toBe(true);
    expect(r.hist[r.hist.length - 1]![0]).toBeGreaterThanOrEqual(r.rttNs.max);
    expect(f.reflected).toBe(205);
  });

  it('xdp-live backend: per-frame stamped, nothing lost', async () => {
    // veth only accepts ndo_xdp_xmit frames when the peer runs NAPI (GRO on).
    execFileSync('ip', ['netns', 'exec', nsB, 'ethtool', '-K', ifB, 'gro', 'on'], { stdio: 'ignore' });
    const rx = await startReceiver({ netns: nsB, ifname: ifB, flow: 3, expect: 50_000, idleMs: 3000 });
    running.push(rx);
    const s = await send({ ...tx, backend: 'xdp-live', flow: 3, count: 50_000, startSeq: 10 });
    const r = await rx.done();
    expect(s.sent).toBe(50_000);
    expect(r.unique).toBe(50_000);
    expect(r.lost).toBe(0);
    expect(r.duplicated).toBe(0);
    expect(r.firstSeq).toBe(10);
    expect(r.lastSeq).toBe(50_009);
  });

  it('reports tool failures as TrafficToolError', async () => {
    const missing = await send({ ...tx, ifname: 'nosuchif0', count: 1 }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TrafficToolError);
    const m = missing as TrafficToolError;
    expect(m.exitCode).toBe(1);
    expect(m.subcommand).toBe('send');
    expect(m.stderr).toContain('nosuchif0');
    expect(m.stderr).toContain(nsA);

    const bad = await send({ ...tx, count: 1, size: 10 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(TrafficToolError);
    expect((bad as TrafficToolError).exitCode).toBe(2);
    expect((bad as TrafficToolError).stderr).toContain('--size');

    await expect(startReceiver({ netns: nsB, ifname: 'nosuchif0' })).rejects.toBeInstanceOf(TrafficToolError);
  });
});
