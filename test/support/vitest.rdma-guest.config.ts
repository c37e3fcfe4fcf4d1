// vitest inside the Soft-RoCE guest (support/rdma-guest.ts): emulation breaks V8's optimized
// WebAssembly (vite's wasm parser crashed in tier-up, or failed a bounds check), so its
// worker processes get the same baseline-only, explicitly-checked wasm as the main process.
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

export const GUEST_WASM_FLAGS = ['--liftoff-only', '--no-wasm-tier-up', '--no-wasm-dynamic-tiering', '--disable-wasm-trap-handler'];

export default mergeConfig(base, defineConfig({ test: { poolOptions: { forks: { execArgv: GUEST_WASM_FLAGS } } } }));
