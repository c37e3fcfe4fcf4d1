/** The wire's own round trip, engine to engine: echoes sent one at a time on the wire's current
 * path by a worker, turned around by the peer engine's worker in its poll loop, timed by the
 * worker that gets them back (no JavaScript and no VM on the way). The peer must be a Banana
 * engine of this version: an older one counts echoes as malformed. */
import { SettingsError, WireTimeoutError } from './errors.js';

export interface NativeWireProbe {
  left: number;
  lost: number;
  rttNs: number[];
}

/** What a wire's engine offers for probing. */
export interface ProbeOwner {
  probeWire(wireId: number, count: number, bytes: number): void;
  wireProbe(wireId: number): NativeWireProbe;
}

export interface WireProbeSettings {
  /** Echoes, 1..4096. Default 1000. */
  count?: number;
  /** Each echo as large as an inner frame of this many bytes (0..the wire's largest frame). Default 64. */
  bytes?: number;
  /** Give up on echoes not back by then (they count as lost). Default 30 000. */
  timeoutMs?: number;
}

export interface WireRtt {
  sent: number;
  /** Round trips in nanoseconds, in the order measured. */
  rttNs: number[];
  /** Echoes that never came back (a timed-out echo is followed by the next). */
  lost: number;
}

const POLL_MS = 5;

export async function probeWireRtt(owner: ProbeOwner, portId: number, s: WireProbeSettings = {}): Promise<WireRtt> {
  const count = s.count ?? 1000;
  const bytes = s.bytes ?? 64;
  const timeoutMs = s.timeoutMs ?? 30_000;
  if (!Number.isInteger(count) || count < 1 || count > 4096) throw new SettingsError(`probe count ${count}: expected an integer 1-4096`);
  if (!Number.isInteger(bytes) || bytes < 0) throw new SettingsError(`probe bytes ${bytes}: expected an integer >= 0`);
  owner.probeWire(portId, count, bytes);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const r = owner.wireProbe(portId);
      if (r.rttNs.length + r.lost >= count) return { sent: count, rttNs: r.rttNs, lost: count - r.rttNs.length };
      if (Date.now() > deadline) {
        if (r.rttNs.length === 0) throw new WireTimeoutError(`wire probe: no echo came back within ${timeoutMs} ms (is the peer a Banana engine, and the wire up?)`);
        const sent = Math.max(r.rttNs.length, count - r.left);
        return { sent, rttNs: r.rttNs, lost: sent - r.rttNs.length };
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    owner.probeWire(portId, 0, 0); // stop: the workers send nothing more for this run
  }
}
