/** After an rdma queue pair to a host fails (a completion with an error: the peer's queue pair
 * is gone, the fabric dropped it, the device failed), wires to that host avoid rdma for a
 * while: placement rejects it with the failure as the reason, so wires fail over to the next
 * type (udp). When the hold-down ends, `onExpire` lets the controller bring them back. */
export class RdmaHoldDown {
  private readonly held = new Map<string, { until: number; reason: string; timer: NodeJS.Timeout }>();

  constructor(
    readonly holdMs: number,
    private readonly onExpire: (host: string) => void,
  ) {}

  /** A queue pair to `host` failed with `reason`: hold rdma to it down from now. */
  fail(host: string, reason: string): void {
    clearTimeout(this.held.get(host)?.timer);
    const timer = setTimeout(() => {
      this.held.delete(host);
      this.onExpire(host);
    }, this.holdMs);
    timer.unref();
    this.held.set(host, { until: Date.now() + this.holdMs, reason, timer });
  }

  /** Why rdma to `host` is held down, or undefined if it is not. */
  reason(host: string): string | undefined {
    const h = this.held.get(host);
    if (!h) return undefined;
    const left = Math.max(0, Math.ceil((h.until - Date.now()) / 1000));
    return `rdma: a queue pair to ${host} failed (${h.reason}); rdma to it is held down for ${left} s more`;
  }

  close(): void {
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
  }
}
