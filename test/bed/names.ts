// Run prefixes, name rules, and sweeping what crashed runs left behind.
//
// Every namespace a test bed creates is named `<prefix>-<name>`, where the
// prefix is `bn` + 3 random base36 characters, unique among live runs. Two
// suites running at once, or a suite running next to the demo, therefore never
// fight over a name. Ownership of a prefix is a marker file
// /run/banana-testbed/<prefix>.pid holding the creator's pid and start time
// (the start time guards against pid reuse); a prefix whose creator is gone is
// stale and sweepStale() removes its namespaces.
//
// /run is a tmpfs, like /run/netns itself, so markers and namespaces vanish
// together on reboot.

import { promises as fs, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { InvalidNameError } from './errors.js';
import { NETNS_DIR, run, runSync } from './exec.js';

export const PREFIX_FAMILY = 'bn';
export const MARKER_DIR = '/run/banana-testbed';
/** IFNAMSIZ is 16 including the terminating NUL. */
export const IFNAME_MAX = 15;

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';
const PREFIX_RANDOM_CHARS = 3;

/** Matches `<family>xyz-...` and captures the prefix. */
function prefixPattern(family: string): RegExp {
  return new RegExp(`^(${family}[0-9a-z]{${PREFIX_RANDOM_CHARS}})-`);
}

/** Throws InvalidNameError unless the kernel would accept name as an interface name. */
export function checkIfName(name: string): string {
  if (name.length === 0) throw new InvalidNameError('interface', name, 'empty');
  if (name.length > IFNAME_MAX) {
    throw new InvalidNameError('interface', name, `${name.length} characters, the kernel allows ${IFNAME_MAX}`);
  }
  if (name === '.' || name === '..' || /[\s/:]/.test(name)) {
    throw new InvalidNameError('interface', name, 'contains whitespace, "/" or ":", or is "." or ".."');
  }
  return name;
}

/** Throws InvalidNameError unless name is usable as the part after `<prefix>-`. */
export function checkNetnsName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.length > 64) {
    throw new InvalidNameError('netns', name, 'use letters, digits, "_", "." and "-" (at most 64)');
  }
  return name;
}

function markerPath(prefix: string): string {
  return `${MARKER_DIR}/${prefix}.pid`;
}

interface Marker {
  pid: number;
  startTime: string;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined if no such process. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

function readMarker(prefix: string): Marker | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(markerPath(prefix), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { pid, startTime } = parsed as Record<string, unknown>;
    if (typeof pid !== 'number' || typeof startTime !== 'string') return undefined;
    return { pid, startTime };
  } catch {
    return undefined;
  }
}

/** True while the process that claimed prefix is still running. */
export function isPrefixAlive(prefix: string): boolean {
  const m = readMarker(prefix);
  return m !== undefined && processStartTime(m.pid) === m.startTime;
}

function randomPrefix(family: string): string {
  let s = family;
  for (let i = 0; i < PREFIX_RANDOM_CHARS; i++) s += BASE36[randomInt(BASE36.length)];
  return s;
}

async function netnsNames(): Promise<string[]> {
  try {
    return await fs.readdir(NETNS_DIR);
  } catch {
    return [];
  }
}

/**
 * Picks a fresh prefix and records this process as its owner. The marker is
 * created exclusively, so two runs can never claim the same prefix; a prefix
 * that still has namespaces (a crashed run whose marker was lost) is skipped.
 */
