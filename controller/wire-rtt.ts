/** `POST /v1/wires/:id/rtt`: a wire end's own round trip to its peer engine, by echoes the
 * engines turn around in their poll loops (see dataplane/lib/wire-probe.ts). */
import type { UdpWire, WireRtt } from '../dataplane/lib/index.js';
import { BananaError, SettingsError, WireBusyError, WireTimeoutError } from '../dataplane/lib/index.js';
import { ControllerError } from './controller-error.js';
import type { WireRttView } from './model/views.js';
import type { WireEnd } from '../wires/wire.js';

/** Echoes not back by then count as lost. */
const PROBE_TIMEOUT_MS = 10_000;

/** Nearest rank, in microseconds. */
function percentileUs(sortedNs: readonly number[], p: number): number {
  if (sortedNs.length === 0) return 0;
  const i = Math.min(sortedNs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedNs.length) - 1));
  return Math.round(sortedNs[i]! / 10) / 100;
}

export function rttView(end: WireEnd, bytes: number, r: WireRtt): WireRttView {
  const sorted = [...r.rttNs].sort((a, b) => a - b);
  return {
    id: end.wireId, type: end.type, bytes, sent: r.sent, received: r.rttNs.length, lost: r.lost,
    p50Us: percentileUs(sorted, 50), p90Us: percentileUs(sorted, 90), p99Us: percentileUs(sorted, 99),
    p999Us: percentileUs(sorted, 99.9), maxUs: percentileUs(sorted, 100),
  };
}

export async function measureWireEnd(end: WireEnd, count: number, bytes: number): Promise<WireRttView> {
  const ctx = { wireId: end.wireId };
  if (end.type === 'local') throw new ControllerError('conflict', `wire ${end.wireId} is local: both ends are ports of one engine, there is no round trip between engines to measure`, ctx);
  const state = end.state();
  if (state !== 'up') throw new ControllerError('conflict', `wire ${end.wireId} is ${state}: its round trip is measured on a wire that is up`, ctx);
  const wire = end as UdpWire;
  try {
    return rttView(end, bytes, await wire.measureRtt({ count, bytes, timeoutMs: PROBE_TIMEOUT_MS }));
  } catch (e) {
    if (e instanceof WireBusyError) throw new ControllerError('conflict', e.message, ctx);
    if (e instanceof WireTimeoutError) throw new ControllerError('peer-failed', `wire ${end.wireId}: ${e.message}`, ctx);
    // The engine bounds the size by the wire's largest frame and by what fits a pool frame.
    if (e instanceof SettingsError || (e instanceof BananaError && e.code === 'EMSGSIZE')) throw new ControllerError('bad-request', `wire ${end.wireId}: ${e.message}`, ctx);
    if (e instanceof BananaError) throw new ControllerError('dataplane-failed', `wire ${end.wireId}: ${e.message}`, ctx);
    throw e;
  }
}
