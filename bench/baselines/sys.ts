/**
 * Small system helpers shared by the baselines: run a command, look at links
 * with iproute2's JSON output, read and write per-namespace sysfs knobs.
 *
 * Namespace notes (measured on the bench machine):
 * - `nsenter --net=/run/netns/NAME` keeps the caller's mounts, so bpffs stays
 *   visible, but its /sys is still the host's: /sys/class/net/* does NOT show
 *   the namespace's interfaces. Counters are read from /proc/net/dev instead
 *   (procfs follows the task's netns).
 * - `ip netns exec NAME` remounts /sys for the namespace, so sysfs knobs
 *   (rps_cpus, threaded, napi_defer_hard_irqs, ...) are read/written through it.
 */
import { spawn } from 'node:child_process';
import { BaselineError } from './forwarder.js';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

/** argv that runs `argv` inside a named network namespace, keeping the caller's mounts. */
export function inNetns(netns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv];
}

/** Runs a command to completion; rejects with BaselineError on spawn failure, timeout or non-zero exit. */
export function run(baseline: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = argv.join(' ');
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new BaselineError(baseline, 'empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            if (settled) return;
            settled = true;
            child.kill('SIGKILL');
            reject(new BaselineError(baseline, `timed out after ${opts.timeoutMs} ms`, { command, exitCode: null, stderr }));
          }, opts.timeoutMs)
        : undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new BaselineError(baseline, `cannot run ${file}: ${err.message}`, { command, exitCode: null, stderr, cause: err }));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(
          new BaselineError(baseline, `command failed${signal !== null ? ` (signal ${signal})` : ''}`, {
            command,
            exitCode: code,
            stderr,
          }),
        );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

// ---------------------------------------------------------------- JSON narrowing

type Json = unknown;

function isRecord(v: Json): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: Json): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function str(v: Json): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

// ---------------------------------------------------------------- links

/** Kernel XDP attach modes as iproute2 reports them (IFLA_XDP_ATTACHED). */
export type XdpMode = 'drv' | 'skb' | 'hw' | 'multi';

const XDP_MODES: Record<number, XdpMode> = { 1: 'drv', 2: 'skb', 3: 'hw', 4: 'multi' };

export interface LinkState {
  ifindex: number;
  ifname: string;
  flags: string[];
  /** Promiscuity counter (0 = not promiscuous). */
  promiscuity: number;
  mtu: number;
  address: string;
  master?: string;
  /** Present when an XDP program is attached. */
  xdp?: { mode: XdpMode; progId?: number; progName?: string };
}

export function parseLink(raw: Json): LinkState {
  if (!isRecord(raw)) throw new Error('unexpected ip -j output');
  const flags = Array.isArray(raw.flags) ? raw.flags.filter((f): f is string => typeof f === 'string') : [];
  const link: LinkState = {
    ifindex: num(raw.ifindex) ?? -1,
    ifname: str(raw.ifname) ?? '',
    flags,
    promiscuity: num(raw.promiscuity) ?? (flags.includes('PROMISC') ? 1 : 0),
    mtu: num(raw.mtu) ?? 0,
    address: str(raw.address) ?? '',
  };
  const master = str(raw.master);
  if (master !== undefined) link.master = master;
  const xdp = raw.xdp;
  if (isRecord(xdp)) {
    const mode = XDP_MODES[num(xdp.mode) ?? 0];
    if (mode !== undefined) {
      link.xdp = { mode };
      let prog = xdp.prog;
      // mode 'multi' lists the programs under "attached"
      if (!isRecord(prog) && Array.isArray(xdp.attached)) prog = xdp.attached[0];
      if (isRecord(prog) && isRecord(prog.prog)) prog = prog.prog;
      if (isRecord(prog)) {
        const id = num(prog.id);
        const name = str(prog.name);
        if (id !== undefined) link.xdp.progId = id;
        if (name !== undefined) link.xdp.progName = name;
      }
    }
  }
  return link;
}

