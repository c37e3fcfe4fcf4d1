/** `bananad --config FILE`: the per-host daemon. Today it runs the host's dataplane from its
 * configuration and logs counters as JSON lines; the endpoint controller joins it next. */
import { readFileSync } from 'node:fs';
import { Engine } from '../dataplane/lib/index.js';
import { parseDataplaneConfig } from './dataplane-config.js';

function log(event: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ time: new Date().toISOString(), event, ...fields }, (_k, v: unknown) =>
    typeof v === 'bigint' ? Number(v) : v,
  );
  process.stdout.write(`${line}\n`);
}

export async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--config');
  const file = i >= 0 ? argv[i + 1] : undefined;
  if (!file) {
    process.stderr.write('usage: bananad --config FILE\n');
    return 2;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    process.stderr.write(`bananad: cannot read ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  const cfg = parseDataplaneConfig(file, raw);
  const engine = new Engine(cfg.engine);
  engine.on('queue-failed', (f) => log('queue-failed', { port: f.port?.toString(), queue: f.queue, code: f.code }));
  for (const p of cfg.ports) {
    const port = engine.addPort(p);
    log('port-up', { port: port.toString(), mode: port.mode, zeroCopy: port.zeroCopy, queues: port.queues });
  }
  engine.start();
  log('started', { host: cfg.host, workers: engine.workers });
  const timer =
    cfg.statsIntervalMs > 0
      ? setInterval(() => {
          for (const p of engine.ports()) log('counters', { port: p.toString(), ...p.counters() });
        }, cfg.statsIntervalMs)
      : undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  if (timer) clearInterval(timer);
  engine.close();
  log('stopped', { host: cfg.host });
  return 0;
}
