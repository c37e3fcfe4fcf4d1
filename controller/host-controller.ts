/** The endpoint controller of one host. It owns the host's engine: its Corms (NIC ports, each
 * a switching domain), its Spikes (VM backends, each a domain of its own until wired) and the
 * host's ends of wires. The API and peers change the desired state; `plan` diffs it against
 * what runs, and the actions of one endpoint are applied one at a time (KeyedSerial). */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { announceMac, Engine, rdmaDeviceProblem, rdmaDevices, type Port, type RdmaDevice, type QueueFailure, type RdmaCarrier, type RdmaEndpoint, type UdpWire, type WirePathSettings, type WorkerCounters } from '../dataplane/lib/index.js';
import type { PortSample, WireSample } from './metrics.js';
import { EventFeed } from './event-feed.js';
import { LocalWire } from '../wires/local/local-wire.js';
import { openUdpEnd, udpPathTo, type UnderlayPeer } from '../wires/udp/udp-end.js';
import { HotSwapError, localSwapEnd, runHotSwap, type HotSwapReport } from '../wires/udp/hot-swap.js';
import { remoteSwapEnd, type PeerSwapInfo } from './remote-swap-end.js';
import { SpikeMover, type MigrationPhase } from './migration-source.js';
import type { AdoptSpikeRequest, OpenCormEndReply, OpenCormEndRequest, PeerPrepareReply, PeerSwapStep } from './peer-messages.js';
import { describeLink, describeUnderlay, type UnderlayInterface } from '../wires/udp/underlay.js';
import type { WireEnd, WireType } from '../wires/wire.js';
import { ApiClient, ApiError, reasonOf } from './api/api-client.js';
import type { CormConfig, HostConfig } from './config/host-config.js';
import { ControllerError } from './controller-error.js';
import { KeyedSerial } from './keyed-serial.js';
import { actionKey, plan, type Action, type HostState, type SpikeState } from './model/plan.js';
import type { ConnectSpec, CormEndSpec, SpikeSpec } from './model/specs.js';
import { countersView, type CormView, type HostView, type MigrationView, type SpikeView, type SwapView, type WireRttView, type WireView } from './model/views.js';
import { measureWireEnd } from './wire-rtt.js';
import { HostRecords } from './host-records.js';
import type { EndpointRecord, Registry } from './registry/index.js';
import { detectInterface } from '../hw-profiles/lib/detect.js';
import { loadProfiles } from '../hw-profiles/lib/load-profiles.js';
import { planPort, rdmaProfiles, resolveProfile, type PortPlan } from '../hw-profiles/lib/resolve-profile.js';
import { rdmaFacts, type RdmaFacts } from '../hw-profiles/lib/rdma-facts.js';
import type { HwProfile } from '../hw-profiles/lib/profile-schema.js';
import { capabilitiesFromAttributes, capabilitiesToAttributes, type EndCapabilities, type WirePolicy } from './placement/capabilities.js';
import { chooseWire, explainLines, withRejected, type Explanation } from './placement/choose-wire.js';
import { RdmaHoldDown } from './rdma-hold-down.js';
import type { Proximity } from './placement/proximity.js';

interface LiveCorm {
  cfg: CormConfig;
  id: string;
  port: Port;
  domain: number;
  mac: string;
  mtu: number;
  profile: HwProfile;
  plan: PortPlan;
}

interface LiveSpike {
  spec: SpikeSpec;
  port: Port;
  domain: number;
  mtu: number;
  connect?: ConnectSpec;
  wire?: WireEnd;
  /** Where the wire goes: the Corm id and, for a remote one, its host and underlay. */
  corm?: string;
  peerHost?: string;
  peerUnderlay?: UnderlayPeer;
}

interface LiveCormEnd {
  spec: CormEndSpec;
  wire: UdpWire;
}

/** A Spike on its way here: its wire end is up, its interface not yet. */
interface ArrivingSpike {
  req: AdoptSpikeRequest;
  from: string;
  domain: number;
  wire: UdpWire;
}

/** Where a Spike asking for a network stands: its current Corm (kept on a tie) and one to pass
 * over (its wire is down). */
interface NetworkChoice {
  current?: string;
  avoid?: string;
}

interface ResolvedTarget {
  type: WireType;
  corm: string;
  cormHost: string;
  proximity: Proximity;
}

/** A Corm end whose Spike is moving to another host. */
interface CormEndMove {
  to: { host: string; spike: string };
  peer: UnderlayPeer;
  /** Counters when quiesced: what the move queued and dropped. */
  queuedBefore?: bigint;
  droppedBefore?: bigint;
}

const FIRST_SPIKE_DOMAIN = 1024;
/** How often wire states are checked for changes (reading shared memory: cheap). */
const WIRE_MONITOR_MS = 20;
/** How long a replaced wire keeps delivering what was already on its way (receive-only). */
const REWIRE_TAIL_MS = 300;
/** Spikes whose wire cannot be made right now are tried again this often. */
const BLOCKED_RETRY_MS = 2000;

/** Wire types a hot-swap moves between (the engine swaps a wire's path across carriers). */
const isSwappable = (t: string): t is 'udp' | 'rdma' => t === 'udp' || t === 'rdma';

export class HostController {
  private readonly corms = new Map<string, LiveCorm>();
  private readonly spikes = new Map<string, LiveSpike>();
  private readonly cormEnds = new Map<number, LiveCormEnd>();
  private readonly desired: { spikes: Map<string, SpikeState>; cormEnds: Map<number, CormEndSpec> } = { spikes: new Map(), cormEnds: new Map() };
  private readonly serial = new KeyedSerial();
  private readonly freeDomains: number[] = [];
  private nextDomain = FIRST_SPIKE_DOMAIN;
  private closed = false;
  /** RDMA device on the underlay, from detection. */
  private rdma: string | null = null;
  /** The RDMA device this host's rdma wires use (active), if any. */
  private rdmaDevice: string | null = null;
  /** The rdma device as discovery found it, next to its hardware profile. */
  private rdmaFacts: RdmaFacts | null = null;
  /** Hosts an rdma queue pair to failed lately: wires to them avoid rdma until it ends. */
  private readonly rdmaHoldDown: RdmaHoldDown;
  /** Spike-side wires whose queue pair failed: dead, whatever their keepalives last said. */
  private readonly failedWires = new Set<number>();
  /** Corm ends prepared to swap onto a queue pair: the Spike end's, by the wire's old id. */
  private readonly swapsToRdma = new Map<number, RdmaEndpoint>();
  /** What each connected Spike asked for (auto or a type): placement re-evaluates against it. */
  private readonly requested = new Map<string, ConnectSpec>();
  /** Spikes whose requested connection cannot be made right now, with the reason. */
  private readonly blocked = new Map<string, string>();
  private labels: Record<string, string>;
  private cormWatch: { close(): void } | undefined;
  private monitor: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly retrying = new Set<string>();
  /** Spikes from the registry not rebuilt yet (their interface is not back, say). */
  private readonly unrestored = new Map<string, EndpointRecord>();
  private readonly restoreFailures = new Map<string, string>();
  /** Told of every interface a Spike binds (the daemon's lock file lists it for a successor). */
  private onBind: (d: { netns: string; ifname: string }) => void = () => undefined;
  /** Everything notable that happens here, for the API's event stream. */
  readonly events = new EventFeed();
  private policy: WirePolicy;
  /** Corm ends being hot-swapped, by the wire id the swap began with: when it was prepared. */
  private readonly swapsPrepared = new Map<number, bigint>();
  /** Corm ends whose Spike moves to another host, by the wire id the move began with. */
  private readonly moves = new Map<number, CormEndMove>();
  /** Spikes migrating to this host, by name, until their interface is bound. */
  private readonly arriving = new Map<string, ArrivingSpike>();
  /** Migrations of this host's Spikes (the source side). */
  private readonly mover = new SpikeMover({
    hostName: () => this.config.host,
    registry: () => this.records.registry,
    peer: (address, host) => this.peer(address, host),
    allocWireId: () => this.allocWireId(),
    requested: (spike) => this.requested.get(spike),
    forget: (sp) => this.forgetMovedSpike(sp as LiveSpike),
    note: (level, type, fields, msg) => this.note(level, type, fields, msg),
  });

  private constructor(
    readonly config: HostConfig,
    private readonly engine: Engine,
    private readonly underlayPort: Port,
    private readonly underlay: UnderlayInterface,
    private readonly records: HostRecords,
    private readonly log: Logger,
  ) {
    this.policy = { ...(config.policy.pin ? { pin: config.policy.pin } : {}), forbid: config.policy.forbid ?? [] };
    this.labels = { ...config.labels };
    this.rdmaHoldDown = new RdmaHoldDown(config.rdma?.holdDownMs ?? 30_000, (host) => this.rdmaHoldDownEnded(host));
  }