/** `ip -n NETNS -d -j link show dev IFNAME`, parsed. */
export async function linkState(baseline: string, netns: string, ifname: string): Promise<LinkState> {
  const { stdout } = await run(baseline, ['ip', '-n', netns, '-d', '-j', 'link', 'show', 'dev', ifname]);
  let parsed: Json;
  try {
    parsed = JSON.parse(stdout);
  } catch (err) {
    throw new BaselineError(baseline, `cannot parse ip -j output for ${netns}/${ifname}`, { stderr: stdout, cause: err });
  }
  if (!Array.isArray(parsed) || parsed.length !== 1) {
    throw new BaselineError(baseline, `no link ${ifname} in netns ${netns}`, { stderr: stdout });
  }
  return parseLink(parsed[0]);
}

/** Detaches any XDP program from a link (all modes); no-op when none is attached. */
export async function detachXdp(baseline: string, netns: string, ifname: string): Promise<void> {
  const link = await linkState(baseline, netns, ifname);
  if (link.xdp === undefined) return;
  for (const mode of ['xdp', 'xdpgeneric', 'xdpdrv'] as const) {
    await run(baseline, ['ip', '-n', netns, 'link', 'set', 'dev', ifname, mode, 'off']).catch(() => undefined);
  }
  const after = await linkState(baseline, netns, ifname);
  if (after.xdp !== undefined) {
    throw new BaselineError(baseline, `cannot detach XDP program ${String(after.xdp.progId)} from ${netns}/${ifname}`);
  }
}

export async function setPromisc(baseline: string, netns: string, ifname: string, on: boolean): Promise<void> {
  await run(baseline, ['ip', '-n', netns, 'link', 'set', 'dev', ifname, 'promisc', on ? 'on' : 'off']);
}

// ---------------------------------------------------------------- counters

export interface IfCounters {
  rxBytes: number;
  rxPackets: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txDropped: number;
}

/** Parses /proc/net/dev text into per-interface counters. */
export function parseProcNetDev(text: string): Map<string, IfCounters> {
  const out = new Map<string, IfCounters>();
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (m === null || m[1] === undefined || m[2] === undefined) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    if (f.length < 16) continue;
    out.set(m[1], {
      rxBytes: f[0] ?? 0,
      rxPackets: f[1] ?? 0,
      rxDropped: f[3] ?? 0,
      txBytes: f[8] ?? 0,
      txPackets: f[9] ?? 0,
      txDropped: f[11] ?? 0,
    });
  }
  return out;
}

/** Counters of one interface of a namespace (via /proc/net/dev, which follows the netns). */
export async function readCounters(baseline: string, netns: string, ifname: string): Promise<IfCounters> {
  const { stdout } = await run(baseline, inNetns(netns, ['cat', '/proc/net/dev']));
  const c = parseProcNetDev(stdout).get(ifname);
  if (c === undefined) throw new BaselineError(baseline, `no interface ${ifname} in netns ${netns}`, { stderr: stdout });
  return c;
}

// ---------------------------------------------------------------- sysfs in a namespace

/** Reads /sys/class/net/IFNAME/REL as seen from the namespace (trimmed). */
export async function readNetSysfs(baseline: string, netns: string, ifname: string, rel: string): Promise<string> {
  const path = `/sys/class/net/${ifname}/${rel}`;
  const { stdout } = await run(baseline, ['ip', 'netns', 'exec', netns, 'cat', path]);
  return stdout.trim();
}

/** Writes a value to /sys/class/net/IFNAME/REL as seen from the namespace. */
export async function writeNetSysfs(
  baseline: string,
  netns: string,
  ifname: string,
  rel: string,
  value: string,
): Promise<void> {
  const path = `/sys/class/net/${ifname}/${rel}`;
  await run(baseline, ['ip', 'netns', 'exec', netns, 'sh', '-c', 'printf "%s\\n" "$1" > "$2"', 'sh', value, path]);
}

