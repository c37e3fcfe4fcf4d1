/**
 * Typed wrapper around the native `banana-traffic` tool (see README.md in
 * this directory). Every function spawns the binary, passes options as CLI
 * flags and parses the single JSON line it prints on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Subcommand = 'send' | 'recv' | 'reflect' | 'rtt';

export interface CommonOptions {
  /** Interface to bind to (inside `netns` if given). */
  ifname: string;
  /** Network namespace name under /run/netns; the tool setns()es into it. */
  netns?: string;
  /** Run it on another host: the command prefix that gets there (`['ssh', 'node2']`)
   * and the tool's path on that host (default: this one's). */
  on?: RemoteHost;
}

export interface RemoteHost {
  exec: string[];
  bin?: string;
}

/** A tool on another host outlives the local end of its prefix (ssh) when that is stopped:
 * it runs under `timeout`, which ends it there at the latest after this long. */
const REMOTE_LIMIT_S = 900;

/** Stops a tool on another host: SIGTERM to the processes there whose command line holds
 * `pattern` (stopping the local ssh would leave it running). */
export function stopRemote(on: RemoteHost, pattern: string): Promise<void> {
  return new Promise((resolve) => {
    const k = spawn(on.exec[0]!, [...on.exec.slice(1), 'pkill', '-TERM', '-f', pattern], { stdio: 'ignore' });
    k.once('error', () => resolve());
    k.once('close', () => resolve());
  });
}

/** argv that runs `bin args` on `on`'s host (or here). */
export function remoteArgv(on: RemoteHost | undefined, bin: string, args: string[]): string[] {
  if (!on || on.exec.length === 0) return [bin, ...args];
  return [...on.exec, 'timeout', '--preserve-status', String(REMOTE_LIMIT_S), bin, ...args];
}

export interface SendOptions extends CommonOptions {
  srcMac: string;
  dstMac: string;
  /** Ethernet frame length without FCS, 60..9000 (default 64). */
  size?: number;
  /** Frames to send. At least one of `count` / `durationMs` is required. */
  count?: number;
  durationMs?: number;
  /** Packets per second; 0 or undefined = as fast as possible. */
  rate?: number;
  flow?: number;
  /** Frames per sendmmsg() call (default 64). */
  batch?: number;
  startSeq?: number | bigint;
  qdiscBypass?: boolean;
  /**
   * `af-packet` (default): sendmmsg() on an AF_PACKET socket.
   * `xdp-live`: BPF_PROG_RUN live frames, ~2x faster, per-frame timestamps
   * (kernel >= 5.18; no `rate`; `batch` <= 256; for a veth the peer needs NAPI:
   * an XDP program attached or GRO enabled, else frames are silently dropped).
   */
  backend?: 'af-packet' | 'xdp-live';
  /** Pin the sender to this CPU (`taskset -c`); default: not pinned. */
  cpu?: number;
}

export interface RecvOptions extends CommonOptions {
  /** Only frames of this flow are counted (default 0); others are `foreign`. */
  flow?: number;
  /** Expected unique frames: `lost = expect - unique`, exit once reached. */
  expect?: number;
  durationMs?: number;
  /** Stop after this long without a matching frame once one was seen (default 500, 0 = never). */
  idleMs?: number;
  /** With `expect`: keep counting this long after it is reached (late duplicates). */
  lingerMs?: number;
  /** How long to wait for `ready` on stderr (default 10000). */
  readyTimeoutMs?: number;
}

export interface ReflectOptions extends CommonOptions {
  /** Only reflect this flow (default: every flow). */
  flow?: number;
  batch?: number;
  qdiscBypass?: boolean;
  readyTimeoutMs?: number;
}

export interface RttOptions extends CommonOptions {
  srcMac: string;
  dstMac: string;
  size?: number;
  /** Measured probes (default 1000). */
  count?: number;
  /** Unmeasured probes sent first (default 10). */
  warmup?: number;
  /** Minimum gap between probe starts (default 0). */
  intervalUs?: number;
  /** Per-probe reply timeout (default 1000). */
  timeoutMs?: number;
  flow?: number;
  startSeq?: number | bigint;
  /** Spin on the socket instead of sleeping in poll() (lower, steadier RTT). */
  busyPoll?: boolean;
  qdiscBypass?: boolean;
}

/** Latency percentiles in nanoseconds (log-linear histogram, <= ~3% error). */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface SendResult {
  mode: 'send';
  sent: number;
  elapsedNs: number;
  pps: number;
  retries: number;
}

export interface RecvResult {
  mode: 'recv';
  received: number;
  unique: number;
  duplicated: number;
  reordered: number;
  lost: number;
  foreign: number;
  firstSeq: number;
  lastSeq: number;
  elapsedNs: number;
  pps: number;
  /** Frames the kernel dropped because the receive ring was full. */
  ringDrops: number;
  latencyNs: Percentiles;
}

export interface ReflectResult {
  mode: 'reflect';
  reflected: number;
  foreign: number;
  retries: number;
}

