/** The controller API as data: each route's method, path, schemas and handler. The server
 * registers them; the OpenAPI document is generated from the same table. */
import type { z } from 'zod';
import type { HostController } from '../host-controller.js';
import type { Registry } from '../registry/index.js';
import { adoptSpikeBody, connectBody, createSpikeBody, endpointQuery, explainQuery, labelsBody, migrateBody, policyBody, openCormEndBody, peerSwapBody, spikeParams, swapBody, wireParams, wireRttBody } from './schemas.js';

export interface RouteContext {
  controller: HostController;
  registry: Registry;
  /** Who signed the request (a host name, or 'cli'). */
  caller: string;
  refusals: Readonly<Record<string, number>>;
}

export interface Route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** fastify path syntax (`:name`). */
  path: string;
  summary: string;
  /** Only peers' controllers call it (a host signs it, never the CLI). */
  peer?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /** Status of a success. Default 200. */
  status?: number;
  handler(ctx: RouteContext, input: { params: z.infer<P>; query: z.infer<Q>; body: z.infer<B> }): Promise<unknown> | unknown;
}

function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(r: Route<P, Q, B>): Route {
  return r as unknown as Route;
}

export const ROUTES: readonly Route[] = [
  route({ method: 'GET', path: '/v1/host', summary: 'This host: name, labels, underlay, workers, refused requests', handler: (c) => ({ ...c.controller.hostView(), authRefusals: c.refusals }) }),
  route({
    method: 'PUT', path: '/v1/host/policy', summary: "Set this host's wire policy (pin, forbid); connections are re-evaluated on both ends", body: policyBody, status: 204,
    handler: (c, { body }) => c.controller.setPolicy(body),
  }),
  route({
    method: 'PUT', path: '/v1/host/labels', summary: "Set this host's placement labels (site, cluster, rack...); connections are re-evaluated", body: labelsBody, status: 204,
    handler: (c, { body }) => c.controller.setLabels(body),
  }),
  route({ method: 'GET', path: '/v1/hosts', summary: 'Hosts in the registry', handler: (c) => c.registry.listHosts() }),
  route({
    method: 'GET', path: '/v1/endpoints', summary: 'Endpoints in the registry (Corms, their VFs, Spikes)', query: endpointQuery,
    handler: (c, { query }) => c.registry.listEndpoints({ ...(query.host ? { host: query.host } : {}), ...(query.kind ? { kind: query.kind } : {}) }),
  }),
  route({ method: 'GET', path: '/v1/corms', summary: "This host's Corms with their endpoints and counters", handler: (c) => c.controller.cormViews() }),
  route({ method: 'GET', path: '/v1/spikes', summary: "This host's Spikes", handler: (c) => c.controller.spikeViews() }),
  route({ method: 'GET', path: '/v1/spikes/:name', summary: 'One Spike', params: spikeParams, handler: (c, { params }) => c.controller.spike(params.name) }),
  route({ method: 'POST', path: '/v1/spikes', summary: 'Create a Spike on an interface of this host', body: createSpikeBody, status: 201, handler: (c, { body }) => c.controller.createSpike(body) }),
  route({
    method: 'DELETE', path: '/v1/spikes/:name', summary: 'Delete a Spike (disconnecting its wire first)', params: spikeParams, status: 204,
    handler: (c, { params }) => c.controller.deleteSpike(params.name),
  }),
  route({
    method: 'POST', path: '/v1/spikes/:name/connect', summary: 'Wire a Spike to a Corm, or to the closest Corm on a device network (type auto, local or udp)', params: spikeParams, body: connectBody,
    handler: (c, { params, body }) => c.controller.connect(params.name, { corm: body.corm ?? '', type: body.type, ...(body.network ? { network: body.network } : {}) }),
  }),
  route({
    method: 'POST', path: '/v1/spikes/:name/disconnect', summary: "Take a Spike's wire down (both ends)", params: spikeParams, status: 204,
    handler: (c, { params }) => c.controller.disconnect(params.name),
  }),
  route({
    method: 'POST', path: '/v1/spikes/:name/swap', summary: "Hot-swap a Spike's wire under traffic, make before break (a new wire, verified, then cut over with drain markers)", params: spikeParams, body: swapBody,
    handler: (c, { params, body }) => c.controller.swap(params.name, body.type),
  }),
  route({
    method: 'POST', path: '/v1/spikes/:name/migrate', summary: "Move a Spike's backend to another host with its VM: phases prepare, quiesce, switch, resume (or all; abort before switch)", params: spikeParams, body: migrateBody,
    handler: (c, { params, body }) => c.controller.migrate(params.name, body.to, body.phase, body.waitMs),
  }),
  route({ method: 'GET', path: '/v1/wires', summary: "This host's wire ends with state and counters", handler: (c) => c.controller.wireViews() }),
  route({ method: 'GET', path: '/v1/wires/:id', summary: 'One wire end: state, MTU, counters, sequence stats', params: wireParams, handler: (c, { params }) => c.controller.wire(params.id) }),
  route({
    method: 'POST', path: '/v1/wires/:id/rtt', summary: "The wire's own round trip, engine to engine: echoes (default 1000 of 64 B) turned around by the peer engine's worker; percentiles in µs", params: wireParams, body: wireRttBody,
    handler: (c, { params, body }) => c.controller.wireRtt(params.id, body.count ?? 1000, body.bytes ?? 64),
  }),
  route({
    method: 'GET', path: '/v1/explain', summary: 'Placement: every wire type between a Spike of this host and a Corm, scored or rejected with the reason', query: explainQuery,
    handler: (c, { query }) => c.controller.explain(query.spike, query.corm),
  }),
  route({ method: 'GET', path: '/v1/audit', summary: "Frame audit of the host's engine (every frame in exactly one place)", handler: (c) => c.controller.audit() }),
  route({
    method: 'POST', path: '/v1/peer/wires', summary: 'Peer: open the Corm end of a udp wire for one of the caller’s Spikes', peer: true, body: openCormEndBody, status: 201,
    handler: (c, { body }) => c.controller.openCormEnd(c.caller, body),
  }),
  route({
    method: 'DELETE', path: '/v1/peer/wires/:id', summary: 'Peer: close the Corm end of a wire the caller opened', peer: true, params: wireParams, status: 204,
    handler: (c, { params }) => c.controller.closeCormEnd(c.caller, params.id),
  }),
  route({
    method: 'POST', path: '/v1/peer/wires/:id/swap', summary: 'Peer: one step (prepare, cutover, finish) of a hot-swap of a Corm end the caller opened', peer: true, params: wireParams, body: peerSwapBody,
    handler: (c, { params, body }) => c.controller.swapCormEnd(c.caller, params.id, body),
  }),
  route({
    method: 'GET', path: '/v1/peer/wires/:id/swap', summary: 'Peer: where a hot-swap of a Corm end stands (verified, settled)', peer: true, params: wireParams,
    handler: (c, { params }) => c.controller.cormEndSwapInfo(c.caller, params.id),
  }),
  route({
    method: 'POST', path: '/v1/peer/spikes', summary: 'Peer: take in a Spike that is moving here from the caller (wire end now, interface later)', peer: true, body: adoptSpikeBody, status: 201,
    handler: (c, { body }) => c.controller.adoptSpike(c.caller, body),
  }),
  route({ method: 'GET', path: '/v1/peer/spikes/:name', summary: 'Peer: an arriving Spike (its wire end state)', peer: true, params: spikeParams, handler: (c, { params }) => c.controller.arrivingInfo(c.caller, params.name) }),
  route({
    method: 'POST', path: '/v1/peer/spikes/:name/bind', summary: "Peer: the arriving Spike's interface is here: bind it (409 until it is)", peer: true, params: spikeParams,
    handler: (c, { params }) => c.controller.bindArriving(c.caller, params.name),
  }),
  route({
    method: 'POST', path: '/v1/peer/spikes/:name/settle', summary: 'Peer: the move of a Spike here is over (the closest Corm of its network is chosen again)', peer: true, params: spikeParams, status: 204,
    handler: (c, { params }) => c.controller.settleArrived(c.caller, params.name),
  }),
  route({
    method: 'DELETE', path: '/v1/peer/spikes/:name', summary: 'Peer: abandon a Spike that was moving here', peer: true, params: spikeParams, status: 204,
    handler: (c, { params }) => c.controller.dropArriving(c.caller, params.name),
  }),
];
