// Runs the banana CLI from sources as a child process: exit code, stdout, stderr.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function banana(args: string[]): Promise<CliRun> {
  return promisify(execFile)('node_modules/.bin/vite-node', ['test/support/banana-entry.ts', '--', ...args]).then(
    ({ stdout, stderr }) => ({ code: 0, out: stdout, err: stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}