/** A histogram's non-empty buckets, ascending: `[upper bound (inclusive), count]`. */
export type HistogramBins = [upper: number, count: number][];

export interface RttResult {
  mode: 'rtt';
  sent: number;
  received: number;
  lost: number;
  rttNs: Percentiles & { min: number };
  /** The round trips' log-linear histogram in ns (counts sum to `received`). */
  hist: HistogramBins;
}

export interface Receiver {
  readonly pid: number;
  /** SIGINT, then the JSON summary. */
  stop(): Promise<RecvResult>;
  /** Wait for the receiver to exit on its own (expect / idle / duration). */
  done(): Promise<RecvResult>;
  /** SIGKILL without a result; for cleanup paths. */
  kill(): void;
}

export interface Reflector {
  readonly pid: number;
  /** SIGTERM, then the JSON summary. */
  stop(): Promise<ReflectResult>;
  kill(): void;
}

/** The tool failed: non-zero exit, killed by a signal, or unparsable output. */
export class TrafficToolError extends Error {
  constructor(
    message: string,
    readonly subcommand: Subcommand,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'TrafficToolError';
  }
}

function findRepoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return join(here, '..', '..');
    dir = parent;
  }
}

/** Path of the binary: $BANANA_TRAFFIC_BIN, else dataplane/build/Release/banana-traffic. */
export function trafficBinary(): string {
  const override = process.env.BANANA_TRAFFIC_BIN;
  if (override) return override;
  return join(findRepoRoot(), 'dataplane', 'build', 'Release', 'banana-traffic');
}

// ---- argument building ------------------------------------------------------

type ArgValue = string | number | bigint | boolean | undefined;

function buildArgs(sub: Subcommand, opts: Record<string, ArgValue>): string[] {
  const args: string[] = [sub];
  for (const [flag, value] of Object.entries(opts)) {
    if (value === undefined || value === false) continue;
    if (value === true) args.push(`--${flag}`);
    else args.push(`--${flag}`, String(value));
  }
  return args;
}

const common = (o: CommonOptions): Record<string, ArgValue> => ({ ifname: o.ifname, netns: o.netns });

// ---- process handling ---------------------------------------------------------

interface Run {
  child: ChildProcess;
  args: string[];
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startTool(sub: Subcommand, args: string[], cpu?: number, on?: RemoteHost): Run {
  const tool = remoteArgv(on, on?.bin ?? trafficBinary(), args);
  const argv = cpu === undefined ? tool : ['taskset', '-c', String(cpu), ...tool];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (e) => {
      reject(new TrafficToolError(`banana-traffic ${sub}: ${e.message}`, sub, args, null, null, err));
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // Avoid unhandled rejections when nobody awaits `exit` (e.g. after kill()).
  exit.catch(() => undefined);
  return { child, args, stdout: () => out, stderr: () => err, exit };
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numbers<K extends string>(o: Json, keys: readonly K[]): Record<K, number> | undefined {
  const out = {} as Record<K, number>;
  for (const k of keys) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
    out[k] = v;
  }
  return out;
}

const PCT_KEYS = ['p50', 'p90', 'p99', 'p999', 'max'] as const;

function parsePercentiles(v: unknown): Percentiles | undefined {
  return isObject(v) ? numbers(v, PCT_KEYS) : undefined;
}

function parseSend(o: Json): SendResult | undefined {
  const n = numbers(o, ['sent', 'elapsedNs', 'pps', 'retries'] as const);
  return n && { mode: 'send', ...n };
}

function parseRecv(o: Json): RecvResult | undefined {
  const n = numbers(o, [
    'received', 'unique', 'duplicated', 'reordered', 'lost', 'foreign',
    'firstSeq', 'lastSeq', 'elapsedNs', 'pps', 'ringDrops',
  ] as const);
  const latencyNs = parsePercentiles(o.latencyNs);
  return n && latencyNs && { mode: 'recv', ...n, latencyNs };
}

function parseReflect(o: Json): ReflectResult | undefined {
  const n = numbers(o, ['reflected', 'foreign', 'retries'] as const);
  return n && { mode: 'reflect', ...n };
}

function parseBins(v: unknown): HistogramBins | undefined {
  if (!Array.isArray(v)) return undefined;
  const isBin = (b: unknown): b is [number, number] =>
    Array.isArray(b) && b.length === 2 && b.every((x) => typeof x === 'number' && Number.isFinite(x));
  return v.every(isBin) ? v : undefined;
}

function parseRtt(o: Json): RttResult | undefined {
  const n = numbers(o, ['sent', 'received', 'lost'] as const);
  const pct = parsePercentiles(o.rttNs);
  const min = isObject(o.rttNs) ? numbers(o.rttNs, ['min'] as const) : undefined;
  const hist = parseBins(o.hist);
  return n && pct && min && hist && { mode: 'rtt', ...n, rttNs: { ...pct, ...min }, hist };
}

async function finish<T>(sub: Subcommand, run: Run, parse: (o: Json) => T | undefined): Promise<T> {
  const { code, signal } = await run.exit;
  const fail = (why: string): TrafficToolError => {
    const detail = run.stderr().trim();
    return new TrafficToolError(
      `banana-traffic ${sub} ${why}${detail ? `: ${detail}` : ''}`,
      sub, run.args, code, signal, run.stderr(),
    );
  };
  if (code !== 0) throw fail(signal ? `killed by ${signal}` : `exited with code ${String(code)}`);
  const line = run.stdout().trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw fail(`printed no JSON result (stdout: ${JSON.stringify(line)})`);
  }
  if (!isObject(parsed) || parsed.mode !== sub) throw fail(`printed an unexpected result: ${line}`);
  const result = parse(parsed);
  if (result === undefined) throw fail(`printed a malformed result: ${line}`);
  return result;
}

/** Resolves once the tool wrote `ready` on stderr; rejects if it exits first. */
function waitReady(sub: Subcommand, run: Run, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (/^ready$/m.test(run.stderr())) {
        cleanup();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      run.child.kill('SIGKILL');
      reject(new TrafficToolError(
        `banana-traffic ${sub} not ready after ${timeoutMs} ms`,
        sub, run.args, null, null, run.stderr(),
      ));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      run.child.stderr?.off('data', check);
    };
    run.child.stderr?.on('data', check);
    // Exited (or failed to spawn) before becoming ready: report why.
    run.exit.then(
      ({ code, signal }) => {
        cleanup();
        reject(new TrafficToolError(
          `banana-traffic ${sub} exited before ready (code ${String(code)}${signal ? `, ${signal}` : ''})` +
            (run.stderr().trim() ? `: ${run.stderr().trim()}` : ''),
          sub, run.args, code, signal, run.stderr(),
        ));
      },
      (e: unknown) => {
        cleanup();
        reject(e);
      },
    );
    check();
  });
}

