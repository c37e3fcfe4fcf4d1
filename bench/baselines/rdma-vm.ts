/** RDMA where this kernel has none: ../shared/rdma-vm boots a kernel with Soft-RoCE (rdma_rxe)
 * under emulation over this machine's own filesystem and runs a script there. Tests and the
 * wire-rdma bench run inside it when no local RDMA device is active. */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { rdmaDevices } from '../../dataplane/lib/index.js';
import { repoRoot } from '../../dataplane/lib/paths.js';

export const REPO = repoRoot();
export const RDMA_VM = resolve(REPO, '../shared/rdma-vm');
/** Set inside the guest: the work is already where the device is. */
export const IN_RDMA_GUEST = 'BANANA_IN_RDMA_GUEST';

/** The first RDMA device with an active port on this machine, if any. */
export function localRdmaDevice(): string | undefined {
  try {
    return rdmaDevices().find((d) => d.ports.some((p) => p.active))?.name;
  } catch {
    return undefined; // no RDMA in this kernel (ENOSYS)
  }
}

/** Why the guest cannot be used here, or undefined if it can. */
export function rdmaVmUnavailable(): string | undefined {
  if (process.env[IN_RDMA_GUEST]) return 'inside the RDMA guest, yet no active RDMA device';
  if (!existsSync(join(RDMA_VM, 'run-vm.sh'))) return `no RDMA device on this machine and no ${RDMA_VM} to boot a Soft-RoCE guest`;
  return undefined;
}

export interface RdmaVmRun {
  status: number | null;
  /** Files the script left in its work folder (/srv in the guest), by name. */
  files: Record<string, string>;
  /** What the guest printed on its console. */
  console: string;
}

/**
 * Runs `script` (shell lines, in the repository, with BANANA_IN_RDMA_GUEST=1 and memlock
 * unlimited) in the guest and returns the named files it wrote to /srv. `onLine` sees the
 * console as it comes.
 */
export async function runInRdmaVm(script: string[], want: string[], timeoutMs: number, onLine?: (line: string) => void): Promise<RdmaVmRun> {
  const vars = execFileSync('sh', [join(RDMA_VM, 'setup.sh')], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const env = Object.fromEntries(vars.split(' ').map((kv) => kv.split('=') as [string, string]));
  const work = mkdtempSync(join(tmpdir(), 'banana-rdma-vm-'));
  try {
    writeFileSync(join(work, 'cmd.sh'), [`cd '${REPO}' || exit 98`, 'ulimit -l unlimited', `export ${IN_RDMA_GUEST}=1`, ...script].join('\n') + '\n');
    const vm = spawn(join(RDMA_VM, 'run-vm.sh'), [work], {
      env: { ...process.env, KROOT: env.KROOT, K: env.K, VM_MEM: '2048', VM_TIMEOUT: String(Math.ceil(timeoutMs / 1000)) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let partial = '';
    const take = (d: Buffer) => {
      out += d.toString();
      partial += d.toString();
      const lines = partial.split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const l of lines) onLine?.(l);
    };
    vm.stdout.on('data', take);
    vm.stderr.on('data', take);
    const guard = setTimeout(() => vm.kill('SIGKILL'), timeoutMs + 60_000);
    const status = await new Promise<number | null>((res) => vm.on('exit', (code) => res(code)));
    clearTimeout(guard);
    const files = Object.fromEntries(want.map((n) => [n, existsSync(join(work, n)) ? readFileSync(join(work, n), 'utf8') : '']));
    return { status, files, console: out };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
