/**
 * Baseline: dpdk-testpmd (DPDK 22.11) io forwarding between two net_af_xdp
 * vdevs bound to the DUT's veths. See README.md for why it is configured so.
 *
 * testpmd comes from Debian's `dpdk-dev` package (the `dpdk` runtime package
 * has the PMDs but not the binary).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { BaselineError, type ForwardPath, type Forwarder } from './forwarder.js';
import {
  SysfsRestorer,
  cpuList,
  detachXdp,
  inNetns,
  linkState,
  setPromisc,
  threadedNapiOn,
  type LinkState,
  type XdpMode,
} from './sys.js';

const NAME = 'testpmd-af_xdp';
let instances = 0;

export interface TestpmdOptions {
  /** CPU for every testpmd thread (main and forwarding lcore); default 1. */
  cpu?: number;
  /** testpmd binary; default 'dpdk-testpmd'. */
  binary?: string;
  /**
   * net_af_xdp `busy_budget` devarg: preferred busy polling with this budget
   * (the PMD's default is 64); 0 turns busy polling off. Default 64.
   */
  busyBudget?: number;
  /**
   * With busy polling on: the per-device NAPI knobs the DPDK AF_XDP guide asks
   * for, written to the DUT veths for the run and restored after.
   * Default { deferHardIrqs: 2, groFlushTimeoutNs: 200000 }; false leaves them alone.
   */
  napiTuning?: { deferHardIrqs: number; groFlushTimeoutNs: number } | false;
  /**
   * Run the veths' NAPI (the XDP program + copy into the UMEM) in a kthread
   * pinned to `cpu` instead of in softirq wherever it was raised. Meant for
   * busyBudget 0. Default false.
   */
  threadedNapi?: boolean;
  /** net_af_xdp `force_copy=1` (veth is copy mode anyway). Default false. */
  forceCopy?: boolean;
  /** net_af_xdp `xdp_prog=PATH`: a custom XDP program instead of libxdp's default. */
  xdpProg?: string;
  /** EAL memory (MB) with --no-huge; default 512. */
  memoryMb?: number;
  /** testpmd --total-num-mbufs; default 16384 (the default pool does not fit in 512 MB). */
  mbufs?: number;
  /** testpmd --burst (default 32 = testpmd's default). */
  burst?: number;
  /** testpmd --rxd / --txd (ring sizes); default: the PMD's (2048). */
  rxd?: number;
  txd?: number;
  /** ms to wait for "Press enter to exit"; default 30000. */
  readyTimeoutMs?: number;
  /** ms to wait for exit after SIGINT before SIGKILL; default 15000. */
  stopTimeoutMs?: number;
  extraEalArgs?: string[];
  extraTestpmdArgs?: string[];
  /** Every output line of testpmd (stdout and stderr), e.g. for a log file. */
  onOutput?: (line: string) => void;
}

export interface TestpmdPortStats {
  rxPackets: number;
  rxDropped: number;
  rxTotal: number;
  txPackets: number;
  txDropped: number;
  txTotal: number;
}

export interface TestpmdStats {
  /** Indexed by DPDK port id: 0 = ingress vdev, 1 = egress vdev. */
  ports: TestpmdPortStats[];
  accumulated?: TestpmdPortStats;
}

/** How the AF_XDP sockets ended up, as far as can be told. */
export interface TestpmdBinding {
  ingressXdp?: XdpMode;
  egressXdp?: XdpMode;
  /** From the PMD log: the busy-poll budget, 'off' (budget 0) or 'unavailable' (kernel refused). */
  busyPoll?: number | 'off' | 'unavailable';
  /** True when the PMD said it uses the mbuf pool as UMEM (no copy between UMEM and mbufs). */
  umemIsMbufPool?: boolean;
  /** The XDP program libxdp attached (e.g. 'xsk_def_prog'). */
  progName?: string;
  dpdkVersion?: string;
}