function stopper<T>(sub: Subcommand, run: Run, parse: (o: Json) => T | undefined) {
  let result: Promise<T> | undefined;
  const done = (): Promise<T> => (result ??= finish(sub, run, parse));
  const stop = (signal: NodeJS.Signals): Promise<T> => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(signal);
    return done();
  };
  const kill = (): void => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  };
  return { done, stop, kill };
}

// ---- public API ---------------------------------------------------------------

export async function startReceiver(opts: RecvOptions): Promise<Receiver> {
  const args = buildArgs('recv', {
    ...common(opts),
    flow: opts.flow,
    expect: opts.expect,
    'duration-ms': opts.durationMs,
    'idle-ms': opts.idleMs,
    'linger-ms': opts.lingerMs,
  });
  const run = startTool('recv', args);
  await waitReady('recv', run, opts.readyTimeoutMs ?? 10_000);
  const s = stopper('recv', run, parseRecv);
  return {
    pid: run.child.pid ?? -1,
    stop: () => s.stop('SIGINT'),
    done: s.done,
    kill: s.kill,
  };
}

export async function startReflector(opts: ReflectOptions): Promise<Reflector> {
  const args = buildArgs('reflect', {
    ...common(opts),
    flow: opts.flow,
    batch: opts.batch,
    'qdisc-bypass': opts.qdiscBypass,
  });
  const run = startTool('reflect', args, undefined, opts.on);
  await waitReady('reflect', run, opts.readyTimeoutMs ?? 10_000);
  const s = stopper('reflect', run, parseReflect);
  const on = opts.on;
  if (on && on.exec.length > 0) {
    // Its JSON comes back through the prefix once the tool there has stopped.
    const bin = on.bin ?? trafficBinary();
    return { pid: run.child.pid ?? -1, stop: async () => (await stopRemote(on, `${bin} ${args.slice(0, 3).join(' ')}`), s.done()), kill: s.kill };
  }
  return { pid: run.child.pid ?? -1, stop: () => s.stop('SIGTERM'), kill: s.kill };
}

export function send(opts: SendOptions): Promise<SendResult> {
  const args = buildArgs('send', {
    ...common(opts),
    'src-mac': opts.srcMac,
    'dst-mac': opts.dstMac,
    size: opts.size,
    count: opts.count,
    'duration-ms': opts.durationMs,
    rate: opts.rate,
    flow: opts.flow,
    batch: opts.batch,
    'start-seq': opts.startSeq,
    'qdisc-bypass': opts.qdiscBypass,
    backend: opts.backend,
  });
  return finish('send', startTool('send', args, opts.cpu), parseSend);
}

export function rtt(opts: RttOptions): Promise<RttResult> {
  const args = buildArgs('rtt', {
    ...common(opts),
    'src-mac': opts.srcMac,
    'dst-mac': opts.dstMac,
    size: opts.size,
    count: opts.count,
    warmup: opts.warmup,
    'interval-us': opts.intervalUs,
    'timeout-ms': opts.timeoutMs,
    flow: opts.flow,
    'start-seq': opts.startSeq,
    'busy-poll': opts.busyPoll,
    'qdisc-bypass': opts.qdiscBypass,
  });
  return finish('rtt', startTool('rtt', args, undefined, opts.on), parseRtt);
}
