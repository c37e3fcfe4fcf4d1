/** `wire-local`: a Spike and a Corm on the same host joined by our `local` wire (the Spike's
 * port in the Corm's switching domain of one engine), side by side with the Linux bridge
 * between the same two taps, in the same run. vmB -> tapB == tapA -> vmA, all on hostA. */
import { Engine } from '../../dataplane/lib/index.js';
import { LocalWire } from '../../wires/local/local-wire.js';
import { cpuMask, writeNetSysfs } from '../baselines/sys.js';
import type { BenchResult } from '../contract.js';
import { buildWireTopology, type WireTopology } from './wire-topology.js';
import { runWirePaths, type Measure, type WireBenchSettings, type WirePath } from './wire-run.js';

const CORM_DOMAIN = 1;
const SPIKE_DOMAIN = 1024;

class BananaLocalPath implements WirePath {
  readonly name = 'banana-local';
  readonly description =
    'one banana engine on hostA: Corm port on tapA, Spike port on tapB joined by a local wire; throughput: worker on ' +
    'CPU 1 with backoff idle (the generator has CPU 0); latency: busy-polling worker, not pinned';
  private engine: Engine | undefined;

  async start(t: WireTopology, m: Measure): Promise<void> {
    const e = new Engine(m === 'throughput' ? { cpus: [1], idle: { policy: 'backoff', spinLoops: 5000, maxSleepUs: 50 } } : { idle: { policy: 'busy' } });
    this.engine = e;
    e.addPort({ ifname: 'tapA', netns: t.hostA.name, domain: CORM_DOMAIN });
    const spike = e.addPort({ ifname: 'tapB', netns: t.hostA.name, domain: SPIKE_DOMAIN });
    new LocalWire({ wireId: 1, engine: e, spikePort: spike, spikeDomain: SPIKE_DOMAIN, cormDomain: CORM_DOMAIN, mtu: 1500 });
    e.start();
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    this.engine?.close();
    this.engine = undefined;
    await Promise.resolve();
  }
}

class LinuxBridgePath implements WirePath {
  readonly name = 'linux-bridge';
  readonly description = 'Linux bridge on hostA with tapA and tapB as ports, RPS of tapB to CPU 1';

  async start(t: WireTopology): Promise<void> {
    await t.hostA.exec(['ip', 'link', 'add', 'brl', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    for (const port of ['tapA', 'tapB']) await t.hostA.exec(['ip', 'link', 'set', port, 'master', 'brl']);
    await t.hostA.exec(['ip', 'link', 'set', 'brl', 'up']);
    await writeNetSysfs(this.name, t.hostA.name, 'tapB', 'queues/rx-0/rps_cpus', cpuMask(1));
  }

  async stop(t: WireTopology): Promise<void> {
    await t.hostA.exec(['ip', 'link', 'del', 'brl']).catch(() => undefined);
    await writeNetSysfs(this.name, t.hostA.name, 'tapB', 'queues/rx-0/rps_cpus', '0').catch(() => undefined);
  }
}

export async function runWireLocal(s: WireBenchSettings): Promise<BenchResult[]> {
  const t = await buildWireTopology({ sameHost: true });
  try {
    const { results } = await runWirePaths(
      { scenario: 'wire-local', topology: t, ours: new BananaLocalPath(), base: new LinuxBridgePath(), socketBaseline: 'kernel-udp-pingpong-over-linux-bridge' },
      s,
    );
    return results;
  } finally {
    await t.bed.close();
  }
}
