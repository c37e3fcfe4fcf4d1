// Running commands, optionally inside a network namespace.
//
// We enter namespaces with `nsenter --net=/run/netns/NAME` rather than
// `ip netns exec NAME`: the latter also unshares the mount namespace and
// remounts /sys, which hides bpffs and breaks anything that pins BPF objects
// (the AF_XDP dataplane does). nsenter without --pid does not fork, so the
// pid of a spawned child is the pid of the command itself and signals reach it.
//
// No shell anywhere: argv goes to execFile/spawn verbatim, so names and
// addresses never need quoting.

import { execFile, execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { CommandError } from './errors.js';

export { CommandError } from './errors.js';

export const NETNS_DIR = '/run/netns';

/** Where `ip netns add NAME` mounts the namespace. */
export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export interface ExecOptions {
  /** Namespace name (as in `ip netns list`); undefined runs in the caller's namespace. */
  netns?: string;
  /** Kill the command after this long. Default 30 000 ms: a hung `ip` must not hang the suite. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed (e.g. for `ip -batch -`). */
  input?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// Error-text matching (CommandError.isGone) relies on untranslated messages.
const ENV = { ...process.env, LC_ALL: 'C' };

/** The actual file and args to execute for argv in netns. */
function resolve(argv: readonly string[], netns: string | undefined): [string, string[]] {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('empty argv');
  if (netns === undefined) return [file, args];
  return ['nsenter', [`--net=${netnsPath(netns)}`, '--', file, ...args]];
}

/** Runs argv to completion and returns its stdout. Rejects with CommandError on any failure. */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const [file, args] = resolve(argv, opts.netns);
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      file,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, env: ENV },
      (err, stdout, stderr) => {
        if (!err) {
          resolvePromise(stdout);
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals | null };
        const exitCode = typeof e.code === 'number' ? e.code : null;
        const started = typeof e.code !== 'string';
        reject(
          new CommandError({
            argv,
            netns: opts.netns,
            exitCode,
            signal: e.signal ?? null,
            stdout,
            stderr,
            timedOut: e.killed === true && exitCode === null,
            ...(started ? {} : { cause: err }),
          }),
        );
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/**
 * Synchronous run, for process 'exit' and signal handlers where the event loop
 * is gone. Same error contract as run().
 */
export function runSync(argv: readonly string[], opts: Omit<ExecOptions, 'input'> = {}): string {
  const [file, args] = resolve(argv, opts.netns);
  try {
    return execFileSync(file, args, {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { status?: number | null; signal?: NodeJS.Signals | null; stdout?: string; stderr?: string };
    throw new CommandError({
      argv,
      netns: opts.netns,
      exitCode: e.status ?? null,
      signal: e.signal ?? null,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
      timedOut: e.code === 'ETIMEDOUT',
      ...(typeof e.status === 'number' || e.signal ? {} : { cause: e }),
    });
  }
}

export interface SpawnOptions {
  netns?: string;
  /** Default: stdin ignored, stdout/stderr piped. Read the pipes or the child stalls once they fill. */
  stdio?: StdioOptions;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Starts a long-running command (iperf3 -s, a traffic generator, the daemon).
 * The caller owns the ChildProcess; Netns.spawn() additionally kills it on close.
 */
export function spawnIn(argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const [file, args] = resolve(argv, opts.netns);
  return spawn(file, args, {
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? ENV,
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  });
}

/** Whether a child has already exited (exit code or signal known). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when child exits or after timeoutMs; returns whether it exited. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve(true);
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolvePromise(hasExited(child));
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolvePromise(true);
    };
    child.once('exit', onExit);
  });
}
