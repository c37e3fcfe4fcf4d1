/** The source side of a migration (Banana + Netbus): a Spike's backend moves to another host
 * with its VM, in the phases a VM manager drives through this host's API:
 *   prepare  the target takes the Spike in (a wire end to the Corm), the Corm prepares and
 *            verifies a path to it;
 *   quiesce  the Corm queues what is sent to the VM;
 *   [the VM's interface moves]
 *   attach   the target binds it (still down is fine: then the switch is the cutover alone);
 *   switch   the Corm moves to the target and sends the queue (binding first if not attached);
 *   resume   this host lets go.
 * `abort` undoes prepare and quiesce on both peers. Every phase is reported (event and view). */
import type { UdpWire, Port } from '../dataplane/lib/index.js';
import type { UnderlayPeer } from '../wires/udp/udp-end.js';
import type { WireEnd } from '../wires/wire.js';
import { ApiError, reasonOf, type ApiClient } from './api/api-client.js';
import { ControllerError } from './controller-error.js';
import type { MigrationView } from './model/views.js';
import type { ConnectSpec, SpikeSpec } from './model/specs.js';
import type { AdoptSpikeRequest } from './peer-messages.js';
import type { PeerSwapInfo } from './remote-swap-end.js';
import type { Registry } from './registry/index.js';

export type MigrationPhase = 'prepare' | 'quiesce' | 'attach' | 'switch' | 'resume' | 'abort' | 'all';

/** What the mover needs of the Spike being moved. */
export interface MovingSpike {
  spec: SpikeSpec;
  port: Port;
  wire?: WireEnd;
  corm?: string;
  peerHost?: string;
  peerUnderlay?: UnderlayPeer;
}

/** What the mover needs of its host controller. */
export interface MoverHost {
  hostName(): string;
  registry(): Registry;
  peer(address: string, host: string): ApiClient;
  allocWireId(): number;
  requested(spike: string): ConnectSpec | undefined;
  /** The Spike has moved away: drop it here. */
  forget(s: MovingSpike): Promise<void>;
  note(level: 'info' | 'warn', type: string, fields: Record<string, unknown>, msg: string): void;
}

/** A migration this host (the Spike's current one) drives. */
interface Migration {
  view: MigrationView;
  target: ApiClient;
  corm: ApiClient;
  quiescedAt?: number;
  dropsBefore?: bigint;
}

export class SpikeMover {
  /** Migrations of this host's Spikes, by name, until done or aborted. */
  private readonly migrations = new Map<string, Migration>();

  constructor(private readonly host: MoverHost) {}

  /** A migration of this Spike is under way (prepared, not yet done or aborted). */
  moving(name: string): boolean {
    return this.migrations.has(name);
  }

  /** Runs one phase (or, for `all`, every phase left, waiting up to waitMs for the interface
   * after quiesce). The caller serializes calls per Spike. */
  async run(s: MovingSpike, to: string, phase: MigrationPhase, waitMs: number): Promise<MigrationView> {
    const name = s.spec.name;
    let m = this.migrations.get(name);
    if (m && m.view.to !== to) throw new ControllerError('conflict', `Spike ${name} is already moving to ${m.view.to} (${m.view.phase})`, { spike: name });
    // `all` goes on from wherever a phased migration stands.
    const all: MigrationPhase[] = ['prepare', 'quiesce', 'switch', 'resume'];
    const reached = m ? { prepared: 1, quiesced: 2, attached: 2, switched: 3, done: 4, aborted: 4 }[m.view.phase] : 0;
    const steps: MigrationPhase[] = phase === 'all' ? all.slice(reached) : [phase];
    for (const step of steps) {
      if (step === 'prepare') m = await this.prepare(s, to);
      else {
        if (!m) throw new ControllerError('conflict', `Spike ${name} has no migration to ${to} prepared`, { spike: name });
        await this.step(s, m, step, phase === 'all' ? waitMs : 0);
      }
    }
    return { ...m!.view };
  }