/** Remembers sysfs values it overwrote so they can be put back in reverse order. */
export class SysfsRestorer {
  private readonly saved: { netns: string; ifname: string; rel: string; value: string; bestEffort: boolean }[] = [];

  constructor(private readonly baseline: string) {}

  /**
   * Sets a knob, remembering its previous value (only the first time per knob).
   * bestEffort: a failure to put it back later is ignored (e.g. `threaded`, which
   * cannot be written once the device has no NAPI instance any more).
   */
  async set(netns: string, ifname: string, rel: string, value: string, bestEffort = false): Promise<void> {
    const old = await readNetSysfs(this.baseline, netns, ifname, rel);
    if (!this.saved.some((s) => s.netns === netns && s.ifname === ifname && s.rel === rel)) {
      this.saved.push({ netns, ifname, rel, value: old, bestEffort });
    }
    await writeNetSysfs(this.baseline, netns, ifname, rel, value);
  }

  /** Puts every remembered value back; collects failures and throws the first after trying all. */
  async restore(): Promise<void> {
    let first: unknown;
    while (this.saved.length > 0) {
      const s = this.saved.pop();
      if (s === undefined) break;
      try {
        await writeNetSysfs(this.baseline, s.netns, s.ifname, s.rel, s.value);
      } catch (err) {
        if (!s.bestEffort) first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}

// ---------------------------------------------------------------- NAPI threads

/** pids of kernel threads whose name starts with `napi/IFNAME-`. */
export async function napiThreads(ifname: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const prefix = `napi/${ifname}-`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = (await readFile(`/proc/${entry}/comm`, 'utf8')).trim();
      if (comm.startsWith(prefix)) pids.push(Number(entry));
    } catch {
      // the task went away
    }
  }
  return pids;
}

/** CPU list string for taskset, e.g. 1 -> '1'. */
export function cpuList(cpu: number): string {
  if (!Number.isInteger(cpu) || cpu < 0) throw new Error(`bad cpu ${cpu}`);
  return String(cpu);
}

/** Hex mask for rps_cpus with one CPU set (comma-separated 32-bit words, most significant first). */
export function cpuMask(cpu: number): string {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu > 4095) throw new Error(`bad cpu ${cpu}`);
  const high = ((1 << (cpu % 32)) >>> 0).toString(16);
  return [high, ...new Array<string>(Math.floor(cpu / 32)).fill('00000000')].join(',');
}

/**
 * Switches IFNAME's NAPI instances to threaded mode and pins the NAPI kthreads
 * that appear to `cpu` (so the kernel-side receive work runs on the DUT core
 * instead of the core that happened to schedule it, e.g. the generator's).
 * The NAPI must exist already (veth: an XDP program attached or GRO on).
 * The original `threaded` value is recorded in `restorer`. Returns the pinned pids.
 */
export async function threadedNapiOn(
  baseline: string,
  restorer: SysfsRestorer,
  netns: string,
  ifname: string,
  cpu: number,
): Promise<number[]> {
  await restorer.set(netns, ifname, 'threaded', '0', true);
  const before = new Set(await napiThreads(ifname));
  await writeNetSysfs(baseline, netns, ifname, 'threaded', '1');
  let fresh: number[] = [];
  for (let i = 0; i < 50 && fresh.length === 0; i++) {
    fresh = (await napiThreads(ifname)).filter((p) => !before.has(p));
    if (fresh.length === 0) await new Promise((r) => setTimeout(r, 20));
  }
  if (fresh.length === 0) {
    throw new BaselineError(baseline, `no napi/${ifname}-* kthread appeared after enabling threaded NAPI on ${netns}/${ifname}`);
  }
  for (const pid of fresh) await run(baseline, ['taskset', '-pc', cpuList(cpu), String(pid)]);
  return fresh;
}
