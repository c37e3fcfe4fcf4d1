// Where RDMA tests run: on this machine when it has an active RDMA device, else inside the
// Soft-RoCE guest of ../shared/rdma-vm (a kernel with rdma_rxe under emulation, over this
// machine's own filesystem). A test file calls rdmaTests(): it either runs its tests here, or
// runs itself in the guest and reports each of the guest's results as a test of its own, so
// the totals count what really ran. With neither, every test is skipped with the reason.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rdmaDevices } from '../../dataplane/lib/index.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RDMA_VM = resolve(REPO, '../shared/rdma-vm');
const IN_GUEST = 'BANANA_IN_RDMA_GUEST';

export type RdmaPlace = { where: 'here'; device: string } | { where: 'guest' } | { where: 'none'; reason: string };

/** The first RDMA device with an active port, if this machine has one. */
export function localRdmaDevice(): string | undefined {
  try {
    return rdmaDevices().find((d) => d.ports.some((p) => p.active))?.name;
  } catch {
    return undefined; // no RDMA in this kernel (ENOSYS)
  }
}

export function rdmaPlace(): RdmaPlace {
  const device = localRdmaDevice();
  if (device) return { where: 'here', device };
  if (process.env[IN_GUEST]) return { where: 'none', reason: 'inside the RDMA guest, yet no active RDMA device' };
  if (!existsSync(join(RDMA_VM, 'run-vm.sh'))) {
    return { where: 'none', reason: `no RDMA device on this machine and no ${RDMA_VM} to boot a Soft-RoCE guest` };
  }
  return { where: 'guest' };
}

interface GuestAssertion {
  ancestorTitles: string[];
  title: string;
  status: 'passed' | 'failed' | 'pending' | 'skipped' | 'todo';
  failureMessages: string[];
}

interface GuestRun {
  results: GuestAssertion[];
  log: string;
  status: number | null;
}

/** Boots the guest and runs one test file there with vitest; ~15 s of boot plus the tests. */
function runInGuest(testFile: string, timeoutMs: number): GuestRun {
  const env = execFileSync('sh', [join(RDMA_VM, 'setup.sh')], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const vars = Object.fromEntries(env.split(' ').map((kv) => kv.split('=') as [string, string]));
  const work = mkdtempSync(join(tmpdir(), 'banana-rdma-guest-'));
  const file = relative(REPO, testFile);
  writeFileSync(
    join(work, 'cmd.sh'),
    [
      `cd '${REPO}' || exit 98`,
      'ulimit -l unlimited',
      // Under emulation V8's signal-based WebAssembly bounds checks misfire (vite's wasm parser
      // failed with "memory access out of bounds", or the process died): explicit checks instead.
      `${IN_GUEST}=1 node --disable-wasm-trap-handler node_modules/vitest/vitest.mjs run '${file}' --reporter=default --reporter=json --outputFile.json=/srv/results.json > /srv/log.txt 2>&1`,
    ].join('\n') + '\n',
  );
  const vm = spawnSync(join(RDMA_VM, 'run-vm.sh'), [work], {
    env: { ...process.env, KROOT: vars.KROOT, K: vars.K, VM_MEM: '2048', VM_TIMEOUT: String(Math.ceil(timeoutMs / 1000)) },
    encoding: 'utf8',
    timeout: timeoutMs + 60_000,
  });
  const read = (name: string) => (existsSync(join(work, name)) ? readFileSync(join(work, name), 'utf8') : '');
  let results: GuestAssertion[] = [];
  try {
    const json = JSON.parse(read('results.json')) as { testResults: { assertionResults: GuestAssertion[] }[] };
    results = json.testResults.flatMap((f) => f.assertionResults);
  } catch {
    /* no report: the failure below carries the log */
  }
  const log = read('log.txt') || `${vm.stdout ?? ''}\n${vm.stderr ?? ''}`;
  rmSync(work, { recursive: true, force: true });
  return { results, log, status: vm.status };
}

/**
 * Declares an RDMA test file's tests. `body(device)` declares them (with describe/it) where an
 * RDMA device is active; otherwise the file runs itself in the Soft-RoCE guest and mirrors the
 * guest's results here, one test each.
 */
export async function rdmaTests(name: string, testFile: string, body: (device: string) => void, guestTimeoutMs = 600_000): Promise<void> {
  const place = rdmaPlace();
  if (place.where === 'here') {
    describe(`${name} (RDMA device ${place.device})`, () => body(place.device));
    return;
  }
  if (place.where === 'none') {
    console.log(`SKIPPED ${name}: ${place.reason}`);
    describe(name, () => it.skip(`needs an RDMA device: ${place.reason}`, () => {}));
    return;
  }
  const started = Date.now();
  const run = runInGuest(testFile, guestTimeoutMs);
  console.log(`--- ${name}: ran in the Soft-RoCE guest in ${((Date.now() - started) / 1000).toFixed(0)} s (exit ${run.status}) ---\n${run.log}`);
  describe(`${name} (in the Soft-RoCE guest, ../shared/rdma-vm)`, () => {
    if (run.results.length === 0) {
      it('runs in the guest', () => {
        throw new Error(`the guest reported no results (exit ${run.status}); its log:\n${run.log.slice(-4000)}`);
      });
      return;
    }
    for (const r of run.results) {
      const title = [...r.ancestorTitles.slice(1), r.title].join(' > ');
      if (r.status === 'passed') it(title, () => expect(r.status).toBe('passed'));
      else if (r.status === 'failed') {
        it(title, () => {
          throw new Error(`failed in the guest:\n${r.failureMessages.join('\n')}`);
        });
      } else it.skip(`${title} (skipped in the guest)`, () => {});
    }
  });
}
