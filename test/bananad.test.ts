// bananad: config validation, and a real daemon process running a host's dataplane.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseDataplaneConfig } from '../controller/dataplane-config.js';
import { twoVmHost } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';

describe('bananad config', () => {
  it('names the file and the field of a bad value', () => {
    expect(() => parseDataplaneConfig('host.json', { host: 'a', ports: [{ ifname: 'eth0', mode: 'fast' }] })).toThrow(
      new ConfigError('host.json', 'ports[0].mode', 'must be auto, native or generic, got "fast"'),
    );
    expect(() => parseDataplaneConfig('h.json', { host: 'a', ports: [] })).toThrow(/h\.json: ports: must be a non-empty array/);
    expect(() => parseDataplaneConfig('h.json', { ports: [{ ifname: 'x' }] })).toThrow(/h\.json: host:/);
    expect(() => parseDataplaneConfig('h.json', { host: 'a', ports: [{ ifname: 'much-too-long-name' }] })).toThrow(/ports\[0\]\.ifname/);
  });
});

describe('bananad daemon', () => {
  const bed = useTestBed();

  it('runs the configured ports, switches traffic, logs counters and cleans up on SIGTERM', async () => {
    const topo = await twoVmHost(bed(), { ipv6: false });
    const dir = mkdtempSync(join(tmpdir(), 'bananad-'));
    const file = join(dir, 'host.json');
    writeFileSync(file, JSON.stringify({
      host: 'host1',
      engine: { idle: { policy: 'backoff' } },
      ports: topo.vms.map((vm) => ({ ifname: vm.tap.name, netns: topo.host.name })),
      statsIntervalMs: 200,
    }));
    const child = spawn('node_modules/.bin/vite-node', ['test/support/bananad-entry.ts', '--config', file]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 20000;
    while (!out.includes('"started"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain('"event":"port-up"');
    const ping = await topo.vm1.ns.exec(['ping', '-c', '3', '-i', '0.2', topo.vm2.ip]);
    expect(ping).toMatch(/3 received/);
    await new Promise((r) => setTimeout(r, 500));
    const counters = out.split('\n').filter((l) => l.includes('"counters"')).map((l) => JSON.parse(l) as { port: string; rx_packets: number });
    expect(counters.some((c) => c.port.endsWith('tap-vm1') && c.rx_packets >= 3)).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('"event":"stopped"');
    const link = JSON.parse(await topo.host.exec(['ip', '-j', 'link', 'show', 'dev', topo.vm1.tap.name])) as { xdp?: unknown }[];
    expect(link[0]?.xdp).toBeUndefined();
  });
});