export async function claimPrefix(family: string = PREFIX_FAMILY): Promise<string> {
  if (!/^[a-z][a-z0-9]{0,3}$/.test(family)) throw new InvalidNameError('prefix', family, 'family must be 1-4 lowercase characters');
  await fs.mkdir(MARKER_DIR, { recursive: true });
  const startTime = processStartTime(process.pid);
  if (startTime === undefined) throw new Error('cannot read /proc/self/stat: is /proc mounted?');
  const taken = new Set((await netnsNames()).map((n) => prefixPattern(family).exec(n)?.[1]));
  // Write the content first, then link(2) it into place: the link is the
  // exclusive claim, and a concurrent sweepStale() never sees an empty marker
  // (which it would take for a dead owner).
  const tmp = `${MARKER_DIR}/.claim-${process.pid}-${randomInt(1e9)}`;
  await fs.writeFile(tmp, JSON.stringify({ pid: process.pid, startTime } satisfies Marker));
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      const prefix = randomPrefix(family);
      if (taken.has(prefix)) continue;
      try {
        await fs.link(tmp, markerPath(prefix));
        return prefix;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
  throw new Error(`no free test bed prefix in family "${family}" after 100 attempts; run sweepStale()`);
}

/** Drops the marker; call after the prefix's namespaces are gone. */
export async function releasePrefix(prefix: string): Promise<void> {
  await fs.rm(markerPath(prefix), { force: true });
}

export function releasePrefixSync(prefix: string): void {
  try {
    unlinkSync(markerPath(prefix));
  } catch {
    // already gone
  }
}

export interface SweepReport {
  /** Stale prefixes that were cleaned up. */
  prefixes: string[];
  netns: string[];
  links: string[];
  /** Processes killed inside stale namespaces. */
  pids: number[];
  /** Non-fatal problems (a namespace that would not delete, ...). */
  errors: string[];
}

/**
 * Removes leftovers of crashed runs in `family`: namespaces `<prefix>-*` and
 * links named `<prefix>-*` in the caller's namespace, whose prefix has no live
 * owner. Processes still inside a stale namespace are killed first, since they
 * would otherwise keep the namespace (and its veths) alive after `ip netns del`.
 * Live runs are never touched.
 */
export async function sweepStale(family: string = PREFIX_FAMILY): Promise<SweepReport> {
  const report: SweepReport = { prefixes: [], netns: [], links: [], pids: [], errors: [] };
  const pattern = prefixPattern(family);
  const byPrefix = new Map<string, { netns: string[]; links: string[] }>();
  const entry = (p: string): { netns: string[]; links: string[] } => {
    let e = byPrefix.get(p);
    if (!e) byPrefix.set(p, (e = { netns: [], links: [] }));
    return e;
  };

  for (const ns of await netnsNames()) {
    const p = pattern.exec(ns)?.[1];
    if (p) entry(p).netns.push(ns);
  }
  for (const link of await rootLinkNames()) {
    const p = pattern.exec(link)?.[1];
    if (p) entry(p).links.push(link);
  }
  let markers: string[] = [];
  try {
    markers = await fs.readdir(MARKER_DIR);
  } catch {
    // no marker dir: nothing was ever claimed on this boot
  }
  for (const file of markers) {
    // claimPrefix() temp files of processes that died mid-claim
    const claim = /^\.claim-(\d+)-/.exec(file);
    if (claim?.[1] && processStartTime(Number(claim[1])) === undefined) await fs.rm(`${MARKER_DIR}/${file}`, { force: true });
    const m = new RegExp(`^(${family}[0-9a-z]{${PREFIX_RANDOM_CHARS}})\\.pid$`).exec(file);
    if (m?.[1]) entry(m[1]);
  }

  for (const [prefix, { netns, links }] of byPrefix) {
    if (isPrefixAlive(prefix)) continue;
    report.prefixes.push(prefix);
    for (const ns of netns) {
      try {
        for (const pid of await netnsPids(ns)) {
          try {
            process.kill(pid, 'SIGKILL');
            report.pids.push(pid);
          } catch {
            // exited meanwhile
          }
        }
        await run(['ip', 'netns', 'del', ns]);
        report.netns.push(ns);
      } catch (err) {
        report.errors.push(`netns ${ns}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    for (const link of links) {
      try {
        await run(['ip', 'link', 'del', 'dev', link]);
        report.links.push(link);
      } catch (err) {
        report.errors.push(`link ${link}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await releasePrefix(prefix);
  }
  return report;
}

/** Interface names in the caller's namespace. */
export async function rootLinkNames(): Promise<string[]> {
  const out = await run(['ip', '-j', 'link', 'show']);
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
}

/** Pids of processes whose network namespace is ns (scans /proc, like `ip netns pids`). */
export async function netnsPids(ns: string): Promise<number[]> {
  const out = await run(['ip', 'netns', 'pids', ns]);
  return parsePids(out);
}

export function netnsPidsSync(ns: string): number[] {
  try {
    return parsePids(runSync(['ip', 'netns', 'pids', ns]));
  } catch {
    return [];
  }
}

function parsePids(out: string): number[] {
  return out
    .split('\n')
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

/** Namespace names currently in /run/netns (synchronous, for exit handlers and checks). */
export function listNetnsSync(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}
