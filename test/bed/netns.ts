// One network namespace: a simulated host, VM, or the fabric.

import { existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { CommandError, ClosedError } from './errors.js';
import { hasExited, netnsPath, run, runSync, spawnIn, waitExit, type ExecOptions, type SpawnOptions } from './exec.js';
import { netnsPids, netnsPidsSync } from './names.js';

export interface NetnsSettings {
  /** Bring `lo` up. Default true: many tools (iperf3 control, local sockets) expect it. */
  loopbackUp?: boolean;
  /** Applied in order right after creation, before any interface exists, so `default.*` keys reach later devices. */
  sysctls?: Readonly<Record<string, string | number>>;
}

/** How long close() lets spawned processes react to SIGTERM before SIGKILL. */
const TERM_GRACE_MS = 1000;

export class Netns {
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #children = new Set<ChildProcess>();

  private constructor(readonly name: string) {}

  /** Creates namespace `name` (the full name, prefix included). Unwinds on failure. */
  static async create(name: string, settings: NetnsSettings = {}): Promise<Netns> {
    await run(['ip', 'netns', 'add', name]);
    const ns = new Netns(name);
    try {
      if (settings.loopbackUp ?? true) await ns.exec(['ip', 'link', 'set', 'dev', 'lo', 'up']);
      for (const [k, v] of Object.entries(settings.sysctls ?? {})) await ns.sysctl(k, v);
    } catch (err) {
      await ns.close().catch(() => undefined);
      throw err;
    }
    return ns;
  }

  /** Bind-mount path, for `nsenter --net=` or setns(2) in native code. */
  get path(): string {
    return netnsPath(this.name);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Still mounted under /run/netns (false after close or an external `ip netns del`). */
  exists(): boolean {
    return existsSync(this.path);
  }

  /** Runs argv inside this namespace and returns stdout. */
  exec(argv: readonly string[], opts: Omit<ExecOptions, 'netns'> = {}): Promise<string> {
    if (this.#closed) return Promise.reject(new ClosedError(`netns ${this.name}`));
    return run(argv, { ...opts, netns: this.name });
  }

  /** Starts a long-running process inside this namespace; close() kills it if it is still running. */
  spawn(argv: readonly string[], opts: Omit<SpawnOptions, 'netns'> = {}): ChildProcess {
    if (this.#closed) throw new ClosedError(`netns ${this.name}`);
    const child = spawnIn(argv, { ...opts, netns: this.name });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    // A spawn failure surfaces as 'exit' too; without a listener 'error' would crash the test process.
    child.once('error', () => this.#children.delete(child));
    return child;
  }

  /** Sets a sysctl as seen from this namespace (net.* keys are per namespace). */
  async sysctl(key: string, value: string | number): Promise<void> {
    await this.exec(['sysctl', '-q', '-w', `${key}=${value}`]);
  }

  async readSysctl(key: string): Promise<string> {
    return (await this.exec(['sysctl', '-n', key])).trim();
  }

  /** Pids of every process living in this namespace, spawned here or not. */
  pids(): Promise<number[]> {
    return netnsPids(this.name);
  }

  /**
   * Kills what runs inside (spawned children get SIGTERM then SIGKILL; strays
   * such as daemonised servers get SIGKILL), then deletes the namespace. A
   * process left inside would keep the namespace and its veths alive after the
   * mount is gone, invisible to `ip netns list`. Idempotent; a namespace that
   * is already gone is not an error.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    const children = [...this.#children].filter((c) => !hasExited(c));
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map(async (c) => {
        if (!(await waitExit(c, TERM_GRACE_MS))) {
          c.kill('SIGKILL');
          await waitExit(c, TERM_GRACE_MS);
        }
      }),
    );
    if (!this.exists()) return;
    for (const pid of await netnsPids(this.name).catch(() => [])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    try {
      await run(['ip', 'netns', 'del', this.name]);
    } catch (err) {
      if (!(err instanceof CommandError && err.isGone)) throw err;
    }
  }

  /** Best-effort synchronous teardown for process exit and signal handlers. */
  closeSync(): void {
    this.#closed = true;
    for (const c of this.#children) if (!hasExited(c)) c.kill('SIGKILL');
    if (!this.exists()) return;
    for (const pid of netnsPidsSync(this.name)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    try {
      runSync(['ip', 'netns', 'del', this.name]);
    } catch {
      // nothing more can be done while exiting; sweepStale() catches it next run
    }
  }

  toString(): string {
    return `netns ${this.name}`;
  }
}
