// Shared pieces of the engine tests: an engine with a test-friendly idle policy, bound to
// the taps of a simulated host.
import { Engine, type EngineSettings, type Port, type XdpMode } from '../../dataplane/lib/index.js';
import type { Vm } from '../bed/index.js';

/** Backoff instead of busy polling: two cores are shared with the traffic tools and VMs. */
export const TEST_IDLE = { policy: 'backoff', spinLoops: 200, maxSleepUs: 200 } as const;

export function newEngine(settings: EngineSettings = {}): Engine {
  return new Engine({ idle: TEST_IDLE, framesPerWorker: 8192, ...settings });
}

export function bindTaps(engine: Engine, vms: readonly Vm[], mode: XdpMode = 'auto'): Port[] {
  return vms.map((vm) => engine.addPort({ ifname: vm.tap.name, netns: vm.host.name, mode }));
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function ping(vm: Vm, ip: string, count = 3): Promise<string> {
  return vm.ns.exec(['ping', '-c', String(count), '-i', '0.2', '-W', '2', ip]);
}
