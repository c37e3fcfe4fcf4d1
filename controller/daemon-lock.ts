/** One bananad per host: a pid file in the run directory names the daemon and the interfaces
 * it drives. A daemon that finds the file of a live one refuses to start; one that finds the
 * file of a dead one (killed, crashed) removes the XDP programs it left on those interfaces,
 * which are ours by name, before taking them over: a restart after kill -9 just works, and a
 * foreign program is never touched. */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';

const execFileP = promisify(execFile);
/** The kernel keeps 15 characters of a BPF program's name: ours is banana_xsk_redirect. */
const OUR_PROGRAM = 'banana_xsk_redi';

export class DaemonLockError extends Error {
  constructor(message: string, readonly file: string) {
    super(`${message} [${file}]`);
    this.name = 'DaemonLockError';
  }
}

interface Driven {
  netns: string;
  ifname: string;
}

interface LockContent {
  pid: number;
  interfaces: Driven[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ip(netns: string, args: string[]): Promise<string> {
  return (await execFileP('ip', netns ? ['-n', netns, ...args] : args)).stdout;
}

async function ourProgram(d: Driven): Promise<number | undefined> {
  try {
    const links = JSON.parse(await ip(d.netns, ['-j', '-d', 'link', 'show', 'dev', d.ifname])) as { xdp?: { prog?: { name?: string; id?: number } } }[];
    const prog = links[0]?.xdp?.prog;
    return prog?.name === OUR_PROGRAM ? (prog.id ?? 0) : undefined;
  } catch {
    return undefined; // the interface is gone
  }
}

export class DaemonLock {
  private readonly interfaces: Driven[];

  private constructor(readonly file: string, interfaces: Driven[]) {
    this.interfaces = interfaces;
  }

  /** Takes the host's lock, cleaning up after a dead predecessor. */
  static async acquire(runDir: string, host: string, interfaces: Driven[], log: Logger): Promise<DaemonLock> {
    mkdirSync(runDir, { recursive: true });
    const file = join(runDir, `bananad-${host}.json`);
    let prev: LockContent | undefined;
    try {
      prev = JSON.parse(readFileSync(file, 'utf8')) as LockContent;
    } catch {
      prev = undefined;
    }
    if (prev && prev.pid !== process.pid && alive(prev.pid)) throw new DaemonLockError(`bananad for ${host} already runs (pid ${prev.pid})`, file);
    for (const d of prev?.interfaces ?? []) {
      const id = await ourProgram(d);
      if (id === undefined) continue;
      // Whatever mode it was attached in: drv, then generic.
      for (const mode of ['xdp', 'xdpgeneric']) {
        if ((await ourProgram(d)) === undefined) break;
        await ip(d.netns, ['link', 'set', 'dev', d.ifname, mode, 'off']).catch(() => undefined);
      }
      log.warn({ event: 'stale-xdp-removed', ifname: d.ifname, netns: d.netns, prog: id, deadPid: prev?.pid }, `removed the XDP program a dead bananad left on ${d.ifname}`);
    }
    const lock = new DaemonLock(file, [...interfaces]);
    lock.write();
    return lock;
  }

  /** Interfaces bound later (Spikes) join the list a successor would clean. */
  add(d: Driven): void {
    if (!this.interfaces.some((x) => x.netns === d.netns && x.ifname === d.ifname)) this.interfaces.push(d);
    this.write();
  }

  private write(): void {
    writeFileSync(this.file, JSON.stringify({ pid: process.pid, interfaces: this.interfaces } satisfies LockContent));
  }

  release(): void {
    rmSync(this.file, { force: true });
  }
}
