/**
 * Common contract for the baseline forwarders of the `forward` benchmark.
 *
 * Topology (set up by the bench, not by the forwarders): namespace `gen` with
 * veth g0 <-> p0 in namespace `dut`, namespace `sink` with s0 <-> p1 in `dut`.
 * A forwarder makes frames that arrive on `dut:p0` leave on `dut:p1`.
 */

/** A running (or runnable) device under test that forwards ingress -> egress. */
export interface Forwarder {
  /** Short stable identifier, e.g. 'testpmd-af_xdp', 'linux-bridge', 'xdp-redirect'. */
  readonly name: string;
  /** The exact mode, e.g. 'dpdk-testpmd 22.11 io fwd, net_af_xdp copy mode (drv)'. */
  readonly description: string;
  /** Resolves once it is forwarding (verified, not assumed). */
  start(): Promise<void>;
  /** Idempotent; leaves the interfaces as found (no XDP program, no bridge, original sysfs knobs). */
  stop(): Promise<void>;
}

/** Where the forwarder works: both interfaces live in `netns`. */
export interface ForwardPath {
  netns: string;
  ingress: string;
  egress: string;
}

/** An interface outside the DUT namespace, e.g. the sink-side peer of the egress veth. */
export interface PeerInterface {
  netns: string;
  ifname: string;
}

/** A failure of a baseline: which one, what it ran, how that ended. */
export class BaselineError extends Error {
  readonly baseline: string;
  /** The command line as one string (arguments space-separated). */
  readonly command: string;
  /** Exit status; null when it did not exit normally (signal, spawn failure, timeout). */
  readonly exitCode: number | null;
  /** Its standard error (or the tail of its output), possibly empty. */
  readonly stderr: string;

  constructor(
    baseline: string,
    message: string,
    details: { command?: string; exitCode?: number | null; stderr?: string; cause?: unknown } = {},
  ) {
    const command = details.command ?? '';
    const stderr = details.stderr ?? '';
    const tail = stderr.trim().split('\n').slice(-5).join('\n');
    super(
      `[${baseline}] ${message}` +
        (command !== '' ? `\n  command: ${command}` : '') +
        (details.exitCode !== undefined ? `\n  exit code: ${String(details.exitCode)}` : '') +
        (tail !== '' ? `\n  stderr: ${tail}` : ''),
      details.cause !== undefined ? { cause: details.cause } : undefined,
    );
    this.name = 'BaselineError';
    this.baseline = baseline;
    this.command = command;
    this.exitCode = details.exitCode ?? null;
    this.stderr = stderr;
  }
}
