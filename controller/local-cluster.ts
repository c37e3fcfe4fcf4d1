/** Real bananad processes for simulated hosts on one machine (the demo, tests): one daemon per
 * host namespace, sharing an embedded registry directory, each on its own loopback port, all
 * signed with one secret. How a daemon is started is the caller's choice (built JS, sources). */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ApiClient } from './api/api-client.js';
import { issue } from './pki/pki.js';

export interface LocalHost {
  name: string;
  netns: string;
  underlay: string;
  corms?: { name: string; ifname: string; network?: string; allow?: { hosts?: string[]; tenants?: string[] } }[];
  labels?: Record<string, string>;
  framesPerWorker?: number;
  /** More host config fields, as they appear in the file. */
  extra?: Record<string, unknown>;
}

export interface LocalDaemon {
  host: string;
  address: string;
  process: ChildProcess;
  configFile: string;
  /** stdout and stderr so far (pino JSON lines). */
  log(): string;
  /** Operator client (signs as 'cli'). */
  api: ApiClient;
  openFds(): number;
}

export interface LocalClusterSettings {
  /** argv that runs bananad; `--config FILE` is appended. */
  command: string[];
  secret: string;
  /** Parent of the cluster's directory (configs, registry). Default /dev/shm (a tmpfs). */
  parent?: string;
  /** The daemons' registry; default: an embedded one in the cluster's directory. */
  registry?: { type: 'etcd'; endpoints: string[]; cluster?: string };
  /** Mutual TLS with certificates from this `banana pki` folder (a CA in it; host and `cli`
   * certificates are issued as needed). Default: no TLS. */
  pkiDir?: string;
  /** How long a daemon may take to answer on its API. Default 30 s. */
  startTimeoutMs?: number;
}

/** A TCP port on loopback that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no free port'))));
    });
  });
}

export class LocalCluster {
  readonly daemons = new Map<string, LocalDaemon>();
  readonly dir: string;
  private readonly started = new Map<string, { address: string; configFile: string }>();

  constructor(private readonly s: LocalClusterSettings) {
    this.dir = mkdtempSync(join(s.parent ?? '/dev/shm', 'banana-cluster-'));
  }

  get(host: string): LocalDaemon {
    const d = this.daemons.get(host);
    if (!d) throw new Error(`no daemon for ${host}`);
    return d;
  }

  async startAll(hosts: LocalHost[]): Promise<void> {
    try {
      for (const h of hosts) await this.start(h);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async start(h: LocalHost): Promise<LocalDaemon> {
    const address = `127.0.0.1:${await freePort()}`;
    const configFile = join(this.dir, `${h.name}.json`);
    const pki = this.s.pkiDir;
    if (pki) for (const n of [h.name, 'cli']) if (!existsSync(join(pki, `${n}.crt`))) await issue(pki, n);
    const tlsFiles = pki ? { ca: join(pki, 'ca.crt'), cert: join(pki, `${h.name}.crt`), key: join(pki, `${h.name}.key`) } : undefined;
    writeFileSync(configFile, JSON.stringify({
      host: h.name,
      labels: h.labels ?? {},
      netns: h.netns,
      underlay: { ifname: h.underlay },
      corms: h.corms ?? [],
      engine: { framesPerWorker: h.framesPerWorker ?? 8192 },
      registry: this.s.registry ?? { type: 'embedded', dir: join(this.dir, 'registry') },
      listen: address,
      secret: this.s.secret,
      runDir: join(this.dir, 'run'),
      ...(tlsFiles ? { tls: tlsFiles } : {}),
      ...(h.extra ?? {}),
    }, null, 2));
    return this.spawn(h.name, address, configFile);
  }

  /** Starts a stopped (or killed) host's daemon again, with the same configuration. */
  async restart(host: string): Promise<LocalDaemon> {
    const prev = this.started.get(host);
    if (!prev) throw new Error(`no daemon was started for ${host}`);
    if (this.daemons.has(host)) throw new Error(`${host}'s daemon still runs`);
    return this.spawn(host, prev.address, prev.configFile);
  }

  private async spawn(host: string, address: string, configFile: string): Promise<LocalDaemon> {
    const [cmd, ...args] = this.s.command;
    const child = spawn(cmd!, [...args, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const pki = this.s.pkiDir;
    const d: LocalDaemon = {
      host, address, process: child, configFile, log: () => out,
      api: new ApiClient({
        address, secret: this.s.secret, caller: 'cli',
        ...(pki ? { peerName: host, tls: { ca: readFileSync(join(pki, 'ca.crt'), 'utf8'), cert: readFileSync(join(pki, 'cli.crt'), 'utf8'), key: readFileSync(join(pki, 'cli.key'), 'utf8') } } : {}),
      }),
      openFds: () => readdirSync(`/proc/${child.pid}/fd`).length,
    };
    this.daemons.set(host, d);
    this.started.set(host, { address, configFile });
    const limitMs = this.s.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + limitMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`bananad ${host} exited with ${child.exitCode}:\n${out}`);
      if (out.includes('"event":"listening"')) return d;
      if (Date.now() > deadline) throw new Error(`bananad ${host} did not start within ${limitMs / 1000} s:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM, then SIGKILL after 10 s; returns the exit code. */
  async stopOne(host: string): Promise<number | null> {
    const d = this.daemons.get(host);
    if (!d) return null;
    this.daemons.delete(host);
    // Killed by a signal, a process has no exit code but has exited all the same.
    if (d.process.exitCode !== null || d.process.signalCode !== null) return d.process.exitCode;
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
