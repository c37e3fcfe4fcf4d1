/** What an interface is, read from the kernel: driver (ethtool), MTU and queue counts (sysfs),
 * and the RDMA devices of its namespace (/sys/class/infiniband, with the netdev each rides on).
 * Runs inside the interface's namespace (`ip netns exec`, which mounts that namespace's sysfs). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface RdmaDevice {
  name: string;
  /** The netdev its port 1 rides on ('' when it has none, e.g. InfiniBand). */
  netdev: string;
  /** Kernel driver of the RDMA device's bus device (mlx5_core...); Soft-RoCE has no bus device,
   * so an `rxe*` device without one is reported as rdma_rxe. */
  driver: string;
}

export interface DetectedInterface {
  netns: string;
  ifname: string;
  driver: string;
  mtu: number;
  rxQueues: number;
  txQueues: number;
  rdma: RdmaDevice[];
}

export class DetectError extends Error {
  constructor(message: string, readonly netns: string, readonly ifname: string) {
    super(`${message} [netns=${netns || '(current)'} ifname=${ifname}]`);
    this.name = 'DetectError';
  }
}

// One shell run per interface: each line is "key value".
const SCRIPT = `
set -u
IF="$1"
[ -d "/sys/class/net/$IF" ] || { echo "missing"; exit 0; }
echo "driver $(ethtool -i "$IF" 2>/dev/null | sed -n 's/^driver: //p')"
echo "mtu $(cat "/sys/class/net/$IF/mtu")"
echo "rx $(ls -d /sys/class/net/$IF/queues/rx-* 2>/dev/null | wc -l)"
echo "tx $(ls -d /sys/class/net/$IF/queues/tx-* 2>/dev/null | wc -l)"
for d in /sys/class/infiniband/*; do
  [ -e "$d" ] || continue
  n=$(cat "$d/ports/1/gid_attrs/ndevs/0" 2>/dev/null || true)
  drv=""
  [ -e "$d/device/driver" ] && drv=$(basename "$(readlink "$d/device/driver")")
  echo "rdma $(basename "$d") \${n:--} \${drv:--}"
done
`;

export async function detectInterface(netns: string, ifname: string): Promise<DetectedInterface> {
  const argv = ['sh', '-c', SCRIPT, 'detect', ifname];
  let out: string;
  try {
    out = (await (netns ? execFileP('ip', ['netns', 'exec', netns, ...argv]) : execFileP(argv[0]!, argv.slice(1)))).stdout;
  } catch (e) {
    throw new DetectError(`cannot inspect the interface: ${(e as Error).message.split('\n')[0]}`, netns, ifname);
  }
  if (out.trim() === 'missing') throw new DetectError('no such interface', netns, ifname);
  const d: DetectedInterface = { netns, ifname, driver: '', mtu: 0, rxQueues: 0, txQueues: 0, rdma: [] };
  for (const line of out.split('\n')) {
    const [key, ...rest] = line.trim().split(/\s+/);
    if (key === 'driver') d.driver = rest.join(' ');
    else if (key === 'mtu') d.mtu = Number(rest[0]);
    else if (key === 'rx') d.rxQueues = Number(rest[0]);
    else if (key === 'tx') d.txQueues = Number(rest[0]);
    else if (key === 'rdma' && rest[0]) {
      const driver = rest[2] && rest[2] !== '-' ? rest[2] : rest[0].startsWith('rxe') ? 'rdma_rxe' : '';
      d.rdma.push({ name: rest[0], netdev: rest[1] === '-' ? '' : (rest[1] ?? ''), driver });
    }
  }
  if (!d.driver) throw new DetectError('ethtool reports no driver', netns, ifname);
  return d;
}
