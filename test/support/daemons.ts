// Real bananad processes for a test's simulated hosts, run from sources (vite-node).
import { LocalCluster, type LocalClusterSettings, type LocalDaemon, type LocalHost } from '../../controller/local-cluster.js';

export const TEST_SECRET = 'banana-test-secret-0123456789';
export type Daemon = LocalDaemon;

export class DaemonCluster extends LocalCluster {
  static async start(hosts: LocalHost[], registry?: LocalClusterSettings['registry'], pkiDir?: string): Promise<DaemonCluster> {
    const c = new DaemonCluster({
      command: ['node_modules/.bin/vite-node', 'test/support/bananad-entry.ts', '--'], secret: TEST_SECRET,
      ...(registry ? { registry } : {}), ...(pkiDir ? { pkiDir } : {}),
    });
    await c.startAll(hosts);
    return c;
  }
}
