/** perftest's ib_send_lat, ib_write_lat and ib_send_bw on one RDMA device: the verbs-level floor an `rdma`
 * wire is compared with. Server and client run here, exchanging over TCP on loopback; on one
 * device (Soft-RoCE on lo) the queue pairs talk to each other through it. */
import { spawn } from 'node:child_process';

export interface PerftestEnds {
  device: string;
  gidIndex: number;
}

let nextPort = 18600;

/** The data row of a perftest table: the line whose first column is the message size. */
function row(out: string, size: number, tool: string): number[] {
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] === String(size) && cols.length >= 5 && cols.every((c) => /^[\d.]+$/.test(c))) return cols.map(Number);
  }
  throw new Error(`${tool}: no result row for ${size} bytes in its output:\n${out.slice(-2000)}`);
}

async function runPair(tool: string, args: string[], timeoutMs: number): Promise<string> {
  const port = String(nextPort++);
  const common = [...args, '-p', port, '-F'];
  const server = spawn(tool, common, { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverOut = '';
  server.stdout.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr.on('data', (d: Buffer) => (serverOut += d.toString()));
  await new Promise((r) => setTimeout(r, 500));
  try {
    return await new Promise<string>((resolve, reject) => {
      const c = spawn(tool, [...common, '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const guard = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', (code) => {
        clearTimeout(guard);
        if (code === 0) resolve(out);
        else reject(new Error(`${tool} ${common.join(' ')} 127.0.0.1 exited ${code}:\n${out.slice(-1500)}\nserver:\n${serverOut.slice(-1500)}`));
      });
    });
  } finally {
    server.kill();
  }
}

/** Round trip of a ping-pong of SENDs (ib_send_lat) or RDMA WRITEs (ib_write_lat, polling the
 * written buffer); the tools report half of it, doubled here. */
export async function ibLat(tool: 'ib_send_lat' | 'ib_write_lat', e: PerftestEnds, size: number, iterations: number): Promise<{ p50: number; p99: number; p999: number }> {
  const out = await runPair(tool, ['-d', e.device, '-x', String(e.gidIndex), '-s', String(size), '-n', String(iterations)], 120_000);
  // #bytes #iterations t_min t_max t_typical t_avg t_stdev 99% 99.9%
  const r = row(out, size, tool);
  return { p50: 2 * r[4]!, p99: 2 * (r[7] ?? r[4]!), p999: 2 * (r[8] ?? r[4]!) };
}

/** Streaming SENDs: Gbit/s and million messages per second. */
export async function ibSendBw(e: PerftestEnds, size: number, seconds: number): Promise<{ gbps: number; mpps: number }> {
  const out = await runPair('ib_send_bw', ['-d', e.device, '-x', String(e.gidIndex), '-s', String(size), '-D', String(seconds)], 120_000);
  // #bytes #iterations BW_peak[MB/s] BW_average[MB/s] MsgRate[Mpps]
  const r = row(out, size, 'ib_send_bw');
  return { gbps: (r[3]! * 8 * 1.048576) / 1000, mpps: r[4]! };
}
