// Real bananad processes for the simulated hosts of a test: one per host, sharing an embedded
// registry directory, each listening on its own loopback port, all signed with one secret.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ApiClient } from '../../controller/api/api-client.js';

export const TEST_SECRET = 'banana-test-secret-0123456789';

export interface DaemonHost {
  name: string;
  netns: string;
  underlay: string;
  corms?: { name: string; ifname: string }[];
  labels?: Record<string, string>;
}

export interface Daemon {
  host: string;
  address: string;
  process: ChildProcess;
  configFile: string;
  /** stdout so far: pino JSON lines. */
  log(): string;
  /** Operator client (signs as 'cli'). */
  api: ApiClient;
  openFds(): number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export class DaemonCluster {
  readonly daemons = new Map<string, Daemon>();
  readonly dir: string;

  private constructor() {
    this.dir = mkdtempSync('/dev/shm/banana-cluster-');
  }

  static async start(hosts: DaemonHost[]): Promise<DaemonCluster> {
    const c = new DaemonCluster();
    try {
      for (const h of hosts) await c.startOne(h);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get(host: string): Daemon {
    const d = this.daemons.get(host);
    if (!d) throw new Error(`no daemon for ${host}`);
    return d;
  }

  async startOne(h: DaemonHost): Promise<Daemon> {
    const address = `127.0.0.1:${await freePort()}`;
    const configFile = join(this.dir, `${h.name}.json`);
    writeFileSync(configFile, JSON.stringify({
      host: h.name,
      labels: h.labels ?? {},
      netns: h.netns,
      underlay: { ifname: h.underlay },
      corms: h.corms ?? [],
      engine: { framesPerWorker: 8192 },
      registry: { type: 'embedded', dir: join(this.dir, 'registry') },
      listen: address,
      secret: TEST_SECRET,
    }));
    const child = spawn('node_modules/.bin/vite-node', ['test/support/bananad-entry.ts', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const api = new ApiClient({ address, secret: TEST_SECRET, caller: 'cli' });
    const d: Daemon = {
      host: h.name, address, process: child, configFile, api, log: () => out,
      openFds: () => readdirSync(`/proc/${child.pid}/fd`).length,
    };
    this.daemons.set(h.name, d);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`bananad ${h.name} exited with ${child.exitCode}:\n${out}`);
      if (out.includes('"event":"listening"')) break;
      if (Date.now() > deadline) throw new Error(`bananad ${h.name} did not start within 30 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return d;
  }

  /** SIGTERM and wait; returns the exit code. */
  async stopOne(host: string): Promise<number | null> {
    const d = this.daemons.get(host);
    if (!d) return null;
    this.daemons.delete(host);
    if (d.process.exitCode !== null) return d.process.exitCode;
    const exited = new Promise<number | null>((r) => d.process.once('exit', (code) => r(code)));
    d.process.kill('SIGTERM');
    const timer = setTimeout(() => d.process.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  async stop(): Promise<void> {
    for (const host of [...this.daemons.keys()]) await this.stopOne(host);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
