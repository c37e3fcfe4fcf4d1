/**
 * Baseline: the Linux bridge. A bridge in the DUT namespace with the ingress
 * and egress veths as its only ports. See README.md for the choices.
 */
import { BaselineError, type ForwardPath, type Forwarder } from './forwarder.js';
import { SysfsRestorer, cpuMask, linkState, run } from './sys.js';

const NAME = 'linux-bridge';

export interface LinuxBridgeOptions {
  /** Bridge device name (<= 15 chars); default 'banana-br0'. */
  bridge?: string;
  /**
   * MAC address the generator sends to (the sink's). When given, a static fdb
   * entry sends it straight out of the egress port (known unicast, never aged,
   * no learning needed). Without it, every frame is unknown unicast and is
   * flooded, which with two ports also means "out of the egress port only".
   */
  sinkMac?: string;
  /**
   * Steer the bridge's receive processing to this CPU with RPS on the ingress
   * veth. Without it the bridge runs in the softirq of whoever transmitted into
   * the veth, i.e. on the generator's core. Default: unset (no RPS).
   */
  cpu?: number;
  /** MAC learning on the ingress port; default true (the bridge default). */
  learning?: boolean;
  /** ms to wait for both ports to reach the forwarding state; default 5000. */
  readyTimeoutMs?: number;
}

interface BridgePort {
  ifname: string;
  master?: string;
  state?: string;
}

function parseBridgeLinks(stdout: string): BridgePort[] {
  const parsed: unknown = JSON.parse(stdout === '' ? '[]' : stdout);
  if (!Array.isArray(parsed)) return [];
  const out: BridgePort[] = [];
  for (const e of parsed) {
    if (typeof e !== 'object' || e === null) continue;
    const r = e as Record<string, unknown>;
    if (typeof r.ifname !== 'string') continue;
    const p: BridgePort = { ifname: r.ifname };
    if (typeof r.master === 'string') p.master = r.master;
    if (typeof r.state === 'string') p.state = r.state;
    out.push(p);
  }
  return out;
}

export class LinuxBridgeForwarder implements Forwarder {
  readonly name = NAME;
  private readonly bridge: string;
  private readonly restorer = new SysfsRestorer(NAME);
  private created = false;

  constructor(
    readonly path: ForwardPath,
    private readonly opts: LinuxBridgeOptions = {},
  ) {
    this.bridge = opts.bridge ?? 'banana-br0';
    if (this.bridge.length > 15) throw new BaselineError(NAME, `bridge name too long: ${this.bridge}`);
  }

  get description(): string {
    const fwd =
      this.opts.sinkMac !== undefined ? `static fdb ${this.opts.sinkMac} -> ${this.path.egress}` : 'unknown-unicast flooding';
    const cpu = this.opts.cpu !== undefined ? `, RPS on ${this.path.ingress} -> CPU ${this.opts.cpu}` : ', softirq on the sender core';
    return `Linux bridge (STP off, no mcast snooping, no bridge netfilter), ${fwd}${cpu}`;
  }

  private ip(...args: string[]): Promise<unknown> {
    return run(NAME, ['ip', '-n', this.path.netns, ...args]);
  }

  async start(): Promise<void> {
    if (this.created) return;
    const { netns, ingress, egress } = this.path;
    for (const ifname of [ingress, egress]) {
      const l = await linkState(NAME, netns, ifname);
      if (l.master !== undefined) throw new BaselineError(NAME, `${netns}/${ifname} is already enslaved to ${l.master}`);
      if (l.xdp !== undefined) throw new BaselineError(NAME, `${netns}/${ifname} has an XDP program attached`);
    }
    try {
      // vlan_filtering is left out on purpose: it is off by default, and this kernel is built
      // without CONFIG_BRIDGE_VLAN_FILTERING, so even `vlan_filtering 0` fails with EOPNOTSUPP.
      await this.ip(
        'link', 'add', 'name', this.bridge, 'type', 'bridge',
        'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0',
        'nf_call_iptables', '0', 'nf_call_ip6tables', '0', 'nf_call_arptables', '0',
      );
      this.created = true;
      // no IPv6 link-local address: keeps the bridge itself quiet (no RS/MLD/DAD frames)
      await this.ip('link', 'set', 'dev', this.bridge, 'addrgenmode', 'none');
      await this.ip('link', 'set', 'dev', ingress, 'master', this.bridge);
      await this.ip('link', 'set', 'dev', egress, 'master', this.bridge);
      if (this.opts.learning === false) {
        await run(NAME, ['bridge', '-n', netns, 'link', 'set', 'dev', ingress, 'learning', 'off']);
      }
      await this.ip('link', 'set', 'dev', this.bridge, 'up');
      if (this.opts.sinkMac !== undefined) {
        await run(NAME, ['bridge', '-n', netns, 'fdb', 'replace', this.opts.sinkMac, 'dev', egress, 'master', 'static']);
      }
      if (this.opts.cpu !== undefined) {
        await this.restorer.set(netns, ingress, 'queues/rx-0/rps_cpus', cpuMask(this.opts.cpu));
      }
      await this.verify();
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  /** Both ports enslaved and forwarding, bridge up, fdb entry in place. */
  private async verify(): Promise<void> {
    const { netns, ingress, egress } = this.path;
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 5000);
    let ports: BridgePort[] = [];
    for (;;) {
      const { stdout } = await run(NAME, ['bridge', '-n', netns, '-j', 'link', 'show']);
      ports = parseBridgeLinks(stdout).filter((p) => p.master === this.bridge);
      const ok = [ingress, egress].every((n) => ports.some((p) => p.ifname === n && p.state === 'forwarding'));
      const br = await linkState(NAME, netns, this.bridge);
      if (ok && br.flags.includes('UP')) break;
      if (Date.now() > deadline) {
        throw new BaselineError(NAME, `bridge ports not forwarding: ${JSON.stringify(ports)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (this.opts.sinkMac !== undefined) {
      const { stdout } = await run(NAME, ['bridge', '-n', netns, 'fdb', 'show', 'dev', egress]);
      const mac = this.opts.sinkMac.toLowerCase();
      if (!stdout.split('\n').some((l) => l.toLowerCase().startsWith(`${mac} `) && l.includes('static'))) {
        throw new BaselineError(NAME, `static fdb entry for ${mac} on ${egress} missing`, { stderr: stdout });
      }
    }
  }

  async stop(): Promise<void> {
    let failure: unknown;
    try {
      await this.restorer.restore();
    } catch (err) {
      failure = err;
    }
    if (this.created) {
      const { netns, ingress, egress } = this.path;
      try {
        // deleting the bridge releases the ports (and drops the promiscuity it gave them)
        await this.ip('link', 'del', 'dev', this.bridge).catch(async (err: unknown) => {
          const exists = await linkState(NAME, netns, this.bridge).then(
            () => true,
            () => false,
          );
          if (exists) throw err;
        });
        this.created = false;
        for (const ifname of [ingress, egress]) {
          const l = await linkState(NAME, netns, ifname);
          if (l.master !== undefined) throw new BaselineError(NAME, `${netns}/${ifname} still enslaved to ${l.master}`);
        }
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
