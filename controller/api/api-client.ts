/** A signed HTTP client for the controller API: the CLI, peer controllers and tests use it. */
import { X509Certificate } from 'node:crypto';
import { Agent, fetch, type Response } from 'undici';
import { signRequest } from './request-signing.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
    readonly url: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Why a call failed: the peer's own message when its reply carried one. */
export function reasonOf(err: unknown): string {
  if (err instanceof ApiError) return (err.body as { message?: string } | undefined)?.message ?? err.message;
  return (err as Error).message;
}

export interface ApiClientSettings {
  /** `host:port` of the controller. */
  address: string;
  secret: string;
  /** Who is calling: a host name for peers, 'cli' for operators. */
  caller: string;
  timeoutMs?: number;
  /** Mutual TLS: our certificate and key, and the CA the server's certificate must come from. */
  tls?: { ca: string; cert: string; key: string };
  /** With tls: the name (CN) the server's certificate must carry, e.g. the peer host. */
  peerName?: string;
}

export class ApiClient {
  private readonly dispatcher: Agent | undefined;
  private readonly scheme: 'http' | 'https';

  constructor(private readonly s: ApiClientSettings) {
    this.scheme = s.tls ? 'https' : 'http';
    if (s.tls) {
      const expected = s.peerName;
      this.dispatcher = new Agent({
        connect: {
          ca: s.tls.ca, cert: s.tls.cert, key: s.tls.key,
          // The CA vouches for every host: also check that this is the host we meant to reach.
          checkServerIdentity: (_host, cert) => {
            const cn = new X509Certificate(cert.raw).subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
            return expected === undefined || cn === expected ? undefined : new Error(`server certificate is ${cn ?? '(no CN)'}'s, expected ${expected}'s`);
          },
        },
      });
    }
  }

  get address(): string {
    return this.s.address;
  }

  /** Streams the controller's server-sent events; resolves when the stream ends or `signal` aborts. */
  async events(onEvent: (ev: Record<string, unknown>) => void, signal?: AbortSignal): Promise<void> {
    const path = '/v1/events';
    const res = await fetch(`${this.scheme}://${this.s.address}${path}`, {
      headers: signRequest(this.s.secret, this.s.caller, this.s.address, 'GET', path, ''), ...(signal ? { signal } : {}), ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    if (!res.ok || !res.body) throw new ApiError(res.status, 'http-error', `GET ${path}: ${res.status} ${await res.text()}`, undefined, path);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) onEvent(JSON.parse(data.slice(6)) as Record<string, unknown>);
        }
      }
    } catch (e) {
      if ((e as Error).name !== 'AbortError') throw e;
    }
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = signRequest(this.s.secret, this.s.caller, this.s.address, method, path, text);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = `${this.scheme}://${this.s.address}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method, headers, body: body === undefined ? undefined : text, signal: AbortSignal.timeout(this.s.timeoutMs ?? 15_000),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
    } catch (e) {
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (e as Error).message;
      throw new ApiError(0, 'unreachable', `cannot reach the controller at ${this.s.address} (${cause})`, undefined, url);
    }
    const raw = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = raw ? JSON.parse(raw) : undefined;
    } catch {
      parsed = raw;
    }
    if (!res.ok) {
      const b = (parsed ?? {}) as { error?: string; message?: string };
      throw new ApiError(res.status, b.error ?? 'http-error', `${method} ${path}: ${res.status} ${b.message ?? raw}`, parsed, url);
    }
    return parsed as T;
  }
}