  static async start(config: HostConfig, registry: Registry, log: Logger, onBind: (d: { netns: string; ifname: string }) => void = () => undefined): Promise<HostController> {
    // Everything that can be refused (profiles, unknown drivers, missing interfaces) is checked
    // before the engine touches an interface.
    const underlay = await describeUnderlay(config.netns, config.underlay.ifname);
    const profiles = loadProfiles(config.profileDir);
    const underlayDetected = await detectInterface(config.netns, config.underlay.ifname);
    const corms = [];
    for (const cfg of config.corms) {
      const detected = await detectInterface(config.netns, cfg.ifname);
      const { profile, source } = resolveProfile(detected, profiles, cfg.profile);
      corms.push({ cfg, detected, profile, source, plan: planPort(detected, profile) });
    }
    const e = config.engine;
    const engine = new Engine({
      workers: e.workers,
      idle: e.idle,
      framesPerWorker: e.framesPerWorker ?? Math.max(16384, ...corms.map((c) => c.profile.recommended.umemFrames)),
      ...(e.cpus ? { cpus: e.cpus } : {}),
      ...(e.fdbAgeingMs ? { fdbAgeingMs: e.fdbAgeingMs } : {}),
    });
    try {
      engine.on('queue-failed', (f) => log.error({ event: 'queue-failed', port: f.port?.toString(), wire: f.wire?.wireId, queue: f.queue, code: f.code }, f.message));
      const underlayPort = engine.addPort({ ifname: config.underlay.ifname, netns: config.netns, mode: config.underlay.mode, underlay: { udpPort: config.underlay.udpPort } });
      log.info({ event: 'underlay-up', port: underlayPort.toString(), mode: underlayPort.mode, ip: underlay.ip, mtu: underlay.mtu }, 'underlay port up');
      const records = new HostRecords(registry, config, underlay.ip, log);
      const c = new HostController(config, engine, underlayPort, underlay, records, log);
      c.onBind = onBind;
      engine.on('queue-failed', (f) => c.onQueueFailed(f));
      const detected = rdmaProfiles(underlayDetected, profiles)[0];
      const device = config.rdma?.device ?? detected?.device;
      const problem = device ? rdmaDeviceProblem(device) : null;
      c.rdmaDevice = device && !problem ? device : null;
      c.rdma = c.rdmaDevice ? `${c.rdmaDevice} (${detected?.profile.rdma?.transport ?? 'rdma'})` : null;
      if (c.rdmaDevice) {
        let dev: RdmaDevice | undefined;
        try {
          dev = rdmaDevices().find((d) => d.name === c.rdmaDevice);
        } catch (err) {
          log.warn({ event: 'rdma-discovery-failed', device: c.rdmaDevice, reason: (err as Error).message }, `cannot list RDMA devices: ${(err as Error).message}`);
        }
        const profile = rdmaProfiles(underlayDetected, profiles).find((x) => x.device === c.rdmaDevice)?.profile;
        c.rdmaFacts = dev ? rdmaFacts(dev, profile) : null;
        log.info({ event: 'rdma-up', device: c.rdmaDevice, ...c.rdmaFacts }, `rdma wires over ${c.rdmaDevice}`);
        for (const m of c.rdmaFacts?.mismatches ?? []) log.warn({ event: 'rdma-profile-mismatch', device: c.rdmaDevice }, m);
      }
      // A device the operator named must work: say loudly why this host runs no rdma wires.
      else if (config.rdma?.device) log.warn({ event: 'rdma-unavailable', device, reason: problem }, `no rdma wires on this host: ${problem}`);
      let domain = 1;
      for (const x of corms) c.addCorm(x.cfg, domain++, x.profile, x.plan, x.detected.mtu, x.source);
      await Promise.all([...c.corms.values()].map(async (corm) => Object.assign(corm, await describeLink(config.netns, corm.cfg.ifname))));
      engine.start();
      c.monitorWires(WIRE_MONITOR_MS);
      log.info({ event: 'started', host: config.host, workers: engine.workers, corms: [...c.corms.keys()] }, 'controller started');
      return c;
    } catch (err) {
      engine.close();
      throw err;
    }
  }

  /** A Spike's record: what it is and what it asked for. Durable (no lease): the host's lease
   * says whether the host lives; this record is the Spike's desired state, from which a
   * restarted daemon rebuilds it. */
  private async publishSpike(name: string): Promise<void> {
    const s = this.spikes.get(name);
    if (!s) return;
    const want = this.requested.get(name);
    const attributes: Record<string, string> = { ifname: s.spec.ifname };
    if (s.spec.netns) attributes.netns = s.spec.netns;
    if (s.spec.tenant) attributes.tenant = s.spec.tenant;
    if (want) Object.assign(attributes, { wantCorm: want.corm, wantType: want.type });
    if (s.wire) Object.assign(attributes, { corm: s.corm ?? '', wire: s.wire.type, wireId: String(s.wire.wireId) });
    await this.records.putEndpoint({ id: `${this.config.host}/${name}`, kind: 'spike', host: this.config.host, mac: s.spec.mac, attributes }, { durable: true });
  }

  /** Publishes the host and its Corms, rebuilds the Spikes a previous run left in the registry,
   * and starts following peers. Called once the API listens: peers may call us at once. */
  async publish(): Promise<void> {
    const left = await this.records.registry.listEndpoints({ host: this.config.host, kind: 'spike' });
    // The Spikes' records are kept as they are until each is rebuilt: a Spike whose interface
    // is not back yet keeps its desired state and is tried again.
    await this.records.start([...this.corms.values()].map((corm) => this.cormRecord(corm)), left);
    this.watchCorms();
    for (const rec of left) this.unrestored.set(rec.id.split('/')[1]!, rec);
    for (const rec of left) await this.restoreSpike(rec);
    this.retry = setInterval(() => {
      for (const name of this.blocked.keys()) this.retryOnce(name, () => this.reevaluate(name));
      for (const [name, rec] of this.unrestored) this.retryOnce(name, () => this.restoreSpike(rec));
    }, BLOCKED_RETRY_MS);
    this.retry.unref();
  }

  /** At most one retry per Spike in flight: slow peers must not pile attempts up. */
  private retryOnce(name: string, attempt: () => Promise<void>): void {
    if (this.retrying.has(name)) return;
    this.retrying.add(name);
    attempt()
      .catch(() => undefined)
      .finally(() => this.retrying.delete(name));
  }

  private async restoreSpike(rec: EndpointRecord): Promise<void> {
    const a = rec.attributes;
    const name = rec.id.split('/')[1]!;
    const spec: SpikeSpec = { name, ifname: a.ifname ?? '', netns: a.netns ?? '', mac: rec.mac, ...(a.tenant ? { tenant: a.tenant } : {}) };
    try {
      if (!this.spikes.has(name)) await this.createSpike(spec);
      this.unrestored.delete(name);
      if (a.wantCorm) {
        this.requested.set(name, { corm: a.wantCorm, type: (a.wantType ?? 'auto') as ConnectSpec['type'] });
        await this.reevaluate(name);
        await this.publishSpike(name);
      }
      this.note('info', 'spike-restored', { spike: name, corm: a.wantCorm ?? null }, `Spike ${name} rebuilt from the registry`);
    } catch (e) {
      const reason = (e as Error).message;
      if (this.restoreFailures.get(name) !== reason) this.note('warn', 'spike-restore-failed', { spike: name, reason }, `cannot rebuild Spike ${name} yet; trying again`);
      this.restoreFailures.set(name, reason);
    }
  }

  private addCorm(cfg: CormConfig, domain: number, profile: HwProfile, plan: PortPlan, mtu: number, source: string): void {
    // The profile decides; what the host config sets explicitly overrides it.
    const port = this.engine.addPort({
      ifname: cfg.ifname, netns: this.config.netns, domain,
      mode: cfg.mode ?? plan.mode,
      zeroCopy: cfg.mode === 'generic' ? 'off' : plan.zeroCopy,
      queues: cfg.queues ?? plan.queues,
      ringSize: cfg.ringSize ?? plan.ringSize,
      ...((cfg.busyPoll ?? plan.busyPoll) ? { busyPoll: (cfg.busyPoll ?? plan.busyPoll) as Exclude<PortPlan['busyPoll'], false> } : {}),
    });
    const id = `${this.config.host}/${cfg.name}`;
    this.corms.set(cfg.name, { cfg, id, port, domain, mac: '', mtu, profile, plan });
    this.log.info(
      { event: 'corm-up', corm: id, port: port.toString(), profile: profile.name, profileFrom: source, mode: port.mode, zeroCopy: port.zeroCopy, queues: port.queues.length, why: plan.reasons },
      'Corm up',
    );
  }

  /** What this host can do, as a wire end (placement). */
  capabilities(): EndCapabilities {
    const wires: WireType[] = this.rdmaDevice ? ['local', 'udp', 'rdma'] : ['local', 'udp'];
    return { host: this.config.host, labels: this.labels, wires, underlayMtu: this.underlay.mtu, rdma: this.rdma, policy: this.policy };
  }

