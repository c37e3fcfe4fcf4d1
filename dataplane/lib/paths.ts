import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this file holding the addon's binding.gyp.
 * Works both from sources (vitest) and from dist/ (compiled CLI). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'dataplane', 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`banana: cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Where node-gyp puts the addon, the BPF object and the native tools. BANANA_NATIVE_DIR
 * selects another build (the sanitizer build in CI). */
export function nativeDir(): string {
  return process.env.BANANA_NATIVE_DIR ?? join(repoRoot(), 'dataplane', 'build', 'Release');
}
