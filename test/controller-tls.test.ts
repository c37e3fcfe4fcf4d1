// Mutual TLS between controllers (certificates from `banana pki`): wiring works; plain HTTP,
// certificates from another CA, a certificate used to sign as someone else, and a server that is
// not the host the client meant are all refused.
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient, type ApiError } from '../controller/api/api-client.js';
import type { HostView, WireView } from '../controller/model/views.js';
import { referenceTopology, type ReferenceTopology } from './bed/index.js';
import { useTestBed } from './bed/vitest.js';
import { banana } from './support/banana-cli.js';
import { DaemonCluster, TEST_SECRET, type Daemon } from './support/daemons.js';

describe('controllers over mutual TLS', () => {
  const bed = useTestBed();
  const pki = mkdtempSync('/dev/shm/banana-pki-');
  const rogue = mkdtempSync('/dev/shm/banana-rogue-pki-');
  let topo: ReferenceTopology;
  let cluster: DaemonCluster | undefined;
  let a: Daemon;
  let b: Daemon;
  afterAll(async () => cluster?.stop());
  const material = (dir: string, name: string) => ({
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  });

  it('makes a CA and host certificates with `banana pki`', async () => {
    expect((await banana(['pki', 'init', pki])).out).toContain('ca.crt');
    for (const h of ['hostA', 'hostB', 'hostC']) expect((await banana(['pki', 'issue', pki, h])).code).toBe(0);
    expect((await banana(['pki', 'init', pki])).err).toMatch(/a CA already exists here/);
    expect((await banana(['pki', 'issue', pki, 'bad/name'])).err).toMatch(/name must match/);
    await banana(['pki', 'init', rogue]);
    await banana(['pki', 'issue', rogue, 'hostB']);
  });

  it('wires vm1 to hostA/nic0 with every controller call over mutual TLS', async () => {
    topo = await referenceTopology(bed(), { underlayMtu: 3000, ipv6: false });
    cluster = await DaemonCluster.start([
      { name: 'hostA', netns: topo.hostA.ns.name, underlay: topo.hostA.underlay.name, corms: [{ name: 'nic0', ifname: 'nic0' }] },
      { name: 'hostB', netns: topo.hostB.ns.name, underlay: topo.hostB.underlay.name },
    ], undefined, pki);
    a = cluster.get('hostA');
    b = cluster.get('hostB');
    expect(a.log()).toContain('"tls":"mutual"');
    await b.api.request('POST', '/v1/spikes', { name: 'vm1', ifname: topo.vm1.tap.name, mac: topo.vm1.mac });
    const w = await b.api.request<WireView>('POST', '/v1/spikes/vm1/connect', { corm: 'hostA/nic0' });
    expect(w.type).toBe('udp');
    expect(await topo.vm1.ns.exec(['ping', '-c', '2', '-i', '0.2', topo.ext.ip])).toMatch(/2 received/);
    const cli = await banana(['wire', 'ls', '--config', b.configFile]);
    expect(cli.out).toMatch(/udp\s+spike\s+hostB\/vm1\s+hostA\/nic0/);
  });

  it('refuses plain HTTP, a certificate from another CA, and a certificate signing as someone else', async () => {
    await expect(fetch(`http://${a.address}/v1/wires`)).rejects.toThrow();
    const foreign = new ApiClient({ address: a.address, secret: TEST_SECRET, caller: 'hostB', peerName: 'hostA', tls: { ...material(rogue, 'hostB'), ca: material(pki, 'hostA').ca } });
    await expect(foreign.request('GET', '/v1/wires')).rejects.toMatchObject({ status: 0, code: 'unreachable' });
    // hostC holds a valid certificate, and the secret, but may not speak as hostB.
    const impostor = new ApiClient({ address: a.address, secret: TEST_SECRET, caller: 'hostB', peerName: 'hostA', tls: material(pki, 'hostC') });
    const r = await impostor.request('GET', '/v1/wires').catch((e: ApiError) => e);
    expect(r).toMatchObject({ status: 401, body: { reason: 'identity-mismatch', message: "signed as hostB but the client certificate is hostC's" } });
    // hostB, as itself, is a peer: it may open wire ends on hostA, not manage hostA.
    const peer = new ApiClient({ address: a.address, secret: TEST_SECRET, caller: 'hostB', peerName: 'hostA', tls: material(pki, 'hostB') });
    const manage = await peer.request('POST', '/v1/spikes', { name: 'x', ifname: 'nic0', mac: '02:00:00:00:00:09' }).catch((e: ApiError) => e);
    expect(manage).toMatchObject({ status: 403, body: { message: 'hostB may not manage hostA: operator routes admit cli, hostA' } });
    const host = await a.api.request<HostView & { authRefusals: Record<string, number> }>('GET', '/v1/host');
    expect(host.authRefusals['identity-mismatch']).toBe(1);
    expect(host.authRefusals.forbidden).toBe(1);
  });

  it('refuses a server that is not the host the client meant', async () => {
    const wrongPeer = new ApiClient({ address: b.address, secret: TEST_SECRET, caller: 'hostA', peerName: 'hostA', tls: material(pki, 'hostA') });
    const r = await wrongPeer.request('GET', '/v1/wires').catch((e: ApiError) => e);
    expect(r).toMatchObject({ status: 0, code: 'unreachable' });
    expect((r as ApiError).message).toMatch(/server certificate is hostB's, expected hostA's/);
  });
});
