/** From a detected interface to the profile that drives it and the engine settings that follow
 * (XDP mode, zero-copy, queues, ring size, busy polling), with the reason for each choice. An
 * explicit override (host config) wins over detection; an unknown driver is an error that
 * names it, never a silent default. */
import type { BusyPollSettings, XdpMode, ZeroCopyPreference } from '../../dataplane/lib/index.js';
import type { DetectedInterface } from './detect.js';
import { ProfileError } from './profile-error.js';
import type { HwProfile } from './profile-schema.js';

export interface ResolvedProfile {
  profile: HwProfile;
  /** 'override' (host config), or 'driver' (matched from the detected driver). */
  source: 'override' | 'driver';
}

export function resolveProfile(d: DetectedInterface, profiles: ReadonlyMap<string, HwProfile>, override?: string): ResolvedProfile {
  if (override !== undefined) {
    const p = profiles.get(override);
    if (!p) throw new ProfileError(`${d.netns || '-'}/${d.ifname}`, 'profile', `no profile named ${override} (known: ${[...profiles.keys()].join(', ')})`);
    return { profile: p, source: 'override' };
  }
  for (const p of profiles.values()) if (p.kind === 'ethernet' && p.match.drivers.includes(d.driver)) return { profile: p, source: 'driver' };
  throw new ProfileError(
    `${d.netns || '-'}/${d.ifname}`,
    'driver',
    `no profile matches driver ${d.driver} (known: ${[...profiles.values()].flatMap((p) => p.match.drivers).join(', ')}); name one with "profile" in the host config`,
  );
}

/** The RDMA devices of a host that a profile knows, e.g. Soft-RoCE on the underlay. */
export function rdmaProfiles(d: DetectedInterface, profiles: ReadonlyMap<string, HwProfile>): { device: string; netdev: string; profile: HwProfile }[] {
  const out = [];
  for (const dev of d.rdma) {
    const p = [...profiles.values()].find((x) => x.kind === 'rdma' && x.match.drivers.includes(dev.driver));
    if (p) out.push({ device: dev.name, netdev: dev.netdev, profile: p });
  }
  return out;
}

export interface PortPlan {
  mode: Exclude<XdpMode, 'auto'>;
  zeroCopy: ZeroCopyPreference;
  queues: number;
  ringSize: number;
  busyPoll: BusyPollSettings | false;
  /** Why each value is what it is. */
  reasons: string[];
}

/** Engine settings for a port, from its profile and what was detected. */
export function planPort(d: DetectedInterface, p: HwProfile): PortPlan {
  const reasons: string[] = [];
  let mode = p.recommended.mode;
  if (mode === 'native' && p.xdp.nativeMaxMtu !== undefined && d.mtu > p.xdp.nativeMaxMtu) {
    mode = 'generic';
    reasons.push(`mode generic: MTU ${d.mtu} > ${p.xdp.nativeMaxMtu}, the largest ${p.name} accepts native XDP at`);
  } else {
    reasons.push(`mode ${mode}: recommended by profile ${p.name}`);
  }
  const zeroCopy: ZeroCopyPreference = p.afXdp.zeroCopy && mode === 'native' ? 'auto' : 'off';
  reasons.push(zeroCopy === 'auto' ? 'zero-copy: tried (the driver supports it)' : `zero-copy: off (${p.afXdp.zeroCopy ? 'generic XDP is copy mode' : `${p.name} has none`})`);
  const queues = Math.max(1, Math.min(d.rxQueues || 1, p.queues.max));
  reasons.push(`queues ${queues}: ${d.rxQueues} receive queue(s) detected, profile allows ${p.queues.max}`);
  return { mode, zeroCopy, queues, ringSize: p.recommended.ringSize, busyPoll: p.recommended.busyPoll, reasons };
}
