/** The OpenAPI 3.1 document, generated from the route table and its zod schemas. */
import { z } from 'zod';
import { SIGNATURE_HEADERS } from './request-signing.js';
import type { Route } from './routes.js';

type Json = Record<string, unknown>;

function schemaOf(s: z.ZodType, io: 'input' | 'output' = 'input'): Json {
  const js = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  delete js.$schema;
  return js;
}

function parametersOf(r: Route): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
    if (!schema) continue;
    const js = schemaOf(schema) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, prop] of Object.entries(js.properties ?? {})) {
      out.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema: prop });
    }
  }
  return out;
}

export function openApiDocument(routes: readonly Route[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const op: Json = {
      summary: r.summary,
      tags: [r.peer ? 'peer' : 'operator'],
      security: [{ signature: [] }],
      parameters: parametersOf(r),
      responses: {
        [String(r.status ?? 200)]: { description: 'success' },
        '400': { description: 'bad input: { error, field, message }' },
        '401': { description: 'unsigned, badly signed, stale or replayed request: { error, reason, message }' },
        '404': { description: 'no such object' },
        '409': { description: 'conflict, or no wire type fits (the message says why)' },
      },
    };
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(r.body) } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  paths['/v1/events'] = {
    get: {
      summary: 'Server-sent events: wire up/down and state changes, rewiring, blocked wires, refused requests (?after=SEQ replays the recent history)',
      tags: ['operator'], security: [{ signature: [] }],
      responses: { '200': { description: 'text/event-stream, one JSON object per event' } },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Banana controller API', version: '1' },
    paths,
    components: {
      securitySchemes: {
        signature: {
          type: 'apiKey',
          in: 'header',
          name: SIGNATURE_HEADERS.signature,
          description: `HMAC-SHA256 with the cluster secret over caller, method, path, ${SIGNATURE_HEADERS.time}, ${SIGNATURE_HEADERS.nonce} and the body's SHA-256 (see controller/api/request-signing.ts)`,
        },
      },
    },
  };
}
