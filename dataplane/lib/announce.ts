/** Tells an Ethernet segment where a MAC address lives now: RARP broadcasts from it, sent by
 * the kernel on an interface (as a hypervisor announces a migrated VM), so learning switches
 * on the segment move the address to this port at once. Works on an interface an engine has
 * bound: AF_XDP takes its receive side only. */
import { portErrorFrom } from './errors.js';
import { loadNative } from './native.js';

export function announceMac(netns: string, ifname: string, mac: string, count = 1): void {
  try {
    loadNative().announce(netns, ifname, mac, count);
  } catch (e) {
    throw portErrorFrom(e, { ifname, netns });
  }
}
