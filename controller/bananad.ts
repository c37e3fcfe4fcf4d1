/** `bananad --config FILE`: the per-host daemon. It runs the host's engine (Corms, Spikes,
 * wire ends), publishes the host and its endpoints in the registry, and serves the controller
 * API that operators, the CLI and peer controllers call. Logs are pino JSON lines on stdout. */
import { pino, type Logger } from 'pino';
import { buildApiServer } from './api/server.js';
import { ConfigError } from './config/config-error.js';
import { DaemonLock, DaemonLockError } from './daemon-lock.js';
import { readHostConfig, type HostConfig } from './config/host-config.js';
import { HostController } from './host-controller.js';
import { EmbeddedRegistry, EtcdRegistry } from './registry/index.js';

export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

export interface RunningDaemon {
  config: HostConfig;
  controller: HostController;
  close(): Promise<void>;
}

/** Starts everything a host runs; `close()` undoes it (API, then engine, then lease). */
export async function startDaemon(config: HostConfig, log: Logger): Promise<RunningDaemon> {
  const driven = [config.underlay.ifname, ...config.corms.map((c) => c.ifname)].map((ifname) => ({ netns: config.netns, ifname }));
  const lock = await DaemonLock.acquire(config.runDir, config.host, driven, log);
  const r = config.registry;
  const registry = r.type === 'etcd' ? await EtcdRegistry.open({ endpoints: r.endpoints, cluster: r.cluster }) : await EmbeddedRegistry.open({ dir: r.dir });
  let controller: HostController;
  try {
    controller = await HostController.start(config, registry, log, (d) => lock.add(d));
  } catch (e) {
    await registry.close();
    lock.release();
    throw e;
  }
  const api = buildApiServer({
    controller, registry, secret: config.secret, log, host: config.host, listen: config.listen, operators: config.operators,
    ...(config.tls ? { tls: config.tls } : {}),
  });
  try {
    await api.listen(splitAddress(config.listen));
  } catch (e) {
    await controller.close();
    lock.release();
    throw e;
  }
  try {
    await controller.publish();
  } catch (e) {
    await api.close();
    await controller.close();
    lock.release();
    throw e;
  }
  // Logged last: from here peers find this host and it answers them.
  log.info({ event: 'listening', address: config.listen, tls: config.tls ? 'mutual' : 'off' }, 'controller API listening');
  return {
    config,
    controller,
    async close() {
      await api.close();
      await controller.close();
      lock.release();
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--config');
  const file = i >= 0 ? argv[i + 1] : undefined;
  if (!file) {
    process.stderr.write('usage: bananad --config FILE\n');
    return 2;
  }
  let config: HostConfig;
  try {
    config = readHostConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`bananad: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = pino({ base: { host: config.host }, level: process.env.BANANA_LOG_LEVEL ?? 'info' });
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (e) {
    if (e instanceof DaemonLockError) {
      process.stderr.write(`bananad: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await daemon.close();
  return 0;
}
