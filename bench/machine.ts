import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import type { MachineDescription } from './contract.js';

/** What the numbers were measured on: results without it cannot be compared. */
export function describeMachine(): MachineDescription {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpu = m[1].trim();
  } catch {
    // keep os.cpus()'s answer
  }
  return {
    cpu,
    cores: cpus().length,
    kernel: release(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
}
