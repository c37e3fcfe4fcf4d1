// The test bed's public surface, minus the vitest glue (import ./vitest.js for useTestBed).

export { Bridge, type BridgeSettings } from './bridge.js';
export { BedTimeoutError, ClosedError, CloseError, CommandError, InvalidNameError } from './errors.js';
export { hasExited, netnsPath, run, runSync, spawnIn, waitExit, type ExecOptions, type SpawnOptions } from './exec.js';
export { Link, VethPair, createVeth, type LinkInfo, type LinkStats, type VethEnd } from './link.js';
export {
  IFNAME_MAX,
  MARKER_DIR,
  PREFIX_FAMILY,
  checkIfName,
  claimPrefix,
  isPrefixAlive,
  listNetnsSync,
  netnsPids,
  releasePrefix,
  rootLinkNames,
  sweepStale,
  type SweepReport,
} from './names.js';
export { Netns, type NetnsSettings } from './netns.js';
export { TestBed, type Closable, type TestBedSettings } from './testbed.js';
export * from './topology.js';
export { Vm, createVm, type VmDescription, type VmSettings } from './vm.js';