  private cormRecord(corm: LiveCorm): EndpointRecord {
    return {
      id: corm.id, kind: 'corm', host: this.config.host, mac: corm.mac,
      attributes: {
        ifname: corm.cfg.ifname, profile: corm.profile.name, mode: corm.port.mode, queues: String(corm.port.queues.length), mtu: String(corm.mtu),
        ...(corm.cfg.network ? { network: corm.cfg.network } : {}),
        ...capabilitiesToAttributes(this.capabilities()),
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cormWatch?.close();
    if (this.monitor) clearInterval(this.monitor);
    if (this.retry) clearInterval(this.retry);
    this.rdmaHoldDown.close();
    await this.records.close();
    this.engine.close();
    this.note('info', 'stopped', { host: this.config.host }, 'controller stopped');
  }

  // ---- operator API ------------------------------------------------------------

  async createSpike(spec: SpikeSpec): Promise<SpikeView> {
    return this.serial.run(`spike:${spec.name}`, async () => {
      const have = this.desired.spikes.get(spec.name);
      if (have) throw new ControllerError('conflict', `Spike ${this.config.host}/${spec.name} already exists`, { spike: spec.name });
      this.desired.spikes.set(spec.name, { spec });
      await this.reconcile(`spike:${spec.name}`);
      return this.spikeView(this.spikes.get(spec.name)!);
    });
  }

  async deleteSpike(name: string): Promise<void> {
    await this.serial.run(`spike:${name}`, async () => {
      this.requireSpike(name);
      this.requested.delete(name);
      this.blocked.delete(name);
      this.desired.spikes.delete(name);
      await this.reconcile(`spike:${name}`);
    });
  }

  async connect(name: string, to: ConnectSpec): Promise<WireView> {
    return this.serial.run(`spike:${name}`, async () => {
      const want = this.requireSpike(name);
      // Resolve and check first: a request that cannot work must not touch a running wire.
      const s = this.spikes.get(name);
      const resolved = await this.resolveTarget(to, s?.mtu ?? 1500, s?.corm ? { current: s.corm } : {});
      this.desired.spikes.set(name, { ...want, connect: { corm: resolved.corm, type: resolved.type } });
      await this.reconcile(`spike:${name}`);
      this.requested.set(name, to);
      this.blocked.delete(name);
      await this.publishSpike(name);
      return this.wireViewOfSpike(this.spikes.get(name)!)!;
    });
  }

  async disconnect(name: string): Promise<void> {
    await this.serial.run(`spike:${name}`, async () => {
      const want = this.requireSpike(name);
      if (!want.connect && !this.requested.has(name)) throw new ControllerError('conflict', `Spike ${this.config.host}/${name} is not connected`, { spike: name });
      this.requested.delete(name);
      this.blocked.delete(name);
      this.desired.spikes.set(name, { spec: want.spec });
      await this.reconcile(`spike:${name}`);
      await this.publishSpike(name);
    });
  }

  // ---- placement changes ------------------------------------------------------------

  /** Changes this host's wire policy: the Corm records carry it to peers (who re-evaluate
   * through their watch), and this host's own Spikes are re-evaluated here. */
  async setPolicy(policy: WirePolicy): Promise<void> {
    this.policy = { ...(policy.pin ? { pin: policy.pin } : {}), forbid: policy.forbid ?? [] };
    await this.republish();
  }

  async setLabels(labels: Record<string, string>): Promise<void> {
    this.labels = { ...labels };
    await this.records.updateHostLabels(this.labels);
    await this.republish();
  }

  private async republish(): Promise<void> {
    for (const corm of this.corms.values()) await this.records.putEndpoint(this.cormRecord(corm));
    await Promise.all([...this.requested.keys()].map((name) => this.reevaluate(name)));
  }

  /** Recomputes one Spike's wire against what it asked for. Where the choice changed, it is
   * rewired (disconnect, then connect: the hot-swap of issue #6 will make it seamless); where
   * nothing fits any more, the wire comes down and the reason is kept (`blocked`) until the
   * next change lets it come back. */
  async reevaluate(name: string): Promise<void> {
    await this.serial.run(`spike:${name}`, async () => {
      const to = this.requested.get(name);
      const s = this.spikes.get(name);
      // A moving Spike's wire belongs to the migration until it is done or aborted.
      if (!to || !s || this.mover.moving(name)) return;
      let type: WireType;
      let corm: string;
      // A dead wire's Corm is passed over when the Spike asked for any Corm of a network.
      const failed = s.wire !== undefined && this.failedWires.has(s.wire.wireId);
      const dead = s.wire !== undefined && (failed || s.wire.state() === 'down');
      try {
        // A silent Corm is passed over; a failed queue pair only rules rdma out (its hold-down).
        const silent = s.wire !== undefined && s.wire.state() === 'down';
        ({ type, corm } = await this.resolveTarget(to, s.mtu, { ...(s.corm ? { current: s.corm } : {}), ...(silent && s.corm ? { avoid: s.corm } : {}) }));
      } catch (err) {
        if (!(err instanceof ControllerError)) throw err;
        const reason = err.message.split('\n')[0]!;
        this.blocked.set(name, reason);
        if (this.desired.spikes.get(name)?.connect) {
          this.desired.spikes.set(name, { spec: s.spec });
          await this.reconcile(`spike:${name}`);
          this.note('warn', 'wire-blocked', { spike: name, corm: to.corm, reason }, 'wire taken down: no wire type fits any more');
        }
        return;
      }
      this.blocked.delete(name);
      const now = this.desired.spikes.get(name)?.connect;
      if (now?.corm === corm && now.type === type && !dead) return;
      if (now?.corm === corm && !dead && isSwappable(now.type) && isSwappable(type)) {
        // Same Corm, another type both ends can swap between: no gap.
        try {
          await this.swapLocked(s, type);
        } catch (err) {
          const reason = `hot-swap to ${type} failed (${(err as Error).message.split('\n')[0]}); trying again`;
          if (this.blocked.get(name) !== reason) this.note('warn', 'rewire-failed', { spike: name, corm, reason }, `cannot move ${name} to ${type} now; trying again`);
          this.blocked.set(name, reason);
          return;
        }
        this.note('info', 'rewired', { spike: name, corm, fromCorm: corm, from: now.type, to: type, why: 'placement' }, `${name} hot-swapped to ${type} on ${corm} (placement)`);
        return;
      }
      try {
        // A wire whose peer went silent (its daemon died and came back) is rebuilt from scratch.
        if (dead && now?.corm === corm) {
          this.desired.spikes.set(name, { spec: s.spec });
          await this.reconcile(`spike:${name}`);
        }
        this.desired.spikes.set(name, { spec: s.spec, connect: { corm, type } });
        await this.reconcile(`spike:${name}`);
      } catch (err) {
        const reason = (err as Error).message.split('\n')[0]!;
        if (this.blocked.get(name) !== reason) this.note('warn', 'rewire-failed', { spike: name, corm: to.corm, reason }, `cannot wire ${name} now; trying again`);
        this.blocked.set(name, reason);
        return;
      }
      const why = failed || (dead && now?.corm !== corm) ? 'failover' : dead ? 'peer went silent' : !now ? 'unblocked' : 'placement';
      this.note(why === 'failover' ? 'warn' : 'info', 'rewired', { spike: name, corm, fromCorm: now?.corm ?? null, from: now?.type ?? null, to: type, why }, `${name} rewired to ${corm} over ${type} (${why})`);
    });
  }

  /** Peers' Corm records change when their policy or labels do: re-evaluate the Spikes wired
   * (or waiting to be wired) to them. */
  private watchCorms(): void {
    this.cormWatch = this.records.registry.watch({ kind: 'corm' }, (ev) => {
      const rec = ev.type === 'put' ? ev.endpoint : ev.prev?.endpoint;
      if (!rec || rec.id.split('/').length !== 2) return;
      for (const [name, to] of this.requested) {
        // A Corm of the network a Spike asked for came, went or changed: the closest may differ.
        const affects = to.network ? rec.attributes.network === to.network : ev.type === 'put' && rec.host !== this.config.host && to.corm === rec.id;
        if (affects) void this.reevaluate(name).catch((e: unknown) => this.log.error({ event: 're-evaluate-failed', spike: name, err: (e as Error).message }, 're-evaluation failed'));
      }
    });
  }

  /** Netbus authorization: may this host (and the Spike's tenant) attach to the Corm? */
  private authorize(corm: LiveCorm, host: string, spike: string, tenant: string | undefined): void {
    const allow = corm.cfg.allow;
    if (!allow) return;
    if (allow.hosts && host !== this.config.host && !allow.hosts.includes(host)) {
      throw new ControllerError('forbidden', `${host} may not attach ${spike} to ${corm.id}: the Corm admits hosts ${allow.hosts.join(', ')}`, { corm: corm.id, caller: host });
    }
    if (allow.tenants && (tenant === undefined || !allow.tenants.includes(tenant))) {
      throw new ControllerError('forbidden', `tenant ${tenant ?? '(none)'} of ${spike} may not attach to ${corm.id}: the Corm admits tenants ${allow.tenants.join(', ')}`, { corm: corm.id, caller: host });
    }
  }

  // ---- peer API ------------------------------------------------------------------

  async openCormEnd(caller: string, req: OpenCormEndRequest): Promise<OpenCormEndReply> {
    return this.serial.run(`wire:${req.wireId}`, async () => {
      if (!this.corms.has(req.corm)) throw new ControllerError('not-found', `no Corm ${this.config.host}/${req.corm} on this host`, { corm: req.corm });
      const spikeHost = req.spike.split('/')[0];
      if (spikeHost !== caller) throw new ControllerError('forbidden', `${caller} may not open a wire for ${req.spike}: a host wires only its own Spikes`, { caller });
      const rec = await this.records.registry.getHost(caller);
      if (!rec) throw new ControllerError('forbidden', `${caller} is not in the registry`, { caller });
      if (rec.underlay !== req.underlay.ip) {
        throw new ControllerError('forbidden', `underlay ${req.underlay.ip} does not match ${caller}'s registry record (${rec.underlay})`, { caller });
      }
      this.authorize(this.corms.get(req.corm)!, caller, req.spike, req.tenant);
      this.checkOwnPolicy(req.rdma ? 'rdma' : 'udp', caller);
      if (req.rdma && !this.rdmaDevice) throw new ControllerError('conflict', `rdma: ${this.config.host} has no active RDMA device`, { caller });
      // A Spike has one wire: an older end for it (its host restarted and lost track) goes.
      for (const [id, old] of this.desired.cormEnds) {
        if (old.spike !== req.spike || id === req.wireId) continue;
        this.desired.cormEnds.delete(id);
        await this.reconcile(`wire:${id}`);
        this.note('info', 'wire-replaced', { wire: id, by: req.wireId, spike: req.spike }, `wire ${id} replaced by ${req.wireId}`);
      }
      if (this.wireIdInUse(req.wireId)) throw new ControllerError('conflict', `wire id ${req.wireId} is in use on ${this.config.host}`, { wireId: req.wireId });
      const spec: CormEndSpec = {
        wireId: req.wireId, corm: req.corm, spike: req.spike, spikeMac: req.spikeMac, peerHost: caller, peer: req.underlay,
        ...(req.tenant === undefined ? {} : { tenant: req.tenant }),
        ...(req.rdma ? { rdma: req.rdma } : {}),
      };
      this.desired.cormEnds.set(req.wireId, spec);
      await this.reconcile(`wire:${req.wireId}`);
      const carrier = this.cormEnds.get(req.wireId)?.wire.carrier;
      return { underlay: this.underlayPeer(), endpoint: this.vfId(spec), ...(carrier ? { rdma: carrier.endpoint } : {}) };
    });
  }

  async closeCormEnd(caller: string, wireId: number): Promise<void> {
    await this.serial.run(`wire:${wireId}`, async () => {
      const spec = this.desired.cormEnds.get(wireId);
      if (!spec) throw new ControllerError('not-found', `no wire ${wireId} on ${this.config.host}`, { wireId });
      if (spec.peerHost !== caller) throw new ControllerError('forbidden', `wire ${wireId} belongs to ${spec.peerHost}, not ${caller}`, { wireId, caller });
      this.desired.cormEnds.delete(wireId);
      await this.reconcile(`wire:${wireId}`);
    });
  }

  // ---- hot-swap ---------------------------------------------------------------------

  /** Replaces a Spike's wire under traffic, make before break: the Corm's host and this one
   * prepare a new path (a new wire id), verify it with keepalives, cut over with drain
   * markers and drop the old path. The Spike, its port and the Corm's VF never change. */
  async swap(name: string, type: string | undefined): Promise<SwapView> {
    return this.serial.run(`spike:${name}`, async () => {
      const s = this.spikes.get(name);
      if (!s) throw new ControllerError('not-found', `no Spike ${this.config.host}/${name}`, { spike: name });
      return this.swapLocked(s, type);
    });
  }

  /** The swap itself, under the Spike's lock. udp and rdma swap into each other: a swap to
   * rdma opens a queue pair at each end (endpoints exchanged in the prepare step). */
  private async swapLocked(s: LiveSpike, type: string | undefined): Promise<SwapView> {
    const name = s.spec.name;
    if (!s.wire || !s.connect || !s.corm) throw new ControllerError('conflict', `Spike ${this.config.host}/${name} is not connected: there is no wire to swap`, { spike: name });
    const want = type ?? s.wire.type;
    const swappable = isSwappable(s.wire.type) && isSwappable(want);
    // Anything but udp -> udp asks placement: the type may be rejected (no device, a hold-down).
    if (!swappable || s.wire.type !== 'udp' || want !== 'udp') {
      const { explanation } = await this.placement(s.corm, s.mtu);
      const reason = explanation.candidates.find((c) => c.type === want)?.reason ?? (swappable ? undefined : this.unswappable(s, want));
      if (reason) throw new ControllerError('no-wire-fits', `cannot hot-swap ${s.wire.type} wire ${s.wire.wireId} to ${want}: ${reason}`, { spike: name, type: want }, explanation);
    }
    const wire = s.wire as UdpWire;
    const host = await this.records.registry.getHost(s.peerHost!);
    if (!host) throw new ControllerError('not-found', `host ${s.peerHost} of Corm ${s.corm} is not in the registry`, { corm: s.corm });
    const from = wire.wireId;
    const to = this.allocWireId();
    const carrier = want === 'rdma' ? this.openCarrier({ corm: s.corm }) : undefined;
    let adopted = false;
    const far = remoteSwapEnd(s.peerHost!, this.peer(host.controller, s.peerHost!), from, to, this.underlayPeer(), carrier?.endpoint);
    let near: ReturnType<typeof localSwapEnd> | undefined;
    const nearEnd = {
      name: this.config.host,
      prepare: async () => {
        let path: WirePathSettings;
        if (carrier) {
          const theirs = far.rdma();
          if (!theirs) throw new Error(`${s.peerHost} prepared without a queue pair`);
          carrier.connect(theirs);
          path = { wireId: to, carrier };
        } else path = await udpPathTo({ underlayPort: this.underlayPort, local: this.underlay, peer: far.underlay()!, wireId: to }, wire.type === 'udp' ? wire.path : undefined);
        near = localSwapEnd(this.config.host, wire, path);
        await near.prepare();
        adopted = true;
      },
      cutover: () => near!.cutover(),
      finish: () => near!.finish(),
      info: () => near!.info(),
    };
    let report: HotSwapReport;
    try {
      // The far end first: its reply carries the underlay (or queue pair) the near end needs.
      report = await runHotSwap(far, nearEnd);
    } catch (err) {
      // A queue pair the wire took is released with its abandoned path; one it never took, here.
      if (carrier && !adopted) this.engine.removeRdmaCarrier(carrier);
      const msg = err instanceof HotSwapError ? `${err.step} failed at ${err.end}: ${err.message}` : (err as Error).message;
      this.note('warn', 'wire-swap-failed', { wire: from, spike: name, corm: s.corm, err: msg }, `hot-swap of wire ${from} failed; it carries on unchanged`);
      const code = err instanceof ApiError && (err.status === 409 || err.status === 403 || err.status === 404) ? 'conflict' : 'peer-failed';
      throw new ControllerError(code, `hot-swap of wire ${from} failed (${msg}); the wire carries on unchanged`, { wireId: from, spike: name });
    }
    this.failedWires.delete(from);
    if (want !== s.connect.type) {
      // The wire is of another type now: that is what the Spike is connected with.
      s.connect = { ...s.connect, type: wire.type };
      this.desired.spikes.set(name, { spec: s.spec, connect: s.connect });
    }
    await this.publishSpike(name);
    const view: SwapView = { spike: `${this.config.host}/${name}`, corm: s.corm, type: wire.type, from, to, ...report };
    this.note('info', 'wire-swap', { ...view }, `wire ${from} hot-swapped to ${to} (${wire.type}) in ${(report.verifyMs + report.settleMs).toFixed(1)} ms`);
    return view;
  }

  /** Why a wire of this type cannot become `want` by hot-swap (placement did not say). */
  private unswappable(s: LiveSpike, want: string): string {
    if (want !== 'udp' && want !== 'local' && want !== 'rdma') return `${want}: not built in this version`;
    const where = s.wire?.type === 'local' ? 'the Corm is on this host, where no network wire runs' : `the Corm is on ${s.peerHost}, not on this host`;
    return `a ${s.wire?.type} wire cannot be swapped to ${want}: ${where}`;
  }

  /** A queue pair on this host's RDMA device, for a wire's new end. */
  private openCarrier(context: Record<string, string | number>): RdmaCarrier {
    if (!this.rdmaDevice) throw new ControllerError('conflict', `rdma: ${this.config.host} has no active RDMA device`, context);
    try {
      return this.engine.addRdmaCarrier({ device: this.rdmaDevice });
    } catch (err) {
      throw new ControllerError('dataplane-failed', `cannot open an RDMA queue pair on ${this.rdmaDevice}: ${(err as Error).message}`, context);
    }
  }

  /** This host's own wire policy, checked on what peers ask of it (they may hold a stale copy). */
  private checkOwnPolicy(type: WireType, caller: string): void {
    if (this.policy.forbid?.includes(type) || (this.policy.pin !== undefined && this.policy.pin !== type)) {
      throw new ControllerError('forbidden', `${type}: ${this.policy.pin ? `${this.config.host}'s policy pins ${this.policy.pin}` : `forbidden by ${this.config.host}'s policy`}`, { caller });
    }
  }

  private peerCormEnd(caller: string, wireId: number): LiveCormEnd {
    const e = this.cormEnds.get(wireId);
    if (!e) throw new ControllerError('not-found', `no wire ${wireId} on ${this.config.host}`, { wireId });
    if (e.spec.peerHost !== caller) throw new ControllerError('forbidden', `wire ${wireId} belongs to ${e.spec.peerHost}, not ${caller}`, { wireId, caller });
    return e;
  }

  /** One step of a hot-swap or a migration the Spike's host drives; the end stays under its
   * old id until finish (switch, for a migration). */
  async swapCormEnd(caller: string, wireId: number, req: PeerSwapStep): Promise<PeerPrepareReply | { queued: number; dropped: number; cormSwitchMs: number } | undefined> {
    return this.serial.run(`wire:${wireId}`, async () => {
      const e = this.peerCormEnd(caller, wireId);
      try {
        switch (req.step) {
          case 'prepare': {
            if (this.wireIdInUse(req.wireId)) throw new ControllerError('conflict', `wire id ${req.wireId} is in use on ${this.config.host}`, { wireId: req.wireId });
            if (req.to) await this.authorizeMove(e, caller, req.to, req.underlay);
            if (req.to && req.rdma) throw new ControllerError('conflict', `wire ${wireId}: a migration moves the Spike's end over udp, not rdma`, { wireId });
            this.checkOwnPolicy(req.rdma ? 'rdma' : 'udp', caller);
            const carrier = req.rdma ? this.openCarrier({ wireId }) : undefined;
            const since = process.hrtime.bigint();
            try {
              carrier?.connect(req.rdma!, { waitForPeer: true }); // the Spike end connects once we answer
              e.wire.prepareSwap(carrier
                ? { wireId: req.wireId, carrier }
                : await udpPathTo({ underlayPort: this.underlayPort, local: this.underlay, peer: req.underlay, wireId: req.wireId }, e.wire.type === 'udp' ? e.wire.path : undefined));
            } catch (err) {
              if (carrier) this.engine.removeRdmaCarrier(carrier);
              throw err;
            }
            this.swapsPrepared.set(wireId, since);
            if (req.rdma) this.swapsToRdma.set(wireId, req.rdma);
            if (req.to) this.moves.set(wireId, { to: req.to, peer: req.underlay });
            return { underlay: this.underlayPeer(), ...(carrier ? { rdma: carrier.endpoint } : {}) };
          }
          case 'cutover':
            e.wire.cutover();
            return undefined;
          case 'finish': {
            e.wire.finishSwap();
            this.swapsPrepared.delete(wireId);
            const rdma = this.swapsToRdma.get(wireId);
            this.swapsToRdma.delete(wireId);
            if (e.wire.wireId !== wireId) await this.rekeyCormEnd(e, wireId, undefined, rdma);
            return undefined;
          }
          case 'quiesce': {
            const move = this.requireMove(wireId);
            const c = e.wire.counters();
            move.queuedBefore = c.quiesce_queued;
            move.droppedBefore = c.drop_quiesce_full;
            e.wire.quiesce();
            this.note('info', 'wire-quiesced', { wire: wireId, spike: e.spec.spike, to: move.to.spike }, `wire ${wireId}: frames for ${e.spec.spike} are queued while it moves`);
            return undefined;
          }
          case 'switch': {
            // Cut over to the new host, drop the path to the old one, send what was queued.
            const move = this.requireMove(wireId);
            const t0 = performance.now();
            e.wire.switchOver();
            const cormSwitchMs = performance.now() - t0;
            const c = e.wire.counters();
            const queued = Number(c.quiesce_queued - (move.queuedBefore ?? c.quiesce_queued));
            const dropped = Number(c.drop_quiesce_full - (move.droppedBefore ?? c.drop_quiesce_full));
            this.moves.delete(wireId);
            this.swapsPrepared.delete(wireId);
            // Traffic flows already: the registry learns of the move after the reply.
            this.rekeyCormEnd(e, wireId, move).catch((err: unknown) => this.log.error({ event: 'rekey-failed', wire: wireId, err: (err as Error).message }, 'cannot record the moved endpoint'));
            return { queued, dropped, cormSwitchMs };
          }
          case 'abort': {
            const info = e.wire.swapInfo();
            if (info.phase === 'prepared') e.wire.finishSwap();
            if (info.quiesced) e.wire.resume();
            this.moves.delete(wireId);
            this.swapsPrepared.delete(wireId);
            this.swapsToRdma.delete(wireId);
            return undefined;
          }
        }
      } catch (err) {
        if (err instanceof ControllerError) throw err;
        const code = (err as { code?: string }).code;
        const conflict = code === 'EEXIST' || code === 'EBUSY' || code === 'EAGAIN' || code === 'EINVAL';
        throw new ControllerError(conflict ? 'conflict' : 'dataplane-failed', `wire ${wireId} ${req.step}: ${(err as Error).message}`, { wireId, step: req.step });
      }
    });
  }

  // ---- migration, source side (SpikeMover) ------------------------------------------

  /** Moves a Spike's backend to another host with its VM; see SpikeMover. */
  async migrate(name: string, to: string, phase: MigrationPhase, waitMs = 30_000): Promise<MigrationView> {
    return this.serial.run(`spike:${name}`, async () => {
      const s = this.spikes.get(name);
      if (!s) throw new ControllerError('not-found', `no Spike ${this.config.host}/${name}`, { spike: name });
      // A migration moves the wire's far end over udp: an rdma wire turns udp first, by hot-swap
      // (nothing lost); the target places it anew once the move has settled.
      if ((phase === 'prepare' || phase === 'all') && s.wire?.type === 'rdma' && !this.mover.moving(name)) await this.swapLocked(s, 'udp');
      try {
        return await this.mover.run(s, to, phase, waitMs);
      } finally {
        // A Spike that stays here with no move under way (aborted, or it failed to start) is
        // placed again once this lock is released: an rdma wire swapped to udp comes back.
        if (this.spikes.has(name) && !this.mover.moving(name)) setImmediate(() => void this.reevaluate(name).catch(() => undefined));
      }
    });
  }

  /** After a migration's resume: the Spike lives on the target now; its port (whose interface
   * left) and wire end (whose path the Corm dropped) go, with its records. */
  private async forgetMovedSpike(s: LiveSpike): Promise<void> {
    const name = s.spec.name;
    s.wire?.close();
    s.port.close();
    this.spikes.delete(name);
    this.desired.spikes.delete(name);
    this.requested.delete(name);
    this.blocked.delete(name);
    this.freeDomains.push(s.domain);
    await this.records.deleteEndpoint(`${this.config.host}/${name}`);
  }

  // ---- migration, target side ------------------------------------------------------

  /** Takes in a Spike that is about to move here with its VM: a domain and a wire end to its
   * Corm now, the port when the interface arrives (bindArriving). */
  async adoptSpike(caller: string, req: AdoptSpikeRequest): Promise<{ underlay: UnderlayPeer }> {
    return this.serial.run(`spike:${req.name}`, async () => {
      if (this.spikes.has(req.name) || this.arriving.has(req.name)) {
        throw new ControllerError('conflict', `${this.config.host} already has a Spike ${req.name}`, { spike: req.name });
      }
      const rec = await this.records.registry.getEndpoint(`${caller}/${req.name}`);
      if (!rec || rec.kind !== 'spike') throw new ControllerError('forbidden', `${caller} has no Spike ${req.name} to move here`, { caller, spike: req.name });
      const domain = this.freeDomains.pop() ?? this.nextDomain++;
      try {
        const wire = await openUdpEnd({ engine: this.engine, underlayPort: this.underlayPort, local: this.underlay, peer: req.cormUnderlay, wireId: req.wireId, domain, keepaliveMs: this.config.keepaliveMs });
        this.arriving.set(req.name, { req, from: caller, domain, wire });
      } catch (err) {
        this.freeDomains.push(domain);
        throw new ControllerError('dataplane-failed', `cannot open the wire end for arriving Spike ${req.name}: ${(err as Error).message}`, { spike: req.name });
      }
      this.note('info', 'spike-arriving', { spike: req.name, from: caller, wire: req.wireId, corm: req.corm }, `Spike ${req.name} is moving here from ${caller}`);
      return { underlay: this.underlayPeer() };
    });
  }

  private requireArriving(caller: string, name: string): ArrivingSpike {
    const a = this.arriving.get(name);
    if (!a) throw new ControllerError('not-found', `no Spike ${name} is moving to ${this.config.host}`, { spike: name });
    if (a.from !== caller) throw new ControllerError('forbidden', `Spike ${name} is moving here from ${a.from}, not ${caller}`, { spike: name, caller });
    return a;
  }

  arrivingInfo(caller: string, name: string): { wireState: string } {
    return { wireState: this.requireArriving(caller, name).wire.state() };
  }

  /** The interface is here: bind it (taking over the Banana XDP program the old host's engine
   * left on it) in the domain its wire end already sits in. */
  async bindArriving(caller: string, name: string): Promise<{ bindMs: number }> {
    return this.serial.run(`spike:${name}`, async () => {
      const a = this.requireArriving(caller, name);
      const t0 = performance.now();
      const spec: SpikeSpec = { name, ifname: a.req.ifname, netns: '', mac: a.req.mac, ...(a.req.tenant ? { tenant: a.req.tenant } : {}) };
      const link = await describeLink(this.config.netns, spec.ifname).catch((err: unknown) => {
        throw new ControllerError('conflict', `Spike ${name}: ${spec.ifname} has not arrived on ${this.config.host} yet (${(err as Error).message})`, { spike: name, ifname: spec.ifname });
      });
      let port: Port;
      try {
        port = this.engine.addPort({ ifname: spec.ifname, netns: this.config.netns, domain: a.domain, ringSize: this.config.spikes.ringSize, takeOverBananaXdp: true });
      } catch (err) {
        throw new ControllerError('dataplane-failed', `cannot bind arriving Spike ${name} to ${spec.ifname}: ${(err as Error).message}`, { spike: name });
      }
      const bindMs = performance.now() - t0;
      const connect: ConnectSpec = { corm: a.req.corm, type: 'udp' };
      this.arriving.delete(name);
      this.spikes.set(name, { spec, port, domain: a.domain, mtu: link.mtu, connect, wire: a.wire, corm: a.req.corm, peerHost: a.req.cormHost, peerUnderlay: a.req.cormUnderlay });
      this.desired.spikes.set(name, { spec, connect });
      this.requested.set(name, { corm: a.req.corm, type: a.req.requested, ...(a.req.network ? { network: a.req.network } : {}) });
      this.onBind({ netns: this.config.netns, ifname: spec.ifname });
      await this.publishSpike(name);
      this.note('info', 'spike-arrived', { spike: name, from: a.from, port: port.toString(), bindMs }, `Spike ${name} arrived from ${a.from}`);
      return { bindMs };
    });
  }

  /** The move is over (the old host let go): a Corm of the Spike's network may be closer here. */
  settleArrived(caller: string, name: string): void {
    const rec = this.spikes.get(name);
    if (!rec) throw new ControllerError('not-found', `no Spike ${this.config.host}/${name}`, { spike: name });
    // Placement runs again from here: the closest Corm of a network, the best type (an rdma wire
    // crossed over as udp).
    void this.reevaluate(name).catch((e: unknown) => this.log.error({ event: 're-evaluate-failed', spike: name, caller, err: (e as Error).message }, 're-evaluation failed'));
  }

  async dropArriving(caller: string, name: string): Promise<void> {
    await this.serial.run(`spike:${name}`, async () => {
      const a = this.requireArriving(caller, name);
      a.wire.close();
      this.freeDomains.push(a.domain);
      this.arriving.delete(name);
      this.note('info', 'spike-not-arriving', { spike: name, from: a.from }, `the move of Spike ${name} from ${a.from} was abandoned`);
    });
  }

  private requireMove(wireId: number): CormEndMove {
    const m = this.moves.get(wireId);
    if (!m) throw new ControllerError('conflict', `wire ${wireId} has no migration prepared`, { wireId });
    return m;
  }

  /** The Spike may move only to a registered host the Corm's policy admits, under its own name. */
  private async authorizeMove(e: LiveCormEnd, caller: string, to: { host: string; spike: string }, underlay: UnderlayPeer): Promise<void> {
    if (to.spike.split('/')[0] !== to.host || to.spike.split('/')[1] !== e.spec.spike.split('/')[1]) {
      throw new ControllerError('forbidden', `${caller} may move ${e.spec.spike} only to the same name on another host, not to ${to.spike}`, { caller });
    }
    const rec = await this.records.registry.getHost(to.host);
    if (!rec) throw new ControllerError('not-found', `host ${to.host} is not in the registry`, { host: to.host });
    if (rec.underlay !== underlay.ip) throw new ControllerError('forbidden', `underlay ${underlay.ip} does not match ${to.host}'s registry record (${rec.underlay})`, { caller });
    this.authorize(this.corms.get(e.spec.corm)!, to.host, to.spike, e.spec.tenant);
  }

  cormEndSwapInfo(caller: string, wireId: number): PeerSwapInfo {
    const e = this.peerCormEnd(caller, wireId);
    const i = e.wire.swapInfo();
    return { phase: i.phase, held: i.held, settled: i.settled, otherHeard: i.otherHeardSince(this.swapsPrepared.get(wireId) ?? 0n) };
  }

  /** After a swap the Corm end answers to its new wire id (desired state, registry record);
   * after a migration also to the Spike's new host. */
  private rekeyCormEnd(e: LiveCormEnd, oldId: number, move?: CormEndMove, rdma?: RdmaEndpoint): Promise<void> {
    const before = e.spec;
    const { rdma: _previous, ...kept } = before; // eslint-disable-line @typescript-eslint/no-unused-vars
    const spec: CormEndSpec = { ...kept, wireId: e.wire.wireId, ...(move ? { peerHost: move.to.host, spike: move.to.spike, peer: move.peer } : {}), ...(rdma ? { rdma } : {}) };
    this.cormEnds.delete(oldId);
    this.desired.cormEnds.delete(oldId);
    e.spec = spec;
    this.cormEnds.set(spec.wireId, e);
    this.desired.cormEnds.set(spec.wireId, spec);
    return this.recordRekey(before, spec, oldId, move);
  }

  private async recordRekey(before: CormEndSpec, spec: CormEndSpec, oldId: number, move?: CormEndMove): Promise<void> {
    if (this.vfId(before) !== this.vfId(spec)) await this.records.deleteEndpoint(this.vfId(before));
    await this.records.putEndpoint(this.vfRecord(spec));
    const fields = { from: oldId, to: spec.wireId, type: spec.rdma ? 'rdma' : 'udp', side: 'corm', spike: spec.spike, corm: `${this.config.host}/${spec.corm}` };
    if (move) this.note('info', 'spike-moved', { ...fields, fromSpike: before.spike }, `wire ${oldId} of ${before.spike} now ${spec.wireId} to ${spec.spike}`);
    else this.note('info', 'wire-swap', fields, `wire ${oldId} hot-swapped to ${spec.wireId}`);
  }

  // ---- views ----------------------------------------------------------------------

  hostView(): HostView {
    const u = this.underlay;
    return {
      name: this.config.host,
      labels: this.labels,
      policy: this.policy,
      controller: this.config.listen,
      underlay: { ifname: u.ifname, ip: u.ip, mac: u.mac, mtu: u.mtu, udpPort: this.config.underlay.udpPort, mode: this.underlayPort.mode, counters: countersView(this.underlayPort.counters()) },
      workers: this.engine.workers,
      rdma: this.rdmaFacts,
    };
  }

  cormViews(): CormView[] {
    return [...this.corms.values()].map((c) => ({
      id: c.id,
      ifname: c.cfg.ifname,
      mac: c.mac,
      mtu: c.mtu,
      mode: c.port.mode,
      queues: c.port.queues.length,
      endpoints: [
        ...[...this.cormEnds.values()].filter((e) => e.spec.corm === c.cfg.name).map((e) => e.spec.spike),
        ...[...this.spikes.values()].filter((s) => s.wire?.type === 'local' && s.corm === c.id).map((s) => `${this.config.host}/${s.spec.name}`),
      ].sort(),
      counters: countersView(c.port.counters()),
    }));
  }

  spikeViews(): SpikeView[] {
    return [...this.spikes.values()].map((s) => this.spikeView(s));
  }

  spikeView(s: LiveSpike): SpikeView {
    return {
      id: `${this.config.host}/${s.spec.name}`,
      ifname: s.spec.ifname,
      netns: s.spec.netns,
      mac: s.spec.mac,
      mode: s.port.mode,
      connect: s.connect ?? null,
      requested: this.requested.get(s.spec.name) ?? null,
      blocked: this.blocked.get(s.spec.name) ?? null,
      wire: s.wire?.wireId ?? null,
      counters: countersView(s.port.counters()),
    };
  }

  spike(name: string): SpikeView {
    const s = this.spikes.get(name);
    if (!s) throw new ControllerError('not-found', `no Spike ${this.config.host}/${name}`, { spike: name });
    return this.spikeView(s);
  }

  wireViews(): WireView[] {
    const out: WireView[] = [];
    for (const s of this.spikes.values()) {
      const v = this.wireViewOfSpike(s);
      if (v) out.push(v);
    }
    for (const e of this.cormEnds.values()) {
      out.push(this.wireView(e.wire, 'corm', e.spec.spike, `${this.config.host}/${e.spec.corm}`, e.spec.peerHost));
    }
    return out.sort((a, b) => a.id - b.id);
  }

  wire(id: number): WireView {
    const w = this.wireViews().find((v) => v.id === id);
    if (!w) throw new ControllerError('not-found', `no wire ${id} on ${this.config.host}`, { wireId: id });
    return w;
  }

  wireRtt(id: number, count: number, bytes: number): Promise<WireRttView> {
    const found = [...this.wireEnds()].find((w) => w.end.wireId === id);
    if (!found) throw new ControllerError('not-found', `no wire ${id} on ${this.config.host}`, { wireId: id });
    return measureWireEnd(found.end, count, bytes);
  }

  /** Logs an event and publishes it on the feed (the API's event stream). */
  private note(level: 'info' | 'warn', type: string, fields: Record<string, unknown>, msg: string): void {
    this.log[level]({ event: type, ...fields }, msg);
    // `type` names the event on the feed; a wire's type travels as wireType.
    const { type: wireType, ...rest } = fields;
    this.events.publish(type, { host: this.config.host, ...rest, ...(wireType === undefined ? {} : { wireType }) });
  }

  /** Wire ends change state on their own (keepalives): watch them and report every change. */
  private monitorWires(periodMs: number): void {
    const last = new Map<number, string>();
    const downSince = new Map<number, number>();
    this.monitor = setInterval(() => {
      const seen = new Set<number>();
      for (const w of this.wireEnds()) {
        seen.add(w.end.wireId);
        const state = w.end.state();
        // A Corm end whose Spike side has been silent for long is reaped: its host is gone or
        // lost track of it (a Spike host that comes back opens a fresh wire).
        if (w.side === 'corm' && state === 'down') {
          const since = downSince.get(w.end.wireId) ?? Date.now();
          downSince.set(w.end.wireId, since);
          if (Date.now() - since > this.config.cormEndReapMs) {
            downSince.delete(w.end.wireId);
            void this.reapCormEnd(w.end.wireId);
          }
        } else downSince.delete(w.end.wireId);
        // Every wire starts out connecting: a first look that finds it up is a change too.
        const was = last.get(w.end.wireId) ?? 'connecting';
        // A Spike that asked for a network fails over to another of its Corms at once.
        const name = w.spike.split('/')[1]!;
        if (w.side === 'spike' && state === 'down' && was !== 'down' && this.requested.get(name)?.network) {
          void this.reevaluate(name).catch((e: unknown) => this.log.error({ event: 'failover-failed', spike: name, err: (e as Error).message }, 'failover failed'));
        }
        if (w.side === 'corm' && was === 'connecting' && state === 'up') this.announceCormEnd(w.end.wireId);
        if (was !== state) {
          this.note(state === 'down' ? 'warn' : 'info', 'wire-state', { wire: w.end.wireId, type: w.end.type, side: w.side, from: was, to: state, spike: w.spike, corm: w.corm }, `wire ${w.end.wireId}: ${was} -> ${state}`);
        }
        last.set(w.end.wireId, state);
      }
      for (const id of last.keys()) if (!seen.has(id)) last.delete(id);
      for (const id of downSince.keys()) if (!seen.has(id)) downSince.delete(id);
    }, periodMs);
    this.monitor.unref();
  }

  // ---- rdma failover ----------------------------------------------------------------

  /** A queue pair failed (a completion with an error): its wire is dead. On the Spike's side
   * the wire fails over at once, without waiting for keepalives to time out: rdma to that
   * host is held down, and placement picks the next type (an explicit rdma request waits,
   * blocked, until the hold-down ends). The Corm's side waits for the Spike host's new wire. */
  private onQueueFailed(f: QueueFailure): void {
    const wire = f.wire;
    if (!wire || wire.carrier?.id !== f.portId) return; // a swapped-out or not yet used queue pair
    const spike = [...this.spikes.values()].find((s) => s.wire === wire);
    const end = [...this.cormEnds.values()].find((e) => e.wire === wire);
    const fields = { wire: wire.wireId, type: 'rdma', code: f.code, reason: f.message };
    if (end) this.note('warn', 'wire-failed', { ...fields, side: 'corm', spike: end.spec.spike, corm: `${this.config.host}/${end.spec.corm}` }, `wire ${wire.wireId}: its queue pair failed (${f.message})`);
    if (!spike || this.failedWires.has(wire.wireId)) return;
    this.failedWires.add(wire.wireId);
    if (spike.peerHost) this.rdmaHoldDown.fail(spike.peerHost, f.message);
    this.note('warn', 'wire-failed', { ...fields, side: 'spike', spike: `${this.config.host}/${spike.spec.name}`, corm: spike.corm ?? '' }, `wire ${wire.wireId}: its queue pair failed (${f.message}); failing over`);
    void this.reevaluate(spike.spec.name).catch((e: unknown) => this.log.error({ event: 'failover-failed', spike: spike.spec.name, err: (e as Error).message }, 'failover failed'));
  }

  /** rdma to `host` may be used again: Spikes wired to it (or waiting) are placed anew, and
   * those that failed over come back to rdma by hot-swap. */
  private rdmaHoldDownEnded(host: string): void {
    for (const [name, s] of this.spikes) {
      if (s.peerHost !== host && !this.blocked.has(name)) continue;
      void this.reevaluate(name).catch((e: unknown) => this.log.error({ event: 're-evaluate-failed', spike: name, err: (e as Error).message }, 're-evaluation failed'));
    }
  }

  private async reapCormEnd(wireId: number): Promise<void> {
    await this.serial.run(`wire:${wireId}`, async () => {
      const spec = this.desired.cormEnds.get(wireId);
      if (!spec) return;
      this.desired.cormEnds.delete(wireId);
      await this.reconcile(`wire:${wireId}`);
      this.note('warn', 'wire-reaped', { wire: wireId, spike: spec.spike, peer: spec.peerHost }, `wire ${wireId}: the Spike side has been silent for ${this.config.cormEndReapMs} ms; its Corm end is removed`);
    }).catch((e: unknown) => this.log.error({ event: 'reap-failed', wire: wireId, err: (e as Error).message }, 'cannot remove a dead Corm end'));
  }

  private *wireEnds(): Generator<{ end: WireEnd; side: 'spike' | 'corm'; spike: string; corm: string }> {
    for (const sp of this.spikes.values()) if (sp.wire) yield { end: sp.wire, side: 'spike', spike: `${this.config.host}/${sp.spec.name}`, corm: sp.corm ?? '' };
    for (const e of this.cormEnds.values()) yield { end: e.wire, side: 'corm', spike: e.spec.spike, corm: `${this.config.host}/${e.spec.corm}` };
  }

  // ---- metrics (read at scrape time from shared memory) ---------------------------------

  portSamples(): PortSample[] {
    return [
      { port: this.underlayPort.toString(), role: 'underlay' as const, counters: this.underlayPort.counters() },
      ...[...this.corms.values()].map((c) => ({ port: c.id, role: 'corm' as const, counters: c.port.counters() })),
      ...[...this.spikes.values()].map((sp) => ({ port: `${this.config.host}/${sp.spec.name}`, role: 'spike' as const, counters: sp.port.counters() })),
    ];
  }

  wireSamples(): WireSample[] {
    const out: WireSample[] = [];
    for (const sp of this.spikes.values()) {
      if (!sp.wire || sp.wire.type === 'local') continue; // a local wire's traffic is its Spike port's
      out.push({ wire: String(sp.wire.wireId), type: sp.wire.type, side: 'spike', spike: `${this.config.host}/${sp.spec.name}`, corm: sp.corm ?? '', up: sp.wire.state() === 'up', counters: sp.wire.counters() });
    }
    for (const e of this.cormEnds.values()) {
      out.push({ wire: String(e.spec.wireId), type: e.wire.type, side: 'corm', spike: e.spec.spike, corm: `${this.config.host}/${e.spec.corm}`, up: e.wire.state() === 'up', counters: e.wire.counters() });
    }
    return out;
  }

  workerSamples(): WorkerCounters[] {
    return Array.from({ length: this.engine.workers }, (_, w) => this.engine.workerCounters(w));
  }

  audit(): ReturnType<Engine['auditFrames']> {
    return this.engine.auditFrames();
  }

  // ---- reconciliation --------------------------------------------------------------

  private actualState(): HostState {
    const spikes = new Map<string, SpikeState>();
    for (const [name, s] of this.spikes) spikes.set(name, s.connect ? { spec: s.spec, connect: s.connect } : { spec: s.spec });
    const cormEnds = new Map<number, CormEndSpec>();
    for (const [id, e] of this.cormEnds) cormEnds.set(id, e.spec);
    return { spikes, cormEnds };
  }

  /** Applies the actions of one endpoint. On failure the desired state of that endpoint falls
   * back to what actually runs, so a failed request leaves nothing half-wanted behind. */
  private async reconcile(key: string): Promise<void> {
    const actions = plan(this.desired, this.actualState()).filter((a) => actionKey(a) === key);
    try {
      for (const a of actions) await this.apply(a);
    } catch (err) {
      const actual = this.actualState();
      if (key.startsWith('spike:')) this.restore(this.desired.spikes, actual.spikes, key.slice('spike:'.length));
      else this.restore(this.desired.cormEnds, actual.cormEnds, Number(key.slice('wire:'.length)));
      throw err;
    }
  }

  private restore<K, V>(desired: Map<K, V>, actual: ReadonlyMap<K, V>, k: K): void {
    const v = actual.get(k);
    if (v === undefined) desired.delete(k);
    else desired.set(k, v);
  }

  private async apply(a: Action): Promise<void> {
    this.log.debug({ event: 'action', ...a }, a.op);
    switch (a.op) {
      case 'add-spike':
        return this.addSpike(a.spec);
      case 'remove-spike':
        return this.removeSpike(a.name);
      case 'connect':
        return this.connectSpike(this.spikes.get(a.spike)!, a.to);
      case 'disconnect':
        return this.disconnectSpike(this.spikes.get(a.spike)!);
      case 'rewire':
        return this.rewireSpike(this.spikes.get(a.spike)!, a.to);
      case 'add-corm-end':
        return this.addCormEnd(a.spec);
      case 'remove-corm-end':
        return this.removeCormEnd(a.wireId);
    }
  }

  private async addSpike(spec: SpikeSpec): Promise<void> {
    const netns = spec.netns || this.config.netns;
    const link = await describeLink(netns, spec.ifname).catch((err: unknown) => {
      throw new ControllerError('not-found', `Spike ${spec.name}: ${(err as Error).message}`, { spike: spec.name, ifname: spec.ifname });
    });
    const domain = this.freeDomains.pop() ?? this.nextDomain++;
    let port: Port;
    try {
      port = this.engine.addPort({ ifname: spec.ifname, netns, domain, ringSize: this.config.spikes.ringSize });
    } catch (err) {
      this.freeDomains.push(domain);
      const full = (err as { context?: { code?: string } }).context?.code === 'ENOSPC';
      throw new ControllerError(full ? 'conflict' : 'dataplane-failed', `cannot bind Spike ${spec.name} to ${spec.ifname}: ${(err as Error).message}`, { spike: spec.name });
    }
    this.spikes.set(spec.name, { spec, port, domain, mtu: link.mtu });
    this.onBind({ netns, ifname: spec.ifname });
    await this.publishSpike(spec.name);
    this.note('info', 'spike-up', { spike: spec.name, port: port.toString(), mode: port.mode }, 'Spike up');
  }

  private async removeSpike(name: string): Promise<void> {
    const s = this.spikes.get(name)!;
    s.port.close();
    this.spikes.delete(name);
    this.freeDomains.push(s.domain);
    await this.records.deleteEndpoint(`${this.config.host}/${name}`);
    this.note('info', 'spike-down', { spike: name }, 'Spike removed');
  }

  /** Which wire type joins this host to the Corm, and where the Corm lives; every refusal
   * names the candidate and why it does not fit. */
  /** The placement decision between one of our Spikes and a Corm, with every candidate. */
  async explain(spikeName: string, cormId: string): Promise<Explanation> {
    const s = this.spikes.get(spikeName);
    if (!s) throw new ControllerError('not-found', `no Spike ${this.config.host}/${spikeName}`, { spike: spikeName });
    return (await this.placement(cormId, s.mtu)).explanation;
  }

  private async placement(cormId: string, innerMtu: number): Promise<{ explanation: Explanation; cormHost: string }> {
    const rec = await this.records.registry.getEndpoint(cormId);
    if (!rec || rec.kind !== 'corm' || cormId.split('/').length !== 2) {
      throw new ControllerError('not-found', `no Corm ${cormId} in the registry`, { corm: cormId });
    }
    let corm: EndCapabilities;
    if (rec.host === this.config.host) corm = this.capabilities();
    else {
      const host = await this.records.registry.getHost(rec.host);
      if (!host) throw new ControllerError('not-found', `host ${rec.host} of Corm ${cormId} is not in the registry`, { corm: cormId });
      corm = capabilitiesFromAttributes(rec.host, host.labels, rec.attributes);
    }
    const x = chooseWire(this.capabilities(), corm, innerMtu);
    const held = this.rdmaHoldDown.reason(rec.host);
    return { explanation: held ? withRejected(x, 'rdma', held) : x, cormHost: rec.host };
  }

  /** Which wire type joins a Spike to the Corm: the placement choice for `auto`, or the type
   * asked for if it is a usable candidate. A refusal carries the whole explanation. */
  private async resolveTarget(to: ConnectSpec, innerMtu: number, around: NetworkChoice = {}): Promise<ResolvedTarget> {
    if (to.network) return this.closestOnNetwork(to, innerMtu, around);
    const { explanation: x, cormHost } = await this.placement(to.corm, innerMtu);
    const type = to.type === 'auto' ? x.chosen : to.type;
    const lines = explainLines(x).join('\n');
    if (type === null) {
      const why = x.candidates.filter((c) => c.type !== 'tunnel').map((c) => c.reason).join('; ');
      throw new ControllerError('no-wire-fits', `no wire type fits ${to.corm} (${why})\n${lines}`, { corm: to.corm }, x);
    }
    const candidate = x.candidates.find((c) => c.type === type);
    if (candidate?.reason) throw new ControllerError('no-wire-fits', `${candidate.reason}\n${lines}`, { corm: to.corm }, x);
    if (type !== 'local' && type !== 'udp' && type !== 'rdma') throw new ControllerError('no-wire-fits', `${type}: not built in this version`, { corm: to.corm }, x);
    if (type === 'local' && !this.corms.has(to.corm.split('/')[1]!)) {
      throw new ControllerError('not-found', `Corm ${to.corm} is in the registry but not running on this host`, { corm: to.corm });
    }
    return { type, corm: to.corm, cormHost, proximity: x.proximity };
  }

  /** Any Corm on the device network: the closest that fits (same host, rack, cluster, site),
   * the current one on a tie so a Spike never flaps between equals, then by id. */
  private async closestOnNetwork(to: ConnectSpec, innerMtu: number, { current, avoid }: NetworkChoice): Promise<ResolvedTarget> {
    const corms = (await this.records.registry.listEndpoints({ kind: 'corm' })).filter((e) => e.attributes.network === to.network && e.id.split('/').length === 2 && e.id !== avoid);
    const rank: Record<Proximity, number> = { 'same-host': 0, 'same-rack': 1, 'same-cluster': 2, 'same-site': 3, remote: 4 };
    const fits: (ResolvedTarget & { rank: number })[] = [];
    const why: string[] = [];
    for (const c of corms) {
      try {
        const r = await this.resolveTarget({ corm: c.id, type: to.type }, innerMtu);
        fits.push({ ...r, rank: rank[r.proximity] });
      } catch (err) {
        why.push(`${c.id}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    fits.sort((a, b) => a.rank - b.rank || Number(b.corm === current) - Number(a.corm === current) || (a.corm < b.corm ? -1 : 1));
    const best = fits[0];
    if (!best) {
      const none = corms.length === 0 ? `no Corm on network ${to.network}${avoid ? ` besides ${avoid}` : ''} in the registry` : why.join('; ');
      throw new ControllerError('no-wire-fits', `no Corm on network ${to.network} fits (${none})`, { network: to.network ?? '' });
    }
    return best;
  }

  /** `leaving`: the local wire being replaced. A new udp wire then starts out receive-only in
   * that Corm's domain, next to the Spike's port, so what its Corm sends arrives while the old
   * Corm still serves the Spike; once the new Corm has announced the VM, both move over. */
  private async connectSpike(s: LiveSpike, to: ConnectSpec, leaving?: { wire: WireEnd; cormDomain: number }): Promise<void> {
    const { type, cormHost } = await this.resolveTarget(to, s.mtu);
    if (type === 'local') {
      leaving?.wire.close();
      this.connectLocal(s, to, this.corms.get(to.corm.split('/')[1]!)!);
    } else if (!leaving) await this.connectRemote(s, to, cormHost, type);
    else {
      await this.connectRemote(s, to, cormHost, type, leaving.cormDomain);
      const fresh = this.spikes.get(s.spec.name)!.wire as UdpWire;
      // The Corm's host announces the VM once it hears this end (its monitor, every 20 ms).
      const deadline = Date.now() + 2000;
      while (fresh.state() !== 'up' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      await new Promise((r) => setTimeout(r, 3 * WIRE_MONITOR_MS));
      leaving.wire.close();
      this.engine.setDomain(fresh, s.domain);
      this.engine.setReceiveOnly(fresh, false);
    }
    await this.publishSpike(s.spec.name);
    this.note('info', 'wire-up', { wire: s.wire!.wireId, type, spike: s.spec.name, corm: to.corm }, `${type} wire to ${to.corm}`);
  }

  private connectLocal(s: LiveSpike, to: ConnectSpec, corm: LiveCorm): void {
    this.authorize(corm, this.config.host, `${this.config.host}/${s.spec.name}`, s.spec.tenant);
    const wireId = this.allocWireId();
    s.wire = new LocalWire({ wireId, engine: this.engine, spikePort: s.port, spikeDomain: s.domain, cormDomain: corm.domain, mtu: Math.min(s.mtu, corm.mtu) });
    this.engine.learnMac(s.port, s.spec.mac);
    this.announce(corm, s.spec.mac);
    s.connect = to;
    s.corm = corm.id;
    delete s.peerHost;
  }

  /** A wire to a Corm on another host: `udp` over the underlays, or `rdma` over a queue pair
   * each (their endpoints exchanged in the same authenticated peer request). */
  private async connectRemote(s: LiveSpike, to: ConnectSpec, cormHost: string, type: 'udp' | 'rdma', besideIn?: number): Promise<void> {
    const host = await this.records.registry.getHost(cormHost);
    if (!host) throw new ControllerError('not-found', `host ${cormHost} of Corm ${to.corm} is not in the registry`, { corm: to.corm });
    const peer = this.peer(host.controller, cormHost);
    const carrier = type === 'rdma' ? this.openCarrier({ corm: to.corm }) : undefined;
    const dropCarrier = () => {
      if (carrier && !carrier.connected) this.engine.removeRdmaCarrier(carrier);
    };
    let reply: OpenCormEndReply | undefined;
    let wireId = 0;
    for (let attempt = 0; !reply; attempt++) {
      wireId = this.allocWireId();
      const body: OpenCormEndRequest = {
        wireId, corm: to.corm.split('/')[1]!, spike: `${this.config.host}/${s.spec.name}`, spikeMac: s.spec.mac, underlay: this.underlayPeer(),
        ...(s.spec.tenant === undefined ? {} : { tenant: s.spec.tenant }),
        ...(carrier ? { rdma: carrier.endpoint } : {}),
      };
      try {
        reply = await peer.request<OpenCormEndReply>('POST', '/v1/peer/wires', body);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409 && attempt < 4)) dropCarrier();
        // Wire ids are random: a clash with one of the peer's is rare and worth a retry.
        if (err instanceof ApiError && err.status === 409 && attempt < 4) continue;
        if (err instanceof ApiError && err.status === 403) {
          throw new ControllerError('forbidden', `${cormHost} refused: ${reasonOf(err)}`, { corm: to.corm, peer: cormHost });
        }
        // The peer may have opened its end before the reply was lost (a timeout): close it.
        if (!(err instanceof ApiError) || err.status === 0) void peer.request('DELETE', `/v1/peer/wires/${wireId}`).catch(() => undefined);
        throw new ControllerError('peer-failed', `${cormHost} refused to open the Corm end: ${(err as Error).message}`, { corm: to.corm, peer: cormHost });
      }
    }
    try {
      const domain = besideIn ?? s.domain;
      if (carrier) {
        if (!reply.rdma) throw new Error(`${cormHost} answered without its queue pair's endpoint`);
        carrier.connect(reply.rdma);
        s.wire = this.engine.addRdmaWire({ carrier, wireId, domain, keepaliveMs: this.config.keepaliveMs });
      } else {
        s.wire = await openUdpEnd({ engine: this.engine, underlayPort: this.underlayPort, local: this.underlay, peer: reply.underlay, wireId, domain, keepaliveMs: this.config.keepaliveMs });
      }
      if (besideIn !== undefined) this.engine.setReceiveOnly(s.wire as UdpWire, true);
    } catch (err) {
      if (carrier && !s.wire) this.engine.removeRdmaCarrier(carrier);
      await peer.request('DELETE', `/v1/peer/wires/${wireId}`).catch(() => undefined);
      throw new ControllerError('dataplane-failed', `cannot open the Spike end of wire ${wireId}: ${(err as Error).message}`, { wireId });
    }
    s.connect = to;
    s.corm = to.corm;
    s.peerHost = cormHost;
    s.peerUnderlay = reply.underlay;
  }

  /** Another Corm (or wire type), make before break: the old wire turns receive-only, the new
   * one is connected (its Corm announces the VM's MAC on its segment), and the old one keeps
   * delivering what was already on its way for REWIRE_TAIL_MS before it goes. A local wire has
   * no tail: frames still heading for its Corm after the announce are lost (counted there). */
  private async rewireSpike(s: LiveSpike, to: ConnectSpec): Promise<void> {
    const old = { wire: s.wire, connect: s.connect, corm: s.corm, peerHost: s.peerHost, peerUnderlay: s.peerUnderlay };
    const tail = old.wire && old.wire.type !== 'local' && !old.wire.closed ? (old.wire as UdpWire) : undefined;
    if (tail) this.engine.setReceiveOnly(tail, true);
    const leavingLocal = old.wire?.type === 'local' && old.corm ? { wire: old.wire, cormDomain: this.corms.get(old.corm.split('/')[1]!)!.domain } : undefined;
    delete s.wire;
    delete s.connect;
    delete s.corm;
    delete s.peerHost;
    delete s.peerUnderlay;
    try {
      await this.connectSpike(s, to, leavingLocal);
    } catch (err) {
      // The old wire carries on where it still can (a local one is only closed once the new is up).
      if (tail) this.engine.setReceiveOnly(tail, false);
      if (old.wire && !old.wire.closed) Object.assign(s, old);
      else await this.publishSpike(s.spec.name);
      throw err;
    }
    if (!tail) return;
    // The tail delivers to wherever the Spike's port is now (a local Corm's domain, or its own).
    const domain = this.spikes.get(s.spec.name)?.wire?.type === 'local' ? this.corms.get(to.corm.split('/')[1]!)!.domain : s.domain;
    if (tail.domain !== domain) this.engine.setDomain(tail, domain);
    const timer = setTimeout(() => void this.dropTail(tail, old.peerHost), REWIRE_TAIL_MS);
    timer.unref();
  }

  private async dropTail(tail: UdpWire, peerHost: string | undefined): Promise<void> {
    const { wireId } = tail;
    const rx = tail.closed ? 0n : tail.counters().rx_packets;
    tail.close();
    this.failedWires.delete(wireId);
    this.note('info', 'wire-down', { wire: wireId, type: tail.type, tail: true, rxPackets: Number(rx) }, `replaced wire ${wireId} closed after its tail`);
    const host = peerHost ? await this.records.registry.getHost(peerHost) : undefined;
    if (host) await this.peer(host.controller, peerHost!).request('DELETE', `/v1/peer/wires/${wireId}`).catch(() => undefined);
  }

  private announceCormEnd(wireId: number): void {
    const e = this.cormEnds.get(wireId);
    const corm = e && this.corms.get(e.spec.corm);
    if (e && corm) this.announce(corm, e.spec.spikeMac);
  }

  /** Tells the Corm's segment that the Spike's MAC is behind this NIC now. */
  private announce(corm: LiveCorm, mac: string): void {
    try {
      announceMac(this.config.netns, corm.cfg.ifname, mac, 1);
    } catch (err) {
      this.note('warn', 'announce-failed', { corm: corm.id, mac, err: (err as Error).message }, 'cannot announce a MAC on the Corm segment');
    }
  }

  private async disconnectSpike(s: LiveSpike): Promise<void> {
    const wire = s.wire;
    const peerHost = s.peerHost;
    if (wire) {
      wire.close();
      this.failedWires.delete(wire.wireId);
    }
    delete s.wire;
    delete s.connect;
    delete s.corm;
    delete s.peerHost;
    await this.publishSpike(s.spec.name);
    if (wire && wire.type !== 'local' && peerHost) {
      const host = await this.records.registry.getHost(peerHost);
      try {
        if (!host) throw new Error(`${peerHost} is not in the registry`);
        await this.peer(host.controller, peerHost).request('DELETE', `/v1/peer/wires/${wire.wireId}`);
      } catch (err) {
        // Our end is gone either way; the peer's end sees our keepalives stop.
        this.note('warn', 'peer-disconnect-failed', { wire: wire.wireId, peer: peerHost, err: (err as Error).message }, 'peer did not close its end');
      }
    }
    if (wire) this.note('info', 'wire-down', { wire: wire.wireId, type: wire.type, spike: s.spec.name }, 'wire disconnected');
  }

  private async addCormEnd(spec: CormEndSpec): Promise<void> {
    const corm = this.corms.get(spec.corm)!;
    let wire: UdpWire;
    try {
      wire = spec.rdma
        ? this.openRdmaCormEnd(spec.rdma, spec.wireId, corm.domain)
        : await openUdpEnd({ engine: this.engine, underlayPort: this.underlayPort, local: this.underlay, peer: spec.peer, wireId: spec.wireId, domain: corm.domain, keepaliveMs: this.config.keepaliveMs });
    } catch (err) {
      throw new ControllerError('dataplane-failed', `cannot open the Corm end of wire ${spec.wireId}: ${(err as Error).message}`, { wireId: spec.wireId });
    }
    this.cormEnds.set(spec.wireId, { spec, wire });
    // The VM's address is behind this endpoint now, wherever the Corm saw it before (its
    // broadcasts reached this NIC's segment through another Corm). The segment is told once
    // the wire is up both ways (monitorWires): before that, frames drawn here would be lost.
    this.engine.learnMac(wire, spec.spikeMac);
    await this.records.putEndpoint(this.vfRecord(spec));
    this.note('info', 'wire-up', { wire: spec.wireId, type: wire.type, corm: corm.id, spike: spec.spike }, `${wire.type} wire from ${spec.spike}`);
  }

  /** The Corm end of an rdma wire: a queue pair connected to the Spike end's. */
  private openRdmaCormEnd(spikeEnd: RdmaEndpoint, wireId: number, domain: number): UdpWire {
    const carrier = this.openCarrier({ wireId });
    try {
      carrier.connect(spikeEnd, { waitForPeer: true }); // the Spike end connects once we answer
      return this.engine.addRdmaWire({ carrier, wireId, domain, keepaliveMs: this.config.keepaliveMs });
    } catch (err) {
      this.engine.removeRdmaCarrier(carrier);
      throw err;
    }
  }

  private async removeCormEnd(wireId: number): Promise<void> {
    const e = this.cormEnds.get(wireId)!;
    e.wire.close();
    this.cormEnds.delete(wireId);
    await this.records.deleteEndpoint(this.vfId(e.spec));
    this.note('info', 'wire-down', { wire: wireId, type: e.wire.type, spike: e.spec.spike }, 'wire disconnected by peer');
  }

  // ---- helpers ----------------------------------------------------------------------

  private requireSpike(name: string): SpikeState {
    const s = this.desired.spikes.get(name);
    if (!s) throw new ControllerError('not-found', `no Spike ${this.config.host}/${name}`, { spike: name });
    return s;
  }

  /** The Corm's software VF for one Spike: `<host>/<corm>/<spike host>.<spike name>`. */
  private vfId(spec: CormEndSpec): string {
    return `${this.config.host}/${spec.corm}/${spec.spike.replace('/', '.')}`;
  }

  private vfRecord(spec: CormEndSpec): EndpointRecord {
    return { id: this.vfId(spec), kind: 'corm', host: this.config.host, mac: spec.spikeMac, attributes: { spike: spec.spike, wire: spec.rdma ? 'rdma' : 'udp', wireId: String(spec.wireId) } };
  }

  private underlayPeer(): UnderlayPeer {
    return { ip: this.underlay.ip, mtu: this.underlay.mtu, udpPort: this.config.underlay.udpPort };
  }

  private peer(address: string, host: string): ApiClient {
    return new ApiClient({ address, secret: this.config.secret, caller: this.config.host, ...(this.config.tls ? { tls: this.config.tls, peerName: host } : {}) });
  }

  private wireIdInUse(id: number): boolean {
    return this.cormEnds.has(id) || [...this.spikes.values()].some((s) => s.wire?.wireId === id);
  }

  private allocWireId(): number {
    for (;;) {
      const id = randomInt(1, 2 ** 32 - 1);
      if (!this.wireIdInUse(id)) return id;
    }
  }

  private wireViewOfSpike(s: LiveSpike): WireView | undefined {
    if (!s.wire) return undefined;
    const side = s.wire.type === 'local' ? 'both' : 'spike';
    return this.wireView(s.wire, side, `${this.config.host}/${s.spec.name}`, s.corm!, s.peerHost ?? null);
  }

  private wireView(w: WireEnd, side: WireView['side'], spike: string, corm: string, peerHost: string | null): WireView {
    const c = w.counters();
    const v: WireView = { id: w.wireId, type: w.type, side, spike, corm, peerHost, state: w.state(), mtu: w.mtu, counters: countersView(c) };
    if (w.type !== 'local') {
      v.sequence = { gaps: Number(c.wire_seq_gaps), late: Number(c.wire_seq_late), keepaliveRx: Number(c.keepalive_rx), keepaliveTx: Number(c.keepalive_tx) };
    }
    const carrier = w.type === 'rdma' ? (w as UdpWire).carrier : undefined;
    if (carrier) {
      const q = carrier.counters();
      v.rdma = {
        device: carrier.device, remote: carrier.remote, creditWrites: Number(q.rdma_credit_writes), creditWaits: Number(q.rdma_credit_waits), noCredit: Number(q.rdma_no_credit),
        recvPosted: Number(q.rdma_recv_posted), wcErrors: Number(q.rdma_wc_errors), counters: countersView(q),
      };
    }
    return v;
  }
}