/** Parses testpmd's "Forward statistics" blocks (printed when forwarding stops). */
export function parseForwardStats(text: string): TestpmdStats | undefined {
  const ports: TestpmdPortStats[] = [];
  let accumulated: TestpmdPortStats | undefined;
  const block =
    /(?:Forward statistics for port (\d+)|Accumulated forward statistics for all ports)[^\n]*\n\s*RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)\s+RX-total:\s*(\d+)\s*\n\s*TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)\s+TX-total:\s*(\d+)/g;
  let found = false;
  for (const m of text.matchAll(block)) {
    found = true;
    const s: TestpmdPortStats = {
      rxPackets: Number(m[2]),
      rxDropped: Number(m[3]),
      rxTotal: Number(m[4]),
      txPackets: Number(m[5]),
      txDropped: Number(m[6]),
      txTotal: Number(m[7]),
    };
    if (m[1] === undefined) accumulated = s;
    else ports[Number(m[1])] = s;
  }
  if (!found) return undefined;
  return accumulated !== undefined ? { ports, accumulated } : { ports };
}

/** Facts the PMD and EAL print at start-up. */
export function parseBindingLog(text: string): TestpmdBinding {
  const b: TestpmdBinding = {};
  const budget = /Busy polling budget set to: (\d+)/.exec(text);
  if (budget !== null) b.busyPoll = Number(budget[1]);
  else if (/Preferred busy polling not enabled|Failed to set SO_PREFER_BUSY_POLL/.test(text)) b.busyPoll = 'unavailable';
  if (/Zero copy between umem and mbuf enabled/.test(text)) b.umemIsMbufPool = true;
  const ver = /RTE Version: '([^']+)'/.exec(text);
  if (ver !== null && ver[1] !== undefined) b.dpdkVersion = ver[1];
  return b;
}

export class TestpmdForwarder implements Forwarder {
  readonly name = NAME;
  private readonly opts: Required<
    Pick<TestpmdOptions, 'cpu' | 'binary' | 'busyBudget' | 'memoryMb' | 'mbufs' | 'readyTimeoutMs' | 'stopTimeoutMs'>
  > &
    TestpmdOptions;
  private child: ChildProcess | undefined;
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private output = '';
  private readonly restorer = new SysfsRestorer(NAME);
  private before: { ingress: LinkState; egress: LinkState } | undefined;
  private _binding: TestpmdBinding = {};
  private _stats: TestpmdStats | undefined;
  private _napiThreads: number[] = [];
  /** EAL runtime directory name (/var/run/dpdk/PREFIX), unique per instance; removed at stop. */
  private readonly filePrefix = `banana-blt-${process.pid}-${++instances}`;

  constructor(
    readonly path: ForwardPath,
    opts: TestpmdOptions = {},
  ) {
    this.opts = {
      cpu: 1,
      binary: 'dpdk-testpmd',
      busyBudget: 64,
      memoryMb: 512,
      mbufs: 16384,
      readyTimeoutMs: 30_000,
      stopTimeoutMs: 15_000,
      ...opts,
    };
  }

  get description(): string {
    const b = this._binding;
    const mode = b.ingressXdp ?? 'drv?';
    const busy =
      this.opts.busyBudget > 0
        ? `preferred busy poll budget ${this.opts.busyBudget}` + (b.busyPoll === 'unavailable' ? ' (refused by kernel)' : '')
        : 'no busy poll';
    const napi = this.opts.threadedNapi === true ? `, threaded NAPI on CPU ${this.opts.cpu}` : '';
    return (
      `dpdk-testpmd ${b.dpdkVersion?.replace(/^DPDK /, '') ?? '22.11'} io fwd, net_af_xdp copy mode (${mode}), ` +
      `${busy}${napi}, 1 fwd lcore on CPU ${this.opts.cpu}, --no-huge`
    );
  }