  private async prepare(s: MovingSpike, to: string): Promise<Migration> {
    const name = s.spec.name;
    if (this.migrations.has(name)) throw new ControllerError('conflict', `Spike ${name} is already moving to ${this.migrations.get(name)!.view.to}`, { spike: name });
    if (to === this.host.hostName()) throw new ControllerError('bad-request', `Spike ${name} is on ${to} already`, { spike: name });
    if (!s.wire || s.wire.type !== 'udp' || !s.corm || !s.peerHost || !s.peerUnderlay) {
      throw new ControllerError('conflict', `Spike ${name} has no udp wire to a Corm on another host: a migration moves such a wire's far end (${s.wire ? `it has a ${s.wire.type} wire` : 'it is not connected'})`, { spike: name });
    }
    const [target, cormHost] = await Promise.all([this.host.registry().getHost(to), this.host.registry().getHost(s.peerHost)]);
    if (!target) throw new ControllerError('not-found', `host ${to} is not in the registry`, { host: to });
    if (!cormHost) throw new ControllerError('not-found', `host ${s.peerHost} of Corm ${s.corm} is not in the registry`, { host: s.peerHost });
    const wire = s.wire as UdpWire;
    const m: Migration = {
      target: this.host.peer(target.controller, to),
      corm: this.host.peer(cormHost.controller, s.peerHost),
      view: {
        spike: `${this.host.hostName()}/${name}`, from: this.host.hostName(), to, corm: s.corm, phase: 'prepared', wire: { from: wire.wireId, to: this.host.allocWireId() },
        queued: null, dropped: null, lostAtSource: null, gapMs: null, switchMs: null, cormSwitchMs: null, bindMs: null,
      },
    };
    const want = this.host.requested(name);
    const adopt: AdoptSpikeRequest = {
      name, ifname: s.spec.ifname, mac: s.spec.mac, corm: s.corm, cormHost: s.peerHost, requested: want?.type ?? 'udp', wireId: m.view.wire.to, cormUnderlay: s.peerUnderlay,
      ...(s.spec.tenant ? { tenant: s.spec.tenant } : {}),
      ...(want?.network ? { network: want.network } : {}),
    };
    const path = `/v1/peer/wires/${m.view.wire.from}/swap`;
    const fail = async (step: string, err: unknown): Promise<never> => {
      await Promise.allSettled([m.corm.request('POST', path, { step: 'abort' }), m.target.request('DELETE', `/v1/peer/spikes/${name}`)]);
      const status = err instanceof ApiError ? err.status : 0;
      const reason = reasonOf(err);
      throw new ControllerError(status === 403 ? 'forbidden' : status === 404 ? 'not-found' : status === 409 ? 'conflict' : 'peer-failed', `migration of ${name} to ${to}: ${step} failed: ${reason}; nothing moved`, { spike: name, to });
    };
    let underlay: UnderlayPeer;
    try {
      underlay = (await m.target.request<{ underlay: UnderlayPeer }>('POST', '/v1/peer/spikes', adopt)).underlay;
    } catch (err) {
      return fail(`${to} taking the Spike in`, err);
    }
    try {
      await m.corm.request('POST', path, { step: 'prepare', wireId: m.view.wire.to, underlay, to: { host: to, spike: `${to}/${name}` } });
      const deadline = Date.now() + 2000;
      for (;;) {
        const [c, t] = await Promise.all([m.corm.request<PeerSwapInfo>('GET', path), m.target.request<{ wireState: string }>('GET', `/v1/peer/spikes/${name}`)]);
        if (c.otherHeard && t.wireState === 'up') break;
        if (Date.now() > deadline) throw new Error(`the path ${s.peerHost} <-> ${to} carried no keepalive within 2 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
    } catch (err) {
      return fail(`${s.peerHost} preparing a path to ${to}`, err);
    }
    this.migrations.set(name, m);
    this.host.note('info', 'migration', { ...m.view }, `Spike ${name}: migration to ${to} prepared`);
    return m;
  }

  private async step(s: MovingSpike, m: Migration, step: MigrationPhase, waitMs: number): Promise<void> {
    const name = s.spec.name;
    const path = `/v1/peer/wires/${m.view.wire.from}/swap`;
    const need = (phase: MigrationView['phase']) => {
      if (m.view.phase !== phase) throw new ControllerError('conflict', `Spike ${name}: cannot ${step} a migration that is ${m.view.phase}`, { spike: name, phase: m.view.phase });
    };
    switch (step) {
      case 'quiesce': {
        need('prepared');
        m.dropsBefore = this.sourceDrops(s);
        await m.corm.request('POST', path, { step: 'quiesce' });
        m.quiescedAt = performance.now();
        m.view.phase = 'quiesced';
        break;
      }
      case 'attach': {
        need('quiesced');
        await this.attach(m, name, waitMs);
        m.view.phase = 'attached';
        break;
      }
      case 'switch': {
        // Attached already (the interface was bound on the target before it came up): the
        // switch is hostA's cutover alone. Otherwise the target binds it first.
        const t0 = performance.now();
        if (m.view.phase === 'quiesced') await this.attach(m, name, waitMs);
        else need('attached');
        const r = await m.corm.request<{ queued: number; dropped: number; cormSwitchMs: number }>('POST', path, { step: 'switch' });
        const done = performance.now();
        Object.assign(m.view, { phase: 'switched', queued: r.queued, dropped: r.dropped, switchMs: done - t0, cormSwitchMs: r.cormSwitchMs, gapMs: m.quiescedAt === undefined ? null : done - m.quiescedAt });
        break;
      }
      case 'resume': {
        need('switched');
        m.view.lostAtSource = Number(this.sourceDrops(s) - (m.dropsBefore ?? 0n));
        // The Corm has dropped the path to us: our end and the port of the interface that left go.
        await this.host.forget(s);
        await m.target.request('POST', `/v1/peer/spikes/${name}/settle`).catch(() => undefined);
        m.view.phase = 'done';
        this.migrations.delete(name);
        break;
      }
      case 'abort': {
        if (m.view.phase === 'switched' || m.view.phase === 'attached') {
          throw new ControllerError('conflict', `Spike ${name} is ${m.view.phase} on ${m.view.to}: go on with ${m.view.phase === 'attached' ? 'switch' : 'resume'}`, { spike: name });
        }
        await Promise.allSettled([m.corm.request('POST', path, { step: 'abort' }), m.target.request('DELETE', `/v1/peer/spikes/${name}`)]);
        m.view.phase = 'aborted';
        this.migrations.delete(name);
        break;
      }
      default:
        throw new ControllerError('bad-request', `unknown migration phase ${step}`, { spike: name });
    }
    this.host.note(m.view.phase === 'aborted' ? 'warn' : 'info', 'migration', { ...m.view }, `Spike ${name}: migration to ${m.view.to} ${m.view.phase}`);
  }

  /** The target binds the moved interface (up or not yet); with waitMs, it is waited for
   * (the target answers 409 until it has arrived). */
  private async attach(m: Migration, name: string, waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        m.view.bindMs = (await m.target.request<{ bindMs: number }>('POST', `/v1/peer/spikes/${name}/bind`)).bindMs;
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409) || Date.now() > deadline) {
          const why = reasonOf(err);
          throw new ControllerError(err instanceof ApiError && err.status === 409 ? 'conflict' : 'peer-failed', `Spike ${name}: ${m.view.to} cannot bind it: ${why}; still quiesced (retry, or abort)`, { spike: name });
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  /** Frames for the VM this host could not deliver any more: its interface left. */
  private sourceDrops(s: MovingSpike): bigint {
    const c = s.port.counters();
    return c.drop_port_down + c.drop_tx_ring_full;
  }
}
