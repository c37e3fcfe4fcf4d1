import { defineConfig } from 'vitest/config';

// Tests build real namespaces, veths and AF_XDP sockets on a 2-core machine:
// run files one at a time so they do not fight over CPUs and interface names.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
