import type { Port, PortCounters } from '../../dataplane/lib/index.js';

/** Renders live per-port counters as a fixed-width table, rates since the previous call. */
export class CountersTable {
  private last = new Map<Port, { at: number; c: PortCounters }>();

  constructor(private readonly ports: readonly Port[]) {}

  render(): string {
    const now = performance.now();
    const rows = [['port', 'mode', 'rx pkts', 'tx pkts', 'rx kpps', 'tx kpps', 'tx Mbit/s', 'flooded', 'drops']];
    for (const p of this.ports) {
      const c = p.counters();
      const prev = this.last.get(p);
      const secs = prev ? (now - prev.at) / 1000 : 0;
      const rate = (a: bigint, b: bigint | undefined, scale: number) =>
        prev && secs > 0 ? ((Number(a - (b ?? 0n)) / secs) * scale).toFixed(1) : '-';
      const drops = Object.entries(c)
        .filter(([k, v]) => k.startsWith('drop_') && v > 0n)
        .reduce((s, [, v]) => s + v, 0n);
      rows.push([
        p.toString(),
        p.mode,
        String(c.rx_packets),
        String(c.tx_packets),
        rate(c.rx_packets, prev?.c.rx_packets, 1 / 1000),
        rate(c.tx_packets, prev?.c.tx_packets, 1 / 1000),
        rate(c.tx_bytes, prev?.c.tx_bytes, 8 / 1e6),
        String(c.flood_packets),
        String(drops),
      ]);
      this.last.set(p, { at: now, c });
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    return rows.map((r) => r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
  }
}
