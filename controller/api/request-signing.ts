/** Every controller API request is signed with the cluster's shared secret: HMAC-SHA256 over
 * the caller, the controller it is meant for (its address), the method, path, a timestamp, a
 * one-time nonce and the body's digest, so a captured request cannot be replayed to another
 * controller, nor to this one after a restart (nothing signed before it started counts). The receiver refuses
 * a missing or wrong signature, a timestamp outside the window and a nonce it has seen (a
 * replay), each with its own reason. (The cluster-grade issue moves peers to mutual TLS.) */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADERS = {
  host: 'x-banana-host',
  time: 'x-banana-time',
  nonce: 'x-banana-nonce',
  signature: 'x-banana-signature',
} as const;

/** How far a request's clock may be from ours; also how long nonces are remembered. */
export const SIGNATURE_WINDOW_MS = 30_000;

export type AuthRefusal = 'unsigned' | 'bad-signature' | 'stale' | 'replayed' | 'malformed' | 'identity-mismatch';

function mac(secret: string, host: string, target: string, method: string, path: string, time: string, nonce: string, body: string): string {
  const digest = createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', secret).update(`${host}\n${target}\n${method.toUpperCase()}\n${path}\n${time}\n${nonce}\n${digest}`).digest('hex');
}

/** Headers for one request from `host` (the caller's name, or 'cli') to the controller at
 * `target` (the host:port it listens on, as the registry and configs name it). */
export function signRequest(secret: string, host: string, target: string, method: string, path: string, body: string, now = Date.now()): Record<string, string> {
  const time = String(now);
  const nonce = randomBytes(16).toString('hex');
  return {
    [SIGNATURE_HEADERS.host]: host,
    [SIGNATURE_HEADERS.time]: time,
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: mac(secret, host, target, method, path, time, nonce, body),
  };
}

export type Verdict = { ok: true; host: string } | { ok: false; reason: AuthRefusal; detail: string };

/** Checks signatures and remembers nonces for the window. */
export class RequestVerifier {
  private readonly seen = new Map<string, number>();
  private readonly startedAt = Date.now();

  /** `self`: the address this controller listens on (what signers name as the target). */
  constructor(
    private readonly secret: string,
    private readonly self: string,
  ) {}

  verify(method: string, path: string, headers: Record<string, string | string[] | undefined>, body: string, now = Date.now()): Verdict {
    const get = (h: string): string | undefined => {
      const v = headers[h];
      return typeof v === 'string' ? v : undefined;
    };
    const host = get(SIGNATURE_HEADERS.host);
    const time = get(SIGNATURE_HEADERS.time);
    const nonce = get(SIGNATURE_HEADERS.nonce);
    const sig = get(SIGNATURE_HEADERS.signature);
    if (sig === undefined) return { ok: false, reason: 'unsigned', detail: `no ${SIGNATURE_HEADERS.signature} header: requests must be signed with the cluster secret` };
    if (!host || !time || !nonce || !/^\d{1,16}$/.test(time) || !/^[0-9a-f]{32}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(sig)) {
      return { ok: false, reason: 'malformed', detail: 'signature headers are incomplete or malformed' };
    }
    const want = Buffer.from(mac(this.secret, host, this.self, method, path, time, nonce, body), 'hex');
    if (!timingSafeEqual(want, Buffer.from(sig, 'hex'))) {
      return { ok: false, reason: 'bad-signature', detail: `signature does not match (wrong secret, altered request, or meant for another controller than ${this.self})` };
    }
    const skew = Math.abs(now - Number(time));
    if (skew > SIGNATURE_WINDOW_MS) return { ok: false, reason: 'stale', detail: `timestamp is ${skew} ms away from ours (window ${SIGNATURE_WINDOW_MS} ms)` };
    // Nonces are remembered in memory only: what was signed before this process started may
    // have been seen by its predecessor.
    if (Number(time) < this.startedAt - 1000) return { ok: false, reason: 'stale', detail: 'signed before this controller started' };
    this.forgetOld(now);
    if (this.seen.has(nonce)) return { ok: false, reason: 'replayed', detail: 'nonce already used: a replayed request' };
    this.seen.set(nonce, Number(time));
    return { ok: true, host };
  }

  private forgetOld(now: number): void {
    // Maps iterate in insertion order, which is roughly time order: stop at the first fresh one.
    for (const [n, t] of this.seen) {
      if (now - t <= 2 * SIGNATURE_WINDOW_MS) break;
      this.seen.delete(n);
    }
  }
}
