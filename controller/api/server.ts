/** The controller's HTTP API (fastify). Every /v1 request must be signed with the cluster
 * secret; bodies, parameters and queries are validated with zod; errors answer with a status,
 * a code, a message and, for bad input, the field. /openapi.json and /healthz are open. */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ControllerError } from '../controller-error.js';
import type { HostController } from '../host-controller.js';
import type { Registry } from '../registry/index.js';
import { RegistryError } from '../registry/index.js';
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
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const verifier = new RequestVerifier(s.secret);
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
  app.get('/openapi.json', () => openApiDocument(ROUTES));

  const handle = (r: Route) => async (req: FastifyRequest, reply: FastifyReply) => {
    const verdict = verifier.verify(req.method, req.url, req.headers, req.rawBody ?? '');
    if (!verdict.ok) {
      refusals[verdict.reason] = (refusals[verdict.reason] ?? 0) + 1;
      s.log.warn({ event: 'request-refused', reason: verdict.reason, method: req.method, url: req.url, from: req.ip }, verdict.detail);
      return reply.code(401).send({ error: 'unauthorized', reason: verdict.reason, message: verdict.detail });
    }
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
