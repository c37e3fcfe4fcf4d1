/**
 * Baseline: in-kernel XDP_REDIRECT. xdp_fwd.bpf.c (compiled with clang at
 * start) is attached to the ingress veth and redirects every frame through a
 * one-slot DEVMAP to the egress veth. See README.md.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaselineError, type ForwardPath, type Forwarder, type PeerInterface } from './forwarder.js';
import { SysfsRestorer, detachXdp, inNetns, linkState, run, threadedNapiOn, type XdpMode } from './sys.js';

const NAME = 'xdp-redirect';
const HERE = dirname(fileURLToPath(import.meta.url));
/** The program source: next to this module, or (when running from dist/bench/baselines) in the repo's bench/baselines. */
const SOURCES = [join(HERE, 'xdp_fwd.bpf.c'), join(HERE, '..', '..', '..', 'bench', 'baselines', 'xdp_fwd.bpf.c')];

async function findSource(): Promise<string> {
  for (const s of SOURCES) {
    if (await access(s).then(() => true, () => false)) return s;
  }
  throw new BaselineError(NAME, `xdp_fwd.bpf.c not found (looked at ${SOURCES.join(', ')})`);
}

export interface XdpRedirectOptions {
  /** Attach mode on the ingress veth; default 'drv' (veth's native XDP). */
  mode?: 'drv' | 'skb';
  /**
   * Run the ingress veth's NAPI (where the program runs) in a kthread pinned to
   * this CPU. Without it the program runs in the softirq of whoever transmitted
   * into the veth, i.e. on the generator's core. Default: unset.
   */
  cpu?: number;
  /**
   * The egress veth's peer (the sink's s0). A frame redirected into a veth is
   * dropped unless the peer has NAPI, i.e. an XDP program or GRO. When given,
   * GRO is turned on there for the run (if it has no XDP program) and restored after.
   */
  egressPeer?: PeerInterface;
  /** Pre-built object; default: compile bench/baselines/xdp_fwd.bpf.c into a temp dir. */
  object?: string;
  clang?: string;
  /** Extra include dir for clang (asm/ headers); default /usr/include/x86_64-linux-gnu. */
  includeDir?: string;
}

function littleEndianBytes(n: number): string[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].map(String);
}

async function groEnabled(baseline: string, peer: PeerInterface): Promise<boolean> {
  const { stdout } = await run(baseline, inNetns(peer.netns, ['ethtool', '-k', peer.ifname]));
  const m = /^generic-receive-offload:\s*(on|off)/m.exec(stdout);
  if (m === null) throw new BaselineError(baseline, `cannot read GRO state of ${peer.netns}/${peer.ifname}`, { stderr: stdout });
  return m[1] === 'on';
}

async function setGro(baseline: string, peer: PeerInterface, on: boolean): Promise<void> {
  await run(baseline, inNetns(peer.netns, ['ethtool', '-K', peer.ifname, 'gro', on ? 'on' : 'off']));
}

export class XdpRedirectForwarder implements Forwarder {
  readonly name = NAME;
  private readonly restorer = new SysfsRestorer(NAME);
  private attached = false;
  private tmp: string | undefined;
  private peerGroWasOff = false;
  private _progId: number | undefined;
  private _mode: XdpMode | undefined;

  constructor(
    readonly path: ForwardPath,
    private readonly opts: XdpRedirectOptions = {},
  ) {}

  get description(): string {
    const mode = this._mode ?? this.opts.mode ?? 'drv';
    const cpu = this.opts.cpu !== undefined ? `, threaded NAPI on CPU ${this.opts.cpu}` : ', softirq on the sender core';
    return `XDP_REDIRECT via DEVMAP ${this.path.ingress} -> ${this.path.egress} (${mode} mode)${cpu}`;
  }

  /** The attached program's id (after start). */
  get progId(): number | undefined {
    return this._progId;
  }

  private async compile(): Promise<string> {
    if (this.opts.object !== undefined) return this.opts.object;
    const source = await findSource();
    this.tmp = await mkdtemp(join(tmpdir(), 'banana-xdp-fwd-'));
    const out = join(this.tmp, 'xdp_fwd.bpf.o');
    await run(NAME, [
      this.opts.clang ?? 'clang',
      '-O2',
      '-g',
      '-target',
      'bpf',
      `-I${this.opts.includeDir ?? '/usr/include/x86_64-linux-gnu'}`,
      '-c',
      source,
      '-o',
      out,
    ]);
    return out;
  }

