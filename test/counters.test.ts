// The counter list is shared by C and TypeScript: the generated file must match the .def,
// and the addon must have been built from the same list.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../dataplane/lib/native.js';
import { PORT_COUNTER_NAMES, WORKER_COUNTER_NAMES } from '../dataplane/lib/index.js';

describe('counter names', () => {
  it('lib/counters.generated.ts is generated from src/counters.def', () => {
    expect(() => execFileSync('node', ['dataplane/scripts/gen-counters.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('the addon was built from the same list, in the same order', () => {
    const native = loadNative();
    expect(native.portCounterNames).toEqual([...PORT_COUNTER_NAMES]);
    expect(native.workerCounterNames).toEqual([...WORKER_COUNTER_NAMES]);
    expect(native.limits.portRow).toBeGreaterThanOrEqual(PORT_COUNTER_NAMES.length);
    expect(native.limits.portRow % 8).toBe(0); // whole cache lines per row
  });
});