  /** What the AF_XDP binding ended up as (filled in by start()). */
  get binding(): TestpmdBinding {
    return { ...this._binding };
  }

  /** testpmd's final per-port counters, parsed from its output at stop(). */
  get stats(): TestpmdStats | undefined {
    return this._stats;
  }

  /** Everything testpmd printed so far. */
  get log(): string {
    return this.output;
  }

  /** The argv that start() runs (inside the namespace, pinned). */
  commandLine(): string[] {
    const o = this.opts;
    const cpu = cpuList(o.cpu);
    const devargs = (index: number, iface: string): string => {
      const a = [`net_af_xdp${index}`, `iface=${iface}`, 'start_queue=0', 'queue_count=1', `busy_budget=${o.busyBudget}`];
      if (o.forceCopy === true) a.push('force_copy=1');
      if (o.xdpProg !== undefined) a.push(`xdp_prog=${o.xdpProg}`);
      return a.join(',');
    };
    const eal = [
      '-v',
      '--lcores',
      `0@${cpu},1@${cpu}`,
      '--main-lcore',
      '0',
      '--no-huge',
      '-m',
      String(o.memoryMb),
      '--no-pci',
      '--file-prefix',
      this.filePrefix,
      '--log-level=pmd.net.af_xdp:info',
      '--vdev',
      devargs(0, this.path.ingress),
      '--vdev',
      devargs(1, this.path.egress),
      ...(o.extraEalArgs ?? []),
    ];
    const app = [
      '--forward-mode=io',
      '--nb-cores=1',
      '--auto-start',
      `--total-num-mbufs=${o.mbufs}`,
      ...(o.burst !== undefined ? [`--burst=${o.burst}`] : []),
      ...(o.rxd !== undefined ? [`--rxd=${o.rxd}`] : []),
      ...(o.txd !== undefined ? [`--txd=${o.txd}`] : []),
      ...(o.extraTestpmdArgs ?? []),
    ];
    // stdbuf: testpmd's stdout is a pipe here; without line buffering "Press enter to exit"
    // and the final statistics would sit in its stdio buffer.
    return inNetns(this.path.netns, ['taskset', '-c', cpu, 'stdbuf', '-oL', '-eL', o.binary, ...eal, '--', ...app]);
  }

