// vitest glue, kept apart from testbed.ts so bench and demo code can import
// the bed without pulling in vitest.

import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { TestBed, type TestBedSettings } from './testbed.js';

export interface UseTestBedOptions extends TestBedSettings {
  /** `all`: one bed per describe block/file (beforeAll/afterAll). `each`: a fresh bed per test. Default `all`. */
  scope?: 'all' | 'each';
}

/**
 * Creates a TestBed before the tests of the enclosing scope and closes it
 * after them. Returns a getter, because the bed only exists once the hook ran.
 */
export function useTestBed(opts: UseTestBedOptions = {}): () => TestBed {
  const { scope = 'all', ...settings } = opts;
  let bed: TestBed | undefined;
  const setup = async (): Promise<void> => {
    bed = await TestBed.create(settings);
  };
  const teardown = async (): Promise<void> => {
    const b = bed;
    bed = undefined;
    await b?.close();
  };
  if (scope === 'each') {
    beforeEach(setup);
    afterEach(teardown);
  } else {
    beforeAll(setup);
    afterAll(teardown);
  }
  return () => {
    if (!bed) throw new Error('useTestBed: no bed outside the tests of the scope that called it');
    return bed;
  };
}
