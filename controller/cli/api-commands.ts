/** The `banana` commands that talk to a host's controller API: hosts, endpoints, Corms,
 * Spikes, wires. Human tables by default, `--json` for scripts. Where the API is and the
 * secret come from `--config HOST.json` (its listen address and secret), or `--api HOST:PORT`
 * with `--secret-file FILE`, or BANANA_API / BANANA_SECRET. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApiClient, ApiError } from '../api/api-client.js';
import { readHostConfig } from '../config/host-config.js';
import type { CormView, HostView, MigrationView, SpikeView, SwapView, WireRttView, WireView } from '../model/views.js';
import type { EndpointRecord, HostRecord } from '../registry/index.js';
import { explainLines, type Explanation } from '../placement/choose-wire.js';
import { formatTable } from './table.js';

export const API_USAGE = `  host                         this host: name, labels, underlay
  host policy [--pin T] [--forbid T,T]
                               set this host's wire policy (no options: clear it); connections are re-evaluated
  host labels KEY=VALUE...     set this host's placement labels; connections are re-evaluated
  hosts                        hosts in the registry
  endpoints [--host H] [--kind corm|spike]
                               endpoints in the registry
  corm ls                      this host's Corms and the Spikes wired to them
  spike ls | show NAME
  spike create NAME --ifname IF --mac MAC [--netns NS]
  spike delete NAME
  spike connect NAME CORM-ENDPOINT | --network NET [--type auto|local|udp]
                               a Corm, or the closest Corm of a device network (moved make-before-break
                               as placement changes, and to another one at once if its host dies)
  spike disconnect NAME
  spike migrate NAME --to HOST [--phase prepare|quiesce|attach|switch|resume|abort|all] [--wait-ms N]
                               move the Spike's backend with its VM (all: the VM manager moves the interface
                               after 'quiesced' is reported; waits up to --wait-ms for it, default 30000)
  wire ls | show ID            wire ends with state, MTU and counters
  wire swap SPIKE|WIRE-ID [--type T]
                               hot-swap the wire under traffic, make before break (a new wire, verified, then cut over)
  wire explain SPIKE CORM-ENDPOINT
                               every wire type between them: scored, or rejected with the reason
  wire rtt WIRE-ID [--count N] [--bytes B]
                               the wire's own round trip, engine to engine (echoes; default 1000 of 64 B)
  audit                        frame audit of the host's engine
  events                       follow the host's events (wire up/down, rewiring, refusals) until interrupted
  connection: --config HOST.json | --api HOST:PORT --secret-file F (or BANANA_API, BANANA_SECRET); --json`;

class UsageError extends Error {}

function client(v: { config?: string; api?: string; 'secret-file'?: string }): ApiClient {
  if (v.config) {
    const cfg = readHostConfig(v.config);
    // With mutual TLS the CLI acts with the host's own certificate, so it signs as the host.
    return new ApiClient({
      address: v.api ?? cfg.listen, secret: cfg.secret, caller: cfg.tls ? cfg.host : 'cli',
      ...(cfg.tls ? { tls: cfg.tls, peerName: cfg.host } : {}),
    });
  }
  const address = v.api ?? process.env.BANANA_API;
  const secret = v['secret-file'] ? readFileSync(v['secret-file'], 'utf8').trim() : process.env.BANANA_SECRET;
  if (!address || !secret) throw new UsageError('say where the controller is: --config HOST.json, or --api HOST:PORT with --secret-file F (or BANANA_API and BANANA_SECRET)');
  return new ApiClient({ address, secret, caller: 'cli' });
}

const drops = (d: Record<string, number>) => Object.entries(d).map(([k, v]) => `${k}=${v}`).join(',') || '-';

function wireRows(ws: WireView[]): string {
  return formatTable(
    ['id', 'type', 'side', 'spike', 'corm', 'peer', 'state', 'mtu', 'rx pkts', 'tx pkts', 'seq gaps', 'drops'],
    ws.map((w) => [w.id, w.type, w.side, w.spike, w.corm, w.peerHost ?? '-', w.state, w.mtu, w.counters.rx_packets, w.counters.tx_packets, w.sequence?.gaps ?? 0, drops(w.counters.drops)]),
  );
}

function spikeRows(ss: SpikeView[]): string {
  return formatTable(
    ['spike', 'ifname', 'mac', 'xdp', 'corm', 'wire', 'rx pkts', 'tx pkts', 'drops'],
    ss.map((s) => [s.id, s.ifname, s.mac, s.mode, s.connect ? `${s.connect.corm} (${s.connect.type})` : '-', s.wire === null ? '-' : String(s.wire), s.counters.rx_packets, s.counters.tx_packets, drops(s.counters.drops)]),
  );
}

async function run(api: ApiClient, words: string[], v: Record<string, string | boolean | undefined>): Promise<{ data: unknown; text: string }> {
  const [obj, verb, arg1, arg2] = words;
  const need = (x: string | undefined, what: string): string => {
    if (!x) throw new UsageError(`missing ${what}`);
    return x;
  };
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  switch (`${obj} ${verb ?? ''}`.trim()) {
    case 'host': {
      const h = await api.request<HostView>('GET', '/v1/host');
      const u = h.underlay;
      return { data: h, text: `${h.name}  labels ${JSON.stringify(h.labels)}  controller ${h.controller}  workers ${h.workers}\nunderlay ${u.ifname} ${u.ip} ${u.mac} mtu ${u.mtu} udp/${u.udpPort} xdp ${u.mode}  drops ${drops(u.counters.drops)}` };
    }
    case 'host policy': {
      const forbid = str('forbid')?.split(',').filter(Boolean);
      const body = { ...(str('pin') ? { pin: str('pin') } : {}), ...(forbid ? { forbid } : {}) };
      await api.request('PUT', '/v1/host/policy', body);
      return { data: body, text: `policy: ${JSON.stringify(body)}` };
    }
    case 'host labels': {
      const labels: Record<string, string> = {};
      for (const kv of words.slice(2)) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new UsageError(`labels are KEY=VALUE, got '${kv}'`);
        labels[kv.slice(0, i)] = kv.slice(i + 1);
      }
      await api.request('PUT', '/v1/host/labels', labels);
      return { data: labels, text: `labels: ${JSON.stringify(labels)}` };
    }
    case 'hosts': {
      const hs = await api.request<HostRecord[]>('GET', '/v1/hosts');
      return { data: hs, text: formatTable(['host', 'controller', 'underlay', 'labels', 'updated'], hs.map((h) => [h.name, h.controller, h.underlay, Object.entries(h.labels).map(([k, x]) => `${k}=${x}`).join(',') || '-', h.updatedAt])) };
    }
    case 'endpoints': {
      const q = new URLSearchParams();
      if (str('host')) q.set('host', str('host')!);
      if (str('kind')) q.set('kind', str('kind')!);
      const es = await api.request<EndpointRecord[]>('GET', `/v1/endpoints${q.size ? `?${q}` : ''}`);
      return { data: es, text: formatTable(['endpoint', 'kind', 'mac', 'attributes'], es.map((e) => [e.id, e.kind, e.mac, Object.entries(e.attributes).map(([k, x]) => `${k}=${x}`).join(',') || '-'])) };
    }
    case 'corm ls': {
      const cs = await api.request<CormView[]>('GET', '/v1/corms');
      return { data: cs, text: formatTable(['corm', 'ifname', 'mac', 'mtu', 'xdp', 'queues', 'spikes', 'rx pkts', 'tx pkts', 'drops'], cs.map((c) => [c.id, c.ifname, c.mac, c.mtu, c.mode, c.queues, c.endpoints.join(',') || '-', c.counters.rx_packets, c.counters.tx_packets, drops(c.counters.drops)])) };
    }
    case 'spike ls': {
      const ss = await api.request<SpikeView[]>('GET', '/v1/spikes');
      return { data: ss, text: spikeRows(ss) };
    }
    case 'spike show': {
      const s = await api.request<SpikeView>('GET', `/v1/spikes/${encodeURIComponent(need(arg1, 'Spike name'))}`);
      return { data: s, text: spikeRows([s]) };
    }
    case 'spike create': {
      const body = { name: need(arg1, 'Spike name'), ifname: need(str('ifname'), '--ifname'), mac: need(str('mac'), '--mac'), ...(str('netns') ? { netns: str('netns') } : {}) };
      const s = await api.request<SpikeView>('POST', '/v1/spikes', body);
      return { data: s, text: `created ${s.id} on ${s.ifname} (XDP ${s.mode})` };
    }
    case 'spike delete':
      await api.request('DELETE', `/v1/spikes/${encodeURIComponent(need(arg1, 'Spike name'))}`);
      return { data: { deleted: arg1 }, text: `deleted ${arg1}` };
    case 'spike connect': {
      const target = str('network') ? { network: str('network') } : { corm: need(arg2, 'Corm endpoint (or --network NET)') };
      const w = await api.request<WireView>('POST', `/v1/spikes/${encodeURIComponent(need(arg1, 'Spike name'))}/connect`, { ...target, type: str('type') ?? 'auto' });
      return { data: w, text: `${w.spike} -> ${w.corm}: ${w.type} wire ${w.id}, mtu ${w.mtu}, ${w.state}` };
    }
    case 'spike disconnect':
      await api.request('POST', `/v1/spikes/${encodeURIComponent(need(arg1, 'Spike name'))}/disconnect`);
      return { data: { disconnected: arg1 }, text: `disconnected ${arg1}` };
    case 'spike migrate': {
      const body = { to: need(str('to'), '--to'), ...(str('phase') ? { phase: str('phase') } : {}), ...(str('wait-ms') ? { waitMs: Number(str('wait-ms')) } : {}) };
      const m = await api.request<MigrationView>('POST', `/v1/spikes/${encodeURIComponent(need(arg1, 'Spike name'))}/migrate`, body);
      const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);
      const cost = m.phase === 'switched' || m.phase === 'done'
        ? `; gap ${ms(m.gapMs)} (switch ${ms(m.switchMs)}, at the Corm ${ms(m.cormSwitchMs)}, binding ${ms(m.bindMs)}), queued ${m.queued}, dropped ${m.dropped}${m.lostAtSource === null ? '' : `, lost at ${m.from} ${m.lostAtSource}`}`
        : m.phase === 'attached' ? `; bound on ${m.to} in ${ms(m.bindMs)}` : '';
      return { data: m, text: `${m.spike} -> ${m.to}: ${m.phase}; wire ${m.wire.from} -> ${m.wire.to} to ${m.corm}${cost}` };
    }
    case 'wire ls': {
      const ws = await api.request<WireView[]>('GET', '/v1/wires');
      return { data: ws, text: wireRows(ws) };
    }
    case 'wire show': {
      const w = await api.request<WireView>('GET', `/v1/wires/${encodeURIComponent(need(arg1, 'wire id'))}`);
      return { data: w, text: wireRows([w]) };
    }
    case 'wire swap': {
      const which = need(arg1, 'Spike name or wire id');
      let spike = which;
      if (/^\d+$/.test(which)) {
        const w = await api.request<WireView>('GET', `/v1/wires/${which}`);
        if (w.side === 'corm') throw new UsageError(`wire ${which} is driven by its Spike's host (${w.peerHost}): run the swap there`);
        spike = w.spike.split('/')[1]!;
      }
      const r = await api.request<SwapView>('POST', `/v1/spikes/${encodeURIComponent(spike)}/swap`, str('type') ? { type: str('type') } : {});
      return { data: r, text: `${r.spike} -> ${r.corm}: ${r.type} wire ${r.from} swapped to ${r.to} (verified in ${r.verifyMs.toFixed(1)} ms, drained in ${r.settleMs.toFixed(1)} ms${r.settled ? '' : ', DRAIN MARKERS MISSING'})` };
    }
    case 'wire rtt': {
      const body = { ...(str('count') ? { count: Number(str('count')) } : {}), ...(str('bytes') ? { bytes: Number(str('bytes')) } : {}) };
      const r = await api.request<WireRttView>('POST', `/v1/wires/${encodeURIComponent(need(arg1, 'wire id'))}/rtt`, body);
      return {
        data: r,
        text: `wire ${r.id} (${r.type}), ${r.bytes} B: ${r.received}/${r.sent} echoes back, round trip p50 ${r.p50Us} us, p90 ${r.p90Us} us, p99 ${r.p99Us} us, p999 ${r.p999Us} us, max ${r.maxUs} us`,
      };
    }
    case 'wire explain': {
      const q = new URLSearchParams({ spike: need(arg1, 'Spike name'), corm: need(arg2, 'Corm endpoint') });
      const x = await api.request<Explanation>('GET', `/v1/explain?${q}`);
      return { data: x, text: explainLines(x).join('\n') };
    }
    case 'audit': {
      const a = await api.request<{ ok: boolean; workers: { total: number; missing: number; kernelTx: number }[] }>('GET', '/v1/audit');
      return { data: a, text: `frame audit: ${a.ok ? 'every frame accounted for' : 'FRAMES MISSING'}\n${formatTable(['worker', 'frames', 'missing', 'held by kernel'], a.workers.map((w, i) => [i, w.total, w.missing, w.kernelTx]))}` };
    }
    default:
      throw new UsageError(`unknown command '${words.join(' ')}'`);
  }
}

export const API_COMMANDS = new Set(['host', 'hosts', 'endpoints', 'corm', 'spike', 'wire', 'audit', 'events']);

export async function runApiCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' }, api: { type: 'string' }, 'secret-file': { type: 'string' }, json: { type: 'boolean' },
        host: { type: 'string' }, kind: { type: 'string' }, pin: { type: 'string' }, forbid: { type: 'string' }, ifname: { type: 'string' }, mac: { type: 'string' }, netns: { type: 'string' }, type: { type: 'string' },
        to: { type: 'string' }, phase: { type: 'string' }, 'wait-ms': { type: 'string' }, network: { type: 'string' }, count: { type: 'string' }, bytes: { type: 'string' },
      },
    });
  } catch (e) {
    process.stderr.write(`banana: ${(e as Error).message}\n${API_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  try {
    if (positionals[0] === 'events') {
      const ctl = new AbortController();
      process.once('SIGINT', () => ctl.abort());
      await client(values).events((ev) => {
        const rest = Object.entries(ev).filter(([k]) => !['time', 'type', 'seq', 'host'].includes(k));
        const fields = rest.map(([k, x]) => `${k}=${typeof x === 'object' ? JSON.stringify(x) : String(x)}`).join(' ');
        process.stdout.write(values.json ? `${JSON.stringify(ev)}\n` : `${String(ev.time)}  ${String(ev.host)}  ${String(ev.type).padEnd(16)} ${fields}\n`);
      }, ctl.signal);
      return 0;
    }
    const out = await run(client(values), positionals, values);
    process.stdout.write(`${values.json ? JSON.stringify(out.data, null, 2) : out.text}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`banana: ${e.message}\n${API_USAGE}\n`);
      return 2;
    }
    if (e instanceof ApiError) {
      process.stderr.write(values.json ? `${JSON.stringify({ status: e.status, ...(e.body as object) })}\n` : `banana: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
