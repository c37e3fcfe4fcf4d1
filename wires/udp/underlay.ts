/** What a `udp` wire needs to know about a host's underlay interface and its peer: the
 * interface's MAC, IPv4 address and MTU, and the next hop's MAC (ARP, resolved by the
 * kernel: the underlay port leaves ARP to the kernel). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export class UnderlayError extends Error {
  constructor(
    message: string,
    readonly netns: string,
    readonly ifname: string,
  ) {
    super(`${message} [netns=${netns || '(current)'} ifname=${ifname}]`);
    this.name = 'UnderlayError';
  }
}

export interface UnderlayInterface {
  netns: string;
  ifname: string;
  mac: string;
  ip: string;
  mtu: number;
}

async function ip(netns: string, args: string[]): Promise<string> {
  const argv = netns ? ['-n', netns, ...args] : args;
  return (await execFileP('ip', argv)).stdout;
}

interface IpAddrJson {
  address?: string;
  mtu?: number;
  addr_info?: { family: string; local: string }[];
}

async function addrShow(netns: string, ifname: string, what: string): Promise<IpAddrJson> {
  let links: IpAddrJson[];
  try {
    links = JSON.parse(await ip(netns, ['-j', 'addr', 'show', 'dev', ifname])) as IpAddrJson[];
  } catch (e) {
    throw new UnderlayError(`${what} not found: ${(e as Error).message.split('\n')[0]}`, netns, ifname);
  }
  const link = links[0];
  if (!link?.address || !link.mtu) throw new UnderlayError(`${what} has no MAC or MTU`, netns, ifname);
  return link;
}

/** MAC and MTU of any interface (a Corm's NIC, a Spike's tap). */
export async function describeLink(netns: string, ifname: string): Promise<{ mac: string; mtu: number }> {
  const link = await addrShow(netns, ifname, 'interface');
  return { mac: link.address as string, mtu: link.mtu as number };
}

export async function describeUnderlay(netns: string, ifname: string): Promise<UnderlayInterface> {
  const link = await addrShow(netns, ifname, 'underlay interface');
  const v4 = link.addr_info?.find((a) => a.family === 'inet');
  if (!v4) throw new UnderlayError('underlay interface has no IPv4 address', netns, ifname);
  return { netns, ifname, mac: link.address as string, ip: v4.local, mtu: link.mtu as number };
}

/** The MAC of remoteIp as seen from the underlay, resolving it with the kernel's ARP. */
export async function resolveNextHop(u: UnderlayInterface, remoteIp: string, timeoutMs = 3000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await ip(u.netns, ['-j', 'neigh', 'show', 'to', remoteIp, 'dev', u.ifname]);
    const entry = (JSON.parse(out || '[]') as { lladdr?: string; state?: string[] }[]).find((n) => n.lladdr);
    if (entry?.lladdr && !entry.state?.includes('FAILED')) return entry.lladdr;
    if (Date.now() > deadline) throw new UnderlayError(`cannot resolve the MAC of ${remoteIp} (no ARP reply)`, u.netns, u.ifname);
    // A ping makes the kernel ARP for the peer; its reply is what we wait for.
    const ping = ['ping', '-c', '1', '-W', '1', '-I', u.ifname, remoteIp];
    await execFileP(u.netns ? 'ip' : ping[0]!, u.netns ? ['netns', 'exec', u.netns, ...ping] : ping.slice(1)).catch(() => undefined);
  }
}
