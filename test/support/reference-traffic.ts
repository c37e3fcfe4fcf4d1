// Traffic checks shared by the tests on the reference topology: TCP iperf3 between vm1 and the
// outside server, a capture of the wire's UDP frames on the fabric bridge, and the udp paths a
// hot-swap between hostA and hostB moves to.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasExited, waitExit, type ReferenceTopology } from '../bed/index.js';
import type { Port, UdpPathSettings } from '../../dataplane/lib/index.js';
import { readPcap } from './pcap.js';

/** Bytes ext received (vm1 -> ext), or vm1 received with reverse (ext -> vm1), over 2 s. */
export async function iperfVm1ToExt(topo: ReferenceTopology, reverse: boolean, seconds = 2): Promise<number> {
  const server = topo.ext.ns.spawn(['iperf3', '-s', '-1', '-B', topo.ext.ip]);
  await new Promise((r) => setTimeout(r, 300));
  try {
    const args = ['iperf3', '-c', topo.ext.ip, '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])];
    const report = JSON.parse(await topo.vm1.ns.exec(args, { timeoutMs: 20000 })) as { end: { sum_received: { bytes: number } } };
    return report.end.sum_received.bytes;
  } finally {
    server.kill();
  }
}

/** Captures IPv4 UDP frames to `port` on the fabric bridge while `during` runs. */
export async function captureFabricUdp(topo: ReferenceTopology, port: number, during: () => Promise<unknown>): Promise<Buffer[]> {
  const file = join(mkdtempSync(join(tmpdir(), 'banana-pcap-')), 'fabric.pcap');
  const cap = topo.fabric.ns.spawn(['tcpdump', '--immediate-mode', '-i', 'br0', '-U', '-w', file, '-c', '500', 'udp', 'port', String(port)]);
  // Start the traffic only once tcpdump says it listens (a fixed sleep loses the race under load).
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000);
    let err = '';
    cap.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await during();
  await new Promise((r) => setTimeout(r, 300));
  // Keepalives alone fill a small -c in a second: capture until told to stop, and wait for the
  // file. Immediate mode: without it libpcap hands packets over per ring block, and the block
  // still open at SIGINT is lost.
  if (!hasExited(cap)) cap.kill('SIGINT');
  await waitExit(cap, 5000);
  return readPcap(file).filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 17);
}

/** The udp paths hostA and hostB swap a wire to: their underlay ports, a new wire id. */
export function udpSwapPaths(topo: ReferenceTopology, underlayA: Port, underlayB: Port, wireId: number): [UdpPathSettings, UdpPathSettings] {
  const { hostA, hostB } = topo;
  return [
    { wireId, underlay: underlayA, localMac: hostA.underlay.mac, nextHopMac: hostB.underlay.mac, localIp: hostA.underlayIp, remoteIp: hostB.underlayIp, underlayMtu: 1500 },
    { wireId, underlay: underlayB, localMac: hostB.underlay.mac, nextHopMac: hostA.underlay.mac, localIp: hostB.underlayIp, remoteIp: hostA.underlayIp, underlayMtu: 1500 },
  ];
}
