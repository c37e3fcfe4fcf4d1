// Real etcd servers (Debian's etcd-server) for the tests: one member or a cluster of several on
// loopback ports, data in a tmpfs directory, stopped and removed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../controller/local-cluster.js';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  process: ChildProcess;
  log(): string;
}

export class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private constructor(readonly dir: string) {}

  get endpoints(): string[] {
    return this.members.filter((m) => m.process.exitCode === null && m.process.signalCode === null).map((m) => m.clientUrl);
  }

  /** Starts `size` members and waits until the cluster serves reads. Short Raft timings keep
   * etcd's minimum lease TTL at one second for single members. */
  static async start(size = 1): Promise<EtcdCluster> {
    const c = new EtcdCluster(mkdtempSync('/dev/shm/banana-etcd-'));
    const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), peer: await freePort() })));
    const initial = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
    const [heartbeat, election] = size === 1 ? ['50', '500'] : ['100', '1000'];
    for (const [i, p] of ports.entries()) {
      const clientUrl = `http://127.0.0.1:${p.client}`;
      const child = spawn('etcd', [
        '--name', `m${i}`, '--data-dir', join(c.dir, `m${i}`),
        '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', `http://127.0.0.1:${p.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `banana-${process.pid}`,
        '--heartbeat-interval', heartbeat, '--election-timeout', election, '--log-level', 'warn',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      c.members.push({ name: `m${i}`, clientUrl, process: child, log: () => out });
    }
    try {
      await c.waitHealthy(20_000);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await Promise.all(
        this.members.map((m) => fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)),
      );
      if (ok.every(Boolean)) return;
      const dead = this.members.find((m) => m.process.exitCode !== null);
      if (dead) throw new Error(`etcd ${dead.name} exited: ${dead.log()}`);
      if (Date.now() > deadline) throw new Error(`etcd not healthy within ${timeoutMs} ms: ${this.members.map((m) => m.log()).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL one member (a failure, not a shutdown). */
  kill(i: number): void {
    this.members[i]?.process.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        if (m.process.exitCode !== null || m.process.signalCode !== null) return;
        const exited = new Promise((r) => m.process.once('exit', r));
        m.process.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        m.process.kill('SIGKILL');
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