  async start(): Promise<void> {
    if (this.attached) return;
    const { netns, ingress, egress } = this.path;
    const [inLink, egLink] = await Promise.all([linkState(NAME, netns, ingress), linkState(NAME, netns, egress)]);
    if (inLink.xdp !== undefined) {
      throw new BaselineError(NAME, `${netns}/${ingress} already has an XDP program (id ${String(inLink.xdp.progId)})`);
    }
    try {
      const object = await this.compile();
      const mode = this.opts.mode === 'skb' ? 'xdpgeneric' : 'xdpdrv';
      await run(NAME, ['ip', '-n', netns, 'link', 'set', 'dev', ingress, mode, 'obj', object, 'sec', 'xdp']);
      this.attached = true;
      const now = await linkState(NAME, netns, ingress);
      if (now.xdp?.progId === undefined || now.xdp.progName !== 'xdp_fwd') {
        throw new BaselineError(NAME, `xdp_fwd not attached to ${netns}/${ingress}`);
      }
      this._progId = now.xdp.progId;
      this._mode = now.xdp.mode;

      // fill the DEVMAP: must run inside the namespace, ifindexes are resolved there
      const { stdout: progJson } = await run(NAME, ['bpftool', '-j', 'prog', 'show', 'id', String(now.xdp.progId)]);
      const prog: unknown = JSON.parse(progJson);
      const mapIds =
        typeof prog === 'object' && prog !== null && Array.isArray((prog as Record<string, unknown>).map_ids)
          ? ((prog as Record<string, unknown>).map_ids as unknown[]).filter((x): x is number => typeof x === 'number')
          : [];
      const mapId = mapIds[0];
      if (mapIds.length !== 1 || mapId === undefined) {
        throw new BaselineError(NAME, `expected one map on prog ${now.xdp.progId}, got ${JSON.stringify(mapIds)}`);
      }
      const key = ['key', '0', '0', '0', '0'];
      await run(NAME, inNetns(netns, ['bpftool', 'map', 'update', 'id', String(mapId), ...key, 'value', ...littleEndianBytes(egLink.ifindex)]));
      const { stdout: entry } = await run(NAME, inNetns(netns, ['bpftool', '-j', 'map', 'lookup', 'id', String(mapId), ...key]));
      const value: unknown = (JSON.parse(entry) as Record<string, unknown>).value;
      const bytes = Array.isArray(value) ? value.map((b) => Number(b)) : [];
      const got = (bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8) | ((bytes[2] ?? 0) << 16) | ((bytes[3] ?? 0) << 24);
      if (got !== egLink.ifindex) {
        throw new BaselineError(NAME, `DEVMAP slot 0 holds ifindex ${got}, expected ${egLink.ifindex} (${egress})`);
      }

      const peer = this.opts.egressPeer;
      if (peer !== undefined) {
        const peerLink = await linkState(NAME, peer.netns, peer.ifname);
        if (peerLink.xdp === undefined && !(await groEnabled(NAME, peer))) {
          await setGro(NAME, peer, true);
          this.peerGroWasOff = true;
          if (!(await groEnabled(NAME, peer))) {
            throw new BaselineError(NAME, `cannot turn GRO on at ${peer.netns}/${peer.ifname}`);
          }
        }
      }
      if (this.opts.cpu !== undefined) {
        await threadedNapiOn(NAME, this.restorer, netns, ingress, this.opts.cpu);
      }
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  async stop(): Promise<void> {
    let failure: unknown;
    const keep = (err: unknown): void => {
      failure ??= err;
    };
    // threaded first: it can only be written while the veth still has NAPI (the program)
    await this.restorer.restore().catch(keep);
    if (this.attached) {
      await detachXdp(NAME, this.path.netns, this.path.ingress).then(() => {
        this.attached = false;
        this._progId = undefined;
      }, keep);
    }
    const peer = this.opts.egressPeer;
    if (this.peerGroWasOff && peer !== undefined) {
      await setGro(NAME, peer, false).then(() => {
        this.peerGroWasOff = false;
      }, keep);
    }
    if (this.tmp !== undefined) {
      await rm(this.tmp, { recursive: true, force: true }).catch(() => undefined);
      this.tmp = undefined;
    }
    if (failure !== undefined) throw failure;
  }
}
