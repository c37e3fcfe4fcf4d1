/** A lock shared by every process that writes one store directory.
 *
 * Why a lock file (open with O_CREAT|O_EXCL) and not flock(2): Node's standard library has no
 * flock, and the registry must not need a native addon or a new dependency. O_EXCL creation is
 * atomic on local filesystems (tmpfs, ext4, xfs), which is all that namespaces on one machine share.
 * The price is that a holder that dies keeps the lock: the file therefore names its holder's pid,
 * and a waiter breaks a lock whose holder no longer exists. Namespaces here are network
 * namespaces only; all processes share one pid namespace, so the pid check is meaningful.
 * Because a dead holder's pid can be reused, a lock older than staleAfterMs (far longer than
 * any critical section, which takes well under a millisecond) is broken too.
 *
 * The critical section is synchronous (see atomic-file.ts), so the lock is never held across
 * an event-loop turn: callers in one process never contend with each other, only with other
 * processes, and only waiting (not holding) is asynchronous. */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { RegistryError, ioError } from './errors.js';

export interface FileLockSettings {
  /** Give up (reason 'lock-timeout') after waiting this long. */
  readonly timeoutMs: number;
  /** A lock file without a pid (its holder died between creating and writing it) is stale after this. Default 2000 ms. */
  readonly emptyStaleMs?: number;
  /** Any lock is stale after this, even if a process with its pid exists (pid reuse). Default 30000 ms. */
  readonly staleAfterMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return code(e) !== 'ESRCH';
  }
}

const holderPid = (content: string): number | undefined => {
  const pid = Number(content.split(' ')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
};

export class FileLock {
  constructor(
    readonly path: string,
    private readonly settings: FileLockSettings,
  ) {}

  /** Waits for the lock, runs the synchronous critical section fn, releases the lock. */
  async with<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.settings.timeoutMs;
    let delay = 0.25;
    for (;;) {
      const holder = this.tryAcquire();
      if (holder === 'acquired') break;
      if (holder === 'gone') continue;
      if (Date.now() > deadline) {
        throw new RegistryError('lock-timeout', `store lock still held after ${this.settings.timeoutMs} ms`, { path: this.path, pid: holder });
      }
      // Jittered backoff, capped low: critical sections are short, so a waiter that sleeps
      // long only wastes the time the lock sits free.
      await sleep(delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 4);
    }
    try {
      return fn();
    } finally {
      try {
        unlinkSync(this.path);
      } catch {
        // already broken by someone who judged us dead; nothing to release
      }
    }
  }

  /** 'acquired'; 'gone' if the lock vanished (or was broken) and is worth retrying at once;
   * else the holder's pid (undefined if the file names none). */
  private tryAcquire(): 'acquired' | 'gone' | number | undefined {
    try {
      writeFileSync(this.path, `${process.pid} ${randomBytes(8).toString('hex')} ${new Date().toISOString()}\n`, { flag: 'wx' });
      return 'acquired';
    } catch (e) {
      if (code(e) !== 'EEXIST') throw ioError('lock', e, { path: this.path });
    }
    let content: string;
    let ageMs: number;
    try {
      content = readFileSync(this.path, 'utf8');
      ageMs = Date.now() - statSync(this.path).mtimeMs;
    } catch (e) {
      if (code(e) === 'ENOENT') return 'gone';
      throw ioError('lock', e, { path: this.path });
    }
    const pid = holderPid(content);
    const stale =
      ageMs > (this.settings.staleAfterMs ?? 30_000) || (pid !== undefined ? !processExists(pid) : ageMs > (this.settings.emptyStaleMs ?? 2000));
    return stale ? this.breakStale(content) : pid;
  }

  // Rename rather than unlink: if two waiters judge the same stale file, only one rename
  // succeeds, and the winner can check that it moved the file it judged and not a lock
  // someone took in between (which it then puts back).
  private breakStale(judged: string): 'gone' | number | undefined {
    const aside = `${this.path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(this.path, aside);
    } catch (e) {
      if (code(e) === 'ENOENT') return 'gone';
      throw ioError('lock', e, { path: this.path });
    }
    let moved = '';
    try {
      moved = readFileSync(aside, 'utf8');
      if (moved !== judged) linkSync(aside, this.path);
    } catch {
      // link fails only if a third process took the lock meanwhile; it holds it now
    }
    try {
      unlinkSync(aside);
    } catch {
      // nothing left to clean
    }
    return moved === judged ? 'gone' : holderPid(moved);
  }
}
