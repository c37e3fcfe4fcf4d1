/** Prometheus metrics (prom-client) read straight from the engine's shared-memory counters at
 * scrape time: per port (Corm NICs, Spikes, the underlay), per wire end, per worker, per drop
 * reason, plus the API's refused requests. Nothing is copied between scrapes. */
import { Counter, Gauge, Registry } from 'prom-client';
import { PORT_COUNTER_NAMES, WORKER_COUNTER_NAMES, type PortCounters, type WorkerCounters } from '../dataplane/lib/index.js';

export interface PortSample {
  port: string;
  role: 'corm' | 'spike' | 'underlay';
  counters: PortCounters;
}

export interface WireSample {
  wire: string;
  type: string;
  side: string;
  spike: string;
  corm: string;
  up: boolean;
  counters: PortCounters;
}

export interface MetricsSource {
  ports(): PortSample[];
  wires(): WireSample[];
  workers(): WorkerCounters[];
  refusals(): Readonly<Record<string, number>>;
}

type Labels = Record<string, string>;
type Rows = [Labels, number][];

const GAUGES = new Set(['peer_last_rx_ns', 'frames_free']);
const TRAFFIC = ['rx_packets', 'rx_bytes', 'tx_packets', 'tx_bytes'] as const;
// Port counters that say nothing about a plain port, or that have a family of their own.
const WIRE_ONLY = new Set(['wire_seq_gaps', 'wire_seq_late', 'keepalive_tx', 'keepalive_rx', 'peer_last_rx_ns']);

/** Counters are absolute values from shared memory: each scrape resets the family and sets it. */
function counter(reg: Registry, name: string, help: string, labelNames: string[], rows: () => Rows): void {
  new Counter({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      for (const [l, v] of rows()) this.inc(l, v);
    },
  });
}

function gauge(reg: Registry, name: string, help: string, labelNames: string[], rows: () => Rows): void {
  new Gauge({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      for (const [l, v] of rows()) this.set(l, v);
    },
  });
}

export function buildMetrics(src: MetricsSource): Registry {
  const reg = new Registry();
  const portLabels = ['port', 'role'];
  const wireLabels = ['wire', 'type', 'side', 'spike', 'corm'];
  const portRows = (name: string): Rows => src.ports().map((p) => [{ port: p.port, role: p.role }, Number(p.counters[name as keyof PortCounters])]);
  const wireRows = (name: string): Rows =>
    src.wires().map((w) => [{ wire: w.wire, type: w.type, side: w.side, spike: w.spike, corm: w.corm }, Number(w.counters[name as keyof PortCounters])]);

  for (const t of TRAFFIC) {
    counter(reg, `banana_port_${t}_total`, `Port ${t.replace('_', ' ')}`, portLabels, () => portRows(t));
    counter(reg, `banana_wire_${t}_total`, `Wire end ${t.replace('_', ' ')}`, wireLabels, () => wireRows(t));
  }
  const drops = PORT_COUNTER_NAMES.filter((n) => n.startsWith('drop_'));
  counter(reg, 'banana_port_drops_total', 'Frames dropped at a port, by reason', [...portLabels, 'reason'], () =>
    src.ports().flatMap((p) => drops.map((d): [Labels, number] => [{ port: p.port, role: p.role, reason: d.slice(5) }, Number(p.counters[d])])),
  );
  counter(reg, 'banana_wire_drops_total', 'Frames dropped at a wire end, by reason', [...wireLabels, 'reason'], () =>
    src.wires().flatMap((w) => drops.map((d): [Labels, number] => [{ wire: w.wire, type: w.type, side: w.side, spike: w.spike, corm: w.corm, reason: d.slice(5) }, Number(w.counters[d])])),
  );
  for (const n of PORT_COUNTER_NAMES) {
    if ((TRAFFIC as readonly string[]).includes(n) || n.startsWith('drop_') || WIRE_ONLY.has(n)) continue;
    counter(reg, `banana_port_${n}_total`, `Port ${n.replaceAll('_', ' ')}`, portLabels, () => portRows(n));
  }
  counter(reg, 'banana_wire_seq_gaps_total', 'Frames missing by sequence number at the receiving end (lost on the underlay)', wireLabels, () => wireRows('wire_seq_gaps'));
  counter(reg, 'banana_wire_seq_late_total', 'Frames that arrived after a later one (reordered or duplicated)', wireLabels, () => wireRows('wire_seq_late'));
  counter(reg, 'banana_wire_keepalives_sent_total', 'Keepalives sent', wireLabels, () => wireRows('keepalive_tx'));
  counter(reg, 'banana_wire_keepalives_received_total', 'Keepalives received', wireLabels, () => wireRows('keepalive_rx'));
  gauge(reg, 'banana_wire_up', '1 while the peer is heard (keepalives), else 0', wireLabels, () =>
    src.wires().map((w) => [{ wire: w.wire, type: w.type, side: w.side, spike: w.spike, corm: w.corm }, w.up ? 1 : 0]),
  );
  for (const n of WORKER_COUNTER_NAMES) {
    const rows = (): Rows => src.workers().map((c, i) => [{ worker: String(i) }, Number(c[n])]);
    if (GAUGES.has(n)) gauge(reg, `banana_worker_${n}`, `Worker ${n.replaceAll('_', ' ')}`, ['worker'], rows);
    else counter(reg, `banana_worker_${n}_total`, `Worker ${n.replaceAll('_', ' ')}`, ['worker'], rows);
  }
  counter(reg, 'banana_api_refused_total', 'Controller API requests refused, by reason', ['reason'], () =>
    Object.entries(src.refusals()).map(([reason, v]) => [{ reason }, v]),
  );
  return reg;
}
