/** The make-before-break protocol of a `udp` wire hot-swap, over its two ends. Each end is
 * driven through SwapEnd, so the same steps run with both ends in one process (tests, bench)
 * or with the far end behind its controller's API.
 *
 *   prepare both -> verify (each end heard the other on the new path) -> cut over both
 *   -> settle (each end received the other's drain markers) -> finish both
 *
 * A failure before cutover abandons the new path on both ends and leaves the old wire as it
 * was. After cutover there is no way back: a missing marker only delays delivery of the held
 * frames (the engine delivers them after its marker timeout) and is reported. */
import type { UdpWire, WirePathSettings, WireSwapInfo } from '../../dataplane/lib/index.js';

/** One end of the wire, as the protocol needs it. */
export interface SwapEnd {
  readonly name: string;
  prepare(): Promise<void>;
  cutover(): Promise<void>;
  finish(): Promise<void>;
  info(): Promise<Pick<WireSwapInfo, 'phase' | 'held' | 'settled'> & { otherHeard: boolean }>;
}

export interface HotSwapTimeouts {
  /** How long the new path may take to carry a keepalive each way. Default 2000 ms. */
  verifyMs?: number;
  /** How long the ends may take to receive each other's drain markers. Default 1000 ms. */
  settleMs?: number;
}

export interface HotSwapReport {
  verifyMs: number;
  settleMs: number;
  /** False if an end finished without the other's drain markers (its held frames were
   * delivered on the engine's timeout, possibly after later ones). */
  settled: boolean;
}

export class HotSwapError extends Error {
  constructor(
    message: string,
    readonly step: 'prepare' | 'verify' | 'cutover',
    readonly end: string,
  ) {
    super(message);
    this.name = 'HotSwapError';
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await pause(1);
  }
}

async function abandon(ends: SwapEnd[]): Promise<void> {
  await Promise.allSettled(ends.map((e) => e.finish()));
}

export async function runHotSwap(a: SwapEnd, b: SwapEnd, t: HotSwapTimeouts = {}): Promise<HotSwapReport> {
  const prepared: SwapEnd[] = [];
  for (const end of [a, b]) {
    try {
      await end.prepare();
      prepared.push(end);
    } catch (e) {
      await abandon(prepared);
      throw new HotSwapError(`${end.name}: ${(e as Error).message}`, 'prepare', end.name);
    }
  }
  const t0 = performance.now();
  const heard = await waitFor(async () => (await a.info()).otherHeard && (await b.info()).otherHeard, t.verifyMs ?? 2000);
  if (!heard) {
    await abandon([a, b]);
    const silent = (await a.info()).otherHeard ? b.name : a.name;
    throw new HotSwapError(`the new path was not verified: ${silent} heard nothing on it within ${t.verifyMs ?? 2000} ms`, 'verify', silent);
  }
  const verifyMs = performance.now() - t0;
  try {
    await a.cutover();
  } catch (e) {
    await abandon([a, b]);
    throw new HotSwapError(`${a.name}: ${(e as Error).message}`, 'cutover', a.name);
  }
  // From here on a has moved: b must follow, whatever it takes.
  await b.cutover();
  const t1 = performance.now();
  const settled = await waitFor(async () => (await a.info()).settled && (await b.info()).settled, t.settleMs ?? 1000);
  const settleMs = performance.now() - t1;
  await a.finish();
  await b.finish();
  return { verifyMs, settleMs, settled };
}

/** An end in this process: a UdpWire and the path it swaps to. */
export function localSwapEnd(name: string, wire: UdpWire, path: WirePathSettings): SwapEnd {
  let since = 0n;
  return {
    name,
    prepare: async () => {
      since = process.hrtime.bigint();
      wire.prepareSwap(path);
    },
    cutover: async () => wire.cutover(),
    finish: async () => wire.finishSwap(),
    info: async () => {
      const i = wire.swapInfo();
      return { phase: i.phase, held: i.held, settled: i.settled, otherHeard: i.otherHeardSince(since) };
    },
  };
}
