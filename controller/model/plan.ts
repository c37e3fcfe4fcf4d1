/** Desired state against actual: the smallest list of actions that turns one into the other
 * (in the manner of Snabb's engine.configure). Pure: no I/O, so it is tested on its own. */
import { sameConnect, sameCormEnd, sameSpike, type ConnectSpec, type CormEndSpec, type SpikeSpec } from './specs.js';

export interface SpikeState {
  spec: SpikeSpec;
  connect?: ConnectSpec;
}

export interface HostState {
  spikes: ReadonlyMap<string, SpikeState>;
  /** Corm ends of wires peers asked for, by wire id. */
  cormEnds: ReadonlyMap<number, CormEndSpec>;
}

export type Action =
  | { op: 'add-spike'; spec: SpikeSpec }
  | { op: 'remove-spike'; name: string }
  | { op: 'connect'; spike: string; to: ConnectSpec }
  | { op: 'disconnect'; spike: string }
  /** Another Corm or wire type: the new wire is made before the old one breaks. */
  | { op: 'rewire'; spike: string; to: ConnectSpec }
  | { op: 'add-corm-end'; spec: CormEndSpec }
  | { op: 'remove-corm-end'; wireId: number };

/** The endpoint an action works on: actions of one endpoint run in order, one at a time. */
export function actionKey(a: Action): string {
  switch (a.op) {
    case 'add-spike':
      return `spike:${a.spec.name}`;
    case 'remove-spike':
      return `spike:${a.name}`;
    case 'connect':
    case 'disconnect':
    case 'rewire':
      return `spike:${a.spike}`;
    case 'add-corm-end':
      return `wire:${a.spec.wireId}`;
    case 'remove-corm-end':
      return `wire:${a.wireId}`;
  }
}

function planSpike(name: string, want: SpikeState | undefined, have: SpikeState | undefined): Action[] {
  const out: Action[] = [];
  if (have && (!want || !sameSpike(want.spec, have.spec))) {
    if (have.connect) out.push({ op: 'disconnect', spike: name });
    out.push({ op: 'remove-spike', name });
    have = undefined;
  }
  if (!want) return out;
  if (!have) {
    out.push({ op: 'add-spike', spec: want.spec });
    if (want.connect) out.push({ op: 'connect', spike: name, to: want.connect });
    return out;
  }
  if (sameConnect(want.connect, have.connect)) return out;
  if (have.connect && want.connect) out.push({ op: 'rewire', spike: name, to: want.connect });
  else if (have.connect) out.push({ op: 'disconnect', spike: name });
  else if (want.connect) out.push({ op: 'connect', spike: name, to: want.connect });
  return out;
}

export function plan(desired: HostState, actual: HostState): Action[] {
  const out: Action[] = [];
  const spikeNames = new Set([...desired.spikes.keys(), ...actual.spikes.keys()]);
  for (const name of [...spikeNames].sort()) out.push(...planSpike(name, desired.spikes.get(name), actual.spikes.get(name)));
  const wireIds = new Set([...desired.cormEnds.keys(), ...actual.cormEnds.keys()]);
  for (const id of [...wireIds].sort((a, b) => a - b)) {
    const want = desired.cormEnds.get(id);
    const have = actual.cormEnds.get(id);
    if (have && (!want || !sameCormEnd(want, have))) out.push({ op: 'remove-corm-end', wireId: id });
    if (want && (!have || !sameCormEnd(want, have))) out.push({ op: 'add-corm-end', spec: want });
  }
  return out;
}
