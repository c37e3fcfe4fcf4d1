// A registry client in another process, for the registry contract tests.
// usage: vite-node test/support/registry-child.ts <store> <command> <host> [count] [peer...]
//   <store>: embedded:<dir> | etcd:<cluster>@<url>[,<url>...]
//   put-endpoints <host> <count> [peer...]: puts the host, waits until the peers' hosts exist
//     (so concurrent writers really overlap), then puts <count> endpoints <host>/nic0/vf<i>
//   churn <host>: puts the host, a spike <host>/vm1/eth0 and a corm <host>/nic0/vf0, deletes the
//     spike, then the host
// Prints {"ready":true} once connected, waits for a line on stdin (so the parent can start
// several children at the same moment), runs, prints {"ok":true,"revisions":[...]}, exits.
import { createInterface } from 'node:readline';
import { EmbeddedRegistry, EtcdRegistry, type Registry } from '../../controller/registry/index.js';

async function connect(store: string): Promise<Registry> {
  if (store.startsWith('embedded:')) return EmbeddedRegistry.open({ dir: store.slice('embedded:'.length) });
  if (store.startsWith('etcd:')) {
    const [cluster = '', urls = ''] = store.slice('etcd:'.length).split('@');
    return EtcdRegistry.open({ cluster, endpoints: urls.split(',') });
  }
  throw new Error(`unknown store ${store}`);
}

const [store = '', command = '', host = '', count = '0', ...peers] = process.argv.slice(2);
const host0 = { name: host, labels: { rack: 'r1' }, controller: `${host}:7000`, underlay: '10.9.0.1' };
const mac = (i: number): string => `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

const registry = await connect(store);
try {
  console.log(JSON.stringify({ ready: true }));
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((r) => lines.once('line', () => r()));
  lines.close();
  const revisions: number[] = [];
  if (command === 'put-endpoints') {
    revisions.push(await registry.putHost(host0));
    const deadline = Date.now() + 10_000;
    const ready = async (): Promise<boolean> => (await Promise.all(peers.map((p) => registry.getHost(p)))).every((h) => h !== undefined);
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`peers ${peers.join(' ')} never appeared`);
      await new Promise((r) => setTimeout(r, 2));
    }
    for (let i = 0; i < Number(count); i++) {
      revisions.push(await registry.putEndpoint({ id: `${host}/nic0/vf${i}`, kind: 'corm', host, mac: mac(i), attributes: {} }));
    }
  } else if (command === 'churn') {
    revisions.push(await registry.putHost(host0));
    revisions.push(await registry.putEndpoint({ id: `${host}/vm1/eth0`, kind: 'spike', host, mac: mac(1), attributes: { vm: 'vm1' } }));
    revisions.push(await registry.putEndpoint({ id: `${host}/nic0/vf0`, kind: 'corm', host, mac: mac(2), attributes: {} }));
    await registry.delete(`endpoints/${host}/vm1/eth0`);
    revisions.push(await registry.revision());
    await registry.delete(`hosts/${host}`);
    revisions.push(await registry.revision());
  } else {
    throw new Error(`unknown command ${command}`);
  }
  console.log(JSON.stringify({ ok: true, revisions }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: (e as Error).message }));
  process.exitCode = 1;
} finally {
  await registry.close();
}
