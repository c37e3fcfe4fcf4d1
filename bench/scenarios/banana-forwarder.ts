import { Engine, type Port } from '../../dataplane/lib/index.js';
import type { ForwardPath, Forwarder } from '../baselines/forwarder.js';

export interface BananaForwarderOptions {
  /** CPU the single worker is pinned to. Default 1. */
  cpu?: number;
  mode?: 'auto' | 'native' | 'generic';
  /** Preferred busy polling with this budget, as the testpmd baseline is run; 0: off. Default 64. */
  busyPollBudget?: number;
  /** AF_XDP ring entries per ring. Default 2048. */
  ringSize?: number;
  frameSize?: 2048 | 4096;
  framesPerWorker?: number;
}

/** Our engine as the device under test: one busy-polling worker, both ports on it. */
export class BananaForwarder implements Forwarder {
  readonly name = 'banana-af_xdp';
  private engine: Engine | undefined;
  private ports: Port[] = [];

  constructor(
    readonly path: ForwardPath,
    private readonly opts: BananaForwarderOptions = {},
  ) {}

  get description(): string {
    const mode = this.ports[0]?.mode ?? this.opts.mode ?? 'auto';
    const budget = this.opts.busyPollBudget ?? 64;
    const busy = budget > 0 ? `preferred busy poll budget ${budget} (napi_defer_hard_irqs 2, gro_flush_timeout 200 us)` : 'no busy poll';
    return `banana engine, AF_XDP copy mode (${mode === 'native' ? 'drv' : mode === 'generic' ? 'skb' : mode}), ${busy}, shared UMEM, burst 32, 1 worker on CPU ${this.opts.cpu ?? 1}`;
  }

  async start(): Promise<void> {
    const engine = new Engine({
      workers: 1,
      cpus: [this.opts.cpu ?? 1],
      idle: { policy: 'busy' },
      frameSize: this.opts.frameSize ?? 4096,
      framesPerWorker: this.opts.framesPerWorker ?? 16384,
    });
    this.engine = engine;
    const { netns, ingress, egress } = this.path;
    const budget = this.opts.busyPollBudget ?? 64;
    this.ports = [ingress, egress].map((ifname) =>
      engine.addPort({ ifname, netns, mode: this.opts.mode ?? 'auto', ringSize: this.opts.ringSize ?? 2048, busyPoll: budget > 0 ? { budget } : false }),
    );
    engine.start();
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    this.engine?.close();
    this.engine = undefined;
    this.ports = [];
    await Promise.resolve();
  }
}