  async start(): Promise<void> {
    if (this.child !== undefined && this.exitInfo === undefined) return;
    const { netns, ingress, egress } = this.path;
    const [inLink, egLink] = await Promise.all([linkState(NAME, netns, ingress), linkState(NAME, netns, egress)]);
    for (const l of [inLink, egLink]) {
      if (l.xdp !== undefined) {
        throw new BaselineError(NAME, `${netns}/${l.ifname} already has an XDP program (id ${String(l.xdp.progId)})`);
      }
    }
    this.before = { ingress: inLink, egress: egLink };
    this._stats = undefined;
    this._binding = {};
    this.output = '';
    this.exitInfo = undefined;

    try {
      if (this.opts.busyBudget > 0 && this.opts.napiTuning !== false) {
        const t = this.opts.napiTuning ?? { deferHardIrqs: 2, groFlushTimeoutNs: 200_000 };
        for (const ifname of [ingress, egress]) {
          await this.restorer.set(netns, ifname, 'napi_defer_hard_irqs', String(t.deferHardIrqs));
          await this.restorer.set(netns, ifname, 'gro_flush_timeout', String(t.groFlushTimeoutNs));
        }
      }
      await this.spawnAndWait();
      const [inNow, egNow] = await Promise.all([linkState(NAME, netns, ingress), linkState(NAME, netns, egress)]);
      if (inNow.xdp === undefined || egNow.xdp === undefined) {
        throw new BaselineError(NAME, 'testpmd says it is forwarding but no XDP program is attached', {
          command: this.commandLine().join(' '),
          stderr: this.output,
        });
      }
      this._binding = {
        ...parseBindingLog(this.output),
        ingressXdp: inNow.xdp.mode,
        egressXdp: egNow.xdp.mode,
        ...(inNow.xdp.progName !== undefined ? { progName: inNow.xdp.progName } : {}),
      };
      if (this.opts.busyBudget === 0) this._binding.busyPoll = 'off';
      if (this.opts.threadedNapi === true) {
        this._napiThreads = [
          ...(await threadedNapiOn(NAME, this.restorer, netns, ingress, this.opts.cpu)),
          ...(await threadedNapiOn(NAME, this.restorer, netns, egress, this.opts.cpu)),
        ];
      }
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  private spawnAndWait(): Promise<void> {
    const argv = this.commandLine();
    const command = argv.join(' ');
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new BaselineError(NAME, 'empty command'));
    // stdin stays open: non-interactive testpmd exits as soon as it reads a byte or EOF.
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: BaselineError): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err !== undefined) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => finish(new BaselineError(NAME, `not forwarding after ${this.opts.readyTimeoutMs} ms`, { command, exitCode: null, stderr: this.output })),
        this.opts.readyTimeoutMs,
      );
      let partial = '';
      const onData = (d: string): void => {
        this.output += d;
        partial += d;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.opts.onOutput?.(line);
        if (this.output.includes('Press enter to exit')) finish();
      };
      child.stdout?.setEncoding('utf8').on('data', onData);
      child.stderr?.setEncoding('utf8').on('data', onData);
      child.on('error', (err) =>
        finish(new BaselineError(NAME, `cannot run ${file}: ${err.message}`, { command, exitCode: null, cause: err })),
      );
      child.on('close', (code, signal) =>
        finish(
          new BaselineError(NAME, `testpmd exited before forwarding${signal !== null ? ` (signal ${signal})` : ''}`, {
            command,
            exitCode: code,
            stderr: this.output,
          }),
        ),
      );
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    let failure: unknown;
    // NAPI knobs first, while the veths still have NAPI instances (testpmd's XDP program).
    try {
      await this.restorer.restore();
    } catch (err) {
      failure ??= err;
    }
    if (child !== undefined && this.exited !== undefined) {
      if (this.exitInfo === undefined) {
        child.kill('SIGINT');
        const timedOut = await Promise.race([
          this.exited.then(() => false),
          new Promise<boolean>((r) => setTimeout(() => r(true), this.opts.stopTimeoutMs)),
        ]);
        if (timedOut) {
          child.kill('SIGKILL');
          await this.exited;
          failure = new BaselineError(NAME, `testpmd ignored SIGINT for ${this.opts.stopTimeoutMs} ms; killed`, {
            command: this.commandLine().join(' '),
            exitCode: null,
            stderr: this.output,
          });
        }
      }
      this._stats = parseForwardStats(this.output);
    }
    this.child = undefined;
    this.exited = undefined;
    this._napiThreads = [];
    // Put the interfaces back: testpmd removes its XDP program on a clean exit but not
    // when killed, and leaves the veths promiscuous.
    const { netns } = this.path;
    const before = this.before;
    this.before = undefined;
    if (before !== undefined) {
      for (const l of [before.ingress, before.egress]) {
        try {
          await detachXdp(NAME, netns, l.ifname);
          const now = await linkState(NAME, netns, l.ifname);
          const wasPromisc = l.flags.includes('PROMISC');
          if (now.flags.includes('PROMISC') !== wasPromisc) await setPromisc(NAME, netns, l.ifname, wasPromisc);
        } catch (err) {
          failure ??= err;
        }
      }
    }
    await rm(`/var/run/dpdk/${this.filePrefix}`, { recursive: true, force: true }).catch(() => undefined);
    if (failure !== undefined) throw failure;
  }

  /** pids of the NAPI kthreads pinned by threadedNapi (empty otherwise). */
  get napiThreads(): readonly number[] {
    return this._napiThreads;
  }
}
