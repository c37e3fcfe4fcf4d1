/** The controller's HTTP API (fastify). Every /v1 request must be signed with the cluster
 * secret; bodies, parameters and queries are validated with zod; errors answer with a status,
 * a code, a message and, for bad input, the field. /openapi.json and /healthz are open. */
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ControllerError } from '../controller-error.js';
import type { HostController } from '../host-controller.js';
import type { Registry } from '../registry/index.js';
import { RegistryError } from '../registry/index.js';
import { buildMetrics } from '../metrics.js';
import { openApiDocument } from './openapi.js';
import { RequestVerifier } from './request-signing.js';
import { ROUTES, type Route } from './routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}

export interface ApiServerSettings {
  controller: HostController;
  registry: Registry;
  secret: string;
  log: Logger;
  /** Mutual TLS: serve HTTPS and require a client certificate from `ca`. */
  tls?: { ca: string; cert: string; key: string };
  /** This host's name and API address (the target every signature must name). */
  host: string;
  listen: string;
  /** Callers allowed on operator routes besides this host itself. Default ['cli']. */
  operators?: readonly string[];
}

function fieldOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

class BadInput extends Error {
  constructor(
    readonly where: 'body' | 'params' | 'query',
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: 'body' | 'params' | 'query'): z.infer<T> | undefined {
  if (!schema) return undefined;
  const r = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = fieldOf(issue.path) || where;
  throw new BadInput(where, field, `${where} ${field}: ${issue.message}`);
}

export function buildApiServer(s: ApiServerSettings): FastifyInstance {
  const common = { logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true } as const;
  const app = (
    s.tls ? Fastify({ ...common, https: { ...s.tls, requestCert: true, rejectUnauthorized: true } }) : Fastify(common)
  ) as unknown as FastifyInstance;
  const verifier = new RequestVerifier(s.secret, s.listen);
  const operators = new Set([...(s.operators ?? ['cli']), s.host]);
  /** Operators manage this host; peers (other hosts) only open and close wire ends on it. */
  const mayCall = (r: Pick<Route, 'peer'>, caller: string): string | undefined =>
    r.peer
      ? operators.has(caller) ? `${caller} is an operator, not a peer host: peer routes are for other hosts' controllers` : undefined
      : operators.has(caller) ? undefined : `${caller} may not manage ${s.host}: operator routes admit ${[...operators].join(', ')}`;
  const forbid = (req: FastifyRequest, reply: FastifyReply, caller: string, why: string): FastifyReply => {
    refusals.forbidden = (refusals.forbidden ?? 0) + 1;
    s.log.warn({ event: 'request-refused', reason: 'forbidden', method: req.method, url: req.url, caller }, why);
    s.controller.events.publish('request-refused', { reason: 'forbidden', method: req.method, url: req.url, caller, message: why });
    return reply.code(403).send({ error: 'forbidden', message: why });
  };
  const refusals: Record<string, number> = {};

  // Keep the raw text: the signature covers the exact bytes that were sent.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    req.rawBody = body as string;
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      const err = new BadInput('body', 'body', 'body is not valid JSON');
      done(err, undefined);
    }
  });

  app.get('/healthz', () => ({ ok: true }));
  // Read-only and unsigned, so a Prometheus scraper needs no secret; it reveals counters only.
  const metrics = buildMetrics({
    ports: () => s.controller.portSamples(),
    wires: () => s.controller.wireSamples(),
    workers: () => s.controller.workerSamples(),
    refusals: () => refusals,
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  app.get('/openapi.json', () => openApiDocument(ROUTES));

  /** Checks the signature; on refusal answers 401 and returns undefined. */
  const authenticate = (req: FastifyRequest, reply: FastifyReply): string | undefined => {
    let verdict = verifier.verify(req.method, req.url, req.headers, req.rawBody ?? '');
    if (verdict.ok && s.tls) {
      // With mutual TLS the certificate says who is calling; the signature must agree.
      const cn = (req.raw.socket as TLSSocket).getPeerCertificate?.()?.subject?.CN;
      if (cn !== verdict.host) verdict = { ok: false, reason: 'identity-mismatch', detail: `signed as ${verdict.host} but the client certificate is ${String(cn)}'s` };
    }
    if (verdict.ok) return verdict.host;
    refusals[verdict.reason] = (refusals[verdict.reason] ?? 0) + 1;
    s.log.warn({ event: 'request-refused', reason: verdict.reason, method: req.method, url: req.url, from: req.ip }, verdict.detail);
    s.controller.events.publish('request-refused', { reason: verdict.reason, method: req.method, url: req.url, from: req.ip });
    void reply.code(401).send({ error: 'unauthorized', reason: verdict.reason, message: verdict.detail });
    return undefined;
  };

  // Server-sent events: one JSON event per message, history after ?after=SEQ first.
  app.get('/v1/events', (req, reply) => {
    const caller = authenticate(req, reply);
    if (caller === undefined) return reply;
    const why = mayCall({}, caller);
    if (why) return forbid(req, reply, caller, why);
    const after = Number((req.query as { after?: string }).after ?? NaN);
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    reply.raw.write(': banana events\n\n');
    const stop = s.controller.events.subscribe((ev) => reply.raw.write(`id: ${ev.seq}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`), Number.isInteger(after) ? after : undefined);
    req.raw.on('close', stop);
    return reply;
  });

  const handle = (r: Route) => async (req: FastifyRequest, reply: FastifyReply) => {
    const caller = authenticate(req, reply);
    if (caller === undefined) return reply;
    const why = mayCall(r, caller);
    if (why) return forbid(req, reply, caller, why);
    const verdict = { host: caller };
    const params = parse(r.params, req.params, 'params');
    const query = parse(r.query, req.query, 'query');
    const body = parse(r.body, req.body, 'body');
    const out = await r.handler({ controller: s.controller, registry: s.registry, caller: verdict.host, refusals }, { params, query, body });
    reply.code(r.status ?? 200);
    return r.status === 204 ? reply.send() : out;
  };
  for (const r of ROUTES) app.route({ method: r.method, url: r.path, handler: handle(r) });

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url}` }));
  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof BadInput) return reply.code(400).send({ error: 'bad-request', field: err.field, in: err.where, message: err.message });
    if (err instanceof ControllerError && err.status === 403) {
      refusals.forbidden = (refusals.forbidden ?? 0) + 1;
      s.log.warn({ event: 'request-refused', reason: 'forbidden', method: req.method, url: req.url, ...err.context }, err.message);
      s.controller.events.publish('request-refused', { reason: 'forbidden', method: req.method, url: req.url, message: err.message });
    }
    if (err instanceof ControllerError) {
      if (err.status >= 500) s.log.error({ event: 'request-failed', url: req.url, code: err.code, ...err.context }, err.message);
      return reply.code(err.status).send({ error: err.code, message: err.message, context: err.context, ...(err.detail === undefined ? {} : { explanation: err.detail }) });
    }
    if (err instanceof RegistryError) return reply.code(503).send({ error: 'registry-failed', message: err.message });
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return reply.code(e.statusCode).send({ error: 'bad-request', message: e.message });
    s.log.error({ event: 'request-failed', url: req.url, err: e.message }, 'unexpected error');
    return reply.code(500).send({ error: 'internal', message: e.message ?? String(err) });
  });
  return app;
}
