// The owner of everything a test (or a bench run, or the demo) builds.
//
// Every resource is created through a TestBed, named with its run prefix, and
// pushed on a stack; close() pops the stack, so links go before the namespaces
// holding them and a host goes after the VMs attached to it. A crashed test
// still cleans up: the process 'exit' and SIGINT/SIGTERM handlers tear down
// every live bed synchronously, and anything that survives a SIGKILL is
// removed by sweepStale() when the next bed is created.

import { isMainThread } from 'node:worker_threads';
import { Bridge, type BridgeSettings } from './bridge.js';
import { ClosedError, CloseError, CommandError } from './errors.js';
import { createVeth, type VethEnd, type VethPair } from './link.js';
import { PREFIX_FAMILY, checkNetnsName, claimPrefix, releasePrefix, releasePrefixSync, sweepStale, type SweepReport } from './names.js';
import { Netns, type NetnsSettings } from './netns.js';

export interface TestBedSettings {
  /** Remove leftovers of dead runs before starting. Default true. */
  sweep?: boolean;
  /** Prefix family (the part before the 3 random characters). Default `bn`. */
  family?: string;
}

/** Anything the bed can tear down. closeSync is the emergency path used at process exit. */
export interface Closable {
  close(): Promise<void>;
  closeSync?(): void;
}

interface Owned {
  label: string;
  resource: Closable;
}

export class TestBed {
  readonly #owned: Owned[] = [];
  #closing: Promise<void> | undefined;
  #closed = false;
  // Above what the kernel picks for lo, bridges and the like in a fresh namespace.
  #nextIfindex = 100;

  private constructor(
    /** Run prefix, e.g. `bn4kz`; every namespace is `<prefix>-<name>`. */
    readonly prefix: string,
    /** What the creation-time sweep removed (empty when sweep was off). */
    readonly sweepReport: SweepReport,
  ) {}

  static async create(settings: TestBedSettings = {}): Promise<TestBed> {
    const family = settings.family ?? PREFIX_FAMILY;
    const report: SweepReport = (settings.sweep ?? true)
      ? await sweepStale(family)
      : { prefixes: [], netns: [], links: [], pids: [], errors: [] };
    const bed = new TestBed(await claimPrefix(family), report);
    installExitHandlers();
    liveBeds.add(bed);
    return bed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Full namespace name for a short one: `hostA` -> `bn4kz-hostA`. */
  nsName(name: string): string {
    return `${this.prefix}-${checkNetnsName(name)}`;
  }

  /** Namespaces this bed created and has not closed yet, oldest first. */
  namespaces(): Netns[] {
    return this.#owned.map((o) => o.resource).filter((r): r is Netns => r instanceof Netns && !r.closed);
  }

  /** Registers an extra resource (a helper process wrapper, a temp bridge) to close with the bed. */
  own<T extends Closable>(resource: T, label: string): T {
    this.#assertOpen();
    this.#owned.push({ label, resource });
    return resource;
  }

  /** Creates namespace `<prefix>-<name>` owned by this bed. */
  async createNetns(name: string, settings?: NetnsSettings): Promise<Netns> {
    this.#assertOpen();
    const ns = await Netns.create(this.nsName(name), settings);
    return this.own(ns, ns.toString());
  }

  /** Creates a veth pair; ends without an explicit ifindex get one unique within the bed (see VethEnd.ifindex). */
  async createVeth(a: VethEnd, b: VethEnd): Promise<VethPair> {
    this.#assertOpen();
    const pair = await createVeth({ ...a, ifindex: a.ifindex ?? this.#nextIfindex++ }, { ...b, ifindex: b.ifindex ?? this.#nextIfindex++ });
    return this.own(pair, pair.toString());
  }

  async createBridge(ns: Netns, name: string, settings?: BridgeSettings): Promise<Bridge> {
    this.#assertOpen();
    const br = await Bridge.create(ns, name, settings);
    return this.own(br, br.toString());
  }

  /**
   * Tears everything down in reverse creation order. Already-gone resources
   * count as closed; real failures are collected and thrown together as a
   * CloseError after every resource was tried. Idempotent: later calls return
   * the first call's promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    this.#closed = true;
    const failures: { label: string; error: unknown }[] = [];
    for (const { label, resource } of this.#owned.splice(0).reverse()) {
      try {
        await resource.close();
      } catch (error) {
        if (!(error instanceof CommandError && error.isGone)) failures.push({ label, error });
      }
    }
    await releasePrefix(this.prefix).catch((error: unknown) => failures.push({ label: 'marker', error }));
    liveBeds.delete(this);
    if (failures.length > 0) throw new CloseError(this.prefix, failures);
  }

  /**
   * Emergency teardown with no event loop (process 'exit', signals): kills
   * and deletes namespaces, which takes their links and bridges with them.
   */
  closeSync(): void {
    this.#closed = true;
    for (const { resource } of this.#owned.splice(0).reverse()) {
      try {
        resource.closeSync?.();
      } catch {
        // best effort; sweepStale() gets the rest next run
      }
    }
    releasePrefixSync(this.prefix);
    liveBeds.delete(this);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`test bed ${this.prefix}`);
  }
}

const liveBeds = new Set<TestBed>();
let handlersInstalled = false;
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

function closeAllSync(): void {
  for (const bed of [...liveBeds]) bed.closeSync();
}

function onSignal(signal: NodeJS.Signals): void {
  closeAllSync();
  // Our listener replaced Node's default "terminate". If nobody else handles
  // the signal, step aside and re-raise it so the process still dies with it.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

/** Installed once per process, on first TestBed.create(). */
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', closeAllSync);
  // Signal events are never delivered to worker threads (vitest's threads pool).
  if (isMainThread) for (const s of SIGNALS) process.on(s, onSignal);
}
