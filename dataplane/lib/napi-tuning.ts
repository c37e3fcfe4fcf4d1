/** Per-interface NAPI knobs that preferred busy polling needs (napi_defer_hard_irqs,
 * gro_flush_timeout), written for the life of a port and restored when it closes. They live
 * in sysfs, whose view follows the namespace it was mounted in, so a port in another
 * namespace is tuned through `ip netns exec`, which mounts that namespace's sysfs. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { PortError } from './errors.js';

export interface NapiTuning {
  /** Softirq polls to defer re-enabling interrupts for. */
  deferHardIrqs: number;
  /** Timer that re-polls the device if the application stops busy polling. */
  groFlushTimeoutNs: number;
}

const KNOBS = { deferHardIrqs: 'napi_defer_hard_irqs', groFlushTimeoutNs: 'gro_flush_timeout' } as const;

function sysfsPath(ifname: string, knob: string): string {
  return `/sys/class/net/${ifname}/${knob}`;
}

function read(netns: string, ifname: string, knob: string): string {
  if (!netns) return readFileSync(sysfsPath(ifname, knob), 'utf8').trim();
  return execFileSync('ip', ['netns', 'exec', netns, 'cat', sysfsPath(ifname, knob)], { encoding: 'utf8' }).trim();
}

function write(netns: string, ifname: string, knob: string, value: string): void {
  if (!netns) {
    writeFileSync(sysfsPath(ifname, knob), `${value}\n`);
    return;
  }
  execFileSync('ip', ['netns', 'exec', netns, 'sh', '-c', 'printf "%s\\n" "$1" > "$2"', 'sh', value, sysfsPath(ifname, knob)], { stdio: 'pipe' });
}

/** Applies the tuning; returns the function that puts the previous values back. */
export function applyNapiTuning(netns: string, ifname: string, tuning: NapiTuning): () => void {
  const saved: [string, string][] = [];
  const restore = () => {
    for (const [knob, value] of saved.reverse()) {
      try {
        write(netns, ifname, knob, value);
      } catch {
        // the interface may be gone with its namespace: nothing left to restore
      }
    }
  };
  try {
    for (const [key, knob] of Object.entries(KNOBS) as [keyof NapiTuning, string][]) {
      saved.push([knob, read(netns, ifname, knob)]);
      write(netns, ifname, knob, String(tuning[key]));
    }
  } catch (e) {
    restore();
    throw new PortError(`cannot tune NAPI of ${ifname} for busy polling: ${(e as Error).message.split('\n')[0]}`, {
      ifname,
      netns,
      step: 'napi_tuning',
    });
  }
  return restore;
}
