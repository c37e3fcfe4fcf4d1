// Where RDMA tests run: on this machine when it has an active RDMA device, else inside the
// Soft-RoCE guest of ../shared/rdma-vm (bench/baselines/rdma-vm.ts). A test file calls
// rdmaTests(): it either runs its tests here, or runs itself in the guest and reports each of
// the guest's results as a test of its own, so the totals count what really ran. With
// neither, every test is skipped with the reason printed.
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localRdmaDevice, rdmaVmUnavailable, REPO, runInRdmaVm } from '../../bench/baselines/rdma-vm.js';
import { GUEST_WASM_FLAGS } from './vitest.rdma-guest.config.js';

interface GuestAssertion {
  ancestorTitles: string[];
  title: string;
  status: 'passed' | 'failed' | 'pending' | 'skipped' | 'todo';
  failureMessages: string[];
}

async function runFileInGuest(testFile: string, timeoutMs: number): Promise<{ results: GuestAssertion[]; log: string; status: number | null }> {
  const file = relative(REPO, testFile);
  const run = await runInRdmaVm(
    [
      // Under emulation V8's optimized WebAssembly misfires (vite's wasm parser): baseline code
      // with explicit bounds checks, here and in vitest's workers (its guest config).
      `node ${GUEST_WASM_FLAGS.join(' ')} node_modules/vitest/vitest.mjs run '${file}' --config test/support/vitest.rdma-guest.config.ts --reporter=default --reporter=json --outputFile.json=/srv/results.json > /srv/log.txt 2>&1`,
    ],
    ['results.json', 'log.txt'],
    timeoutMs,
  );
  let results: GuestAssertion[] = [];
  try {
    const json = JSON.parse(run.files['results.json'] ?? '') as { testResults: { assertionResults: GuestAssertion[] }[] };
    results = json.testResults.flatMap((f) => f.assertionResults);
  } catch {
    /* no report: the failure below carries the log */
  }
  return { results, log: run.files['log.txt'] || run.console, status: run.status };
}

/**
 * Declares an RDMA test file's tests. `body(device)` declares them (with describe/it) where an
 * RDMA device is active; otherwise the file runs itself in the Soft-RoCE guest and mirrors the
 * guest's results here, one test each.
 */
export async function rdmaTests(name: string, testFile: string, body: (device: string) => void, guestTimeoutMs = 600_000): Promise<void> {
  const device = localRdmaDevice();
  if (device) {
    describe(`${name} (RDMA device ${device})`, () => body(device));
    return;
  }
  const why = rdmaVmUnavailable();
  if (why) {
    console.log(`SKIPPED ${name}: ${why}`);
    describe(name, () => it.skip(`needs an RDMA device: ${why}`, () => {}));
    return;
  }
  const started = Date.now();
  let run = await runFileInGuest(testFile, guestTimeoutMs);
  if (run.results.length === 0) {
    // The guest's vitest failed before running a test (emulation has misfired in vite's loader):
    // one fresh boot, with the first log kept for the record.
    console.log(`--- ${name}: the guest ran no test (exit ${run.status}); booting it once more. Its log:\n${run.log.slice(-3000)}`);
    run = await runFileInGuest(testFile, guestTimeoutMs);
  }
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
      } else {
        // Its reason is in the guest's log, printed above.
        console.log(`SKIPPED ${name} > ${title}: skipped in the guest (see its log above)`);
        it.skip(`${title} (skipped in the guest)`, () => {});
      }
    }
  });
}
