/** The host configuration bananad reads (the dataplane part; the controller grows it). */
import type { EngineSettings, PortSettings } from '../dataplane/lib/index.js';

export interface DataplaneConfig {
  host: string;
  engine: EngineSettings;
  ports: PortSettings[];
  /** How often counters are logged. Default 5000 ms; 0 turns it off. */
  statsIntervalMs: number;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    reason: string,
  ) {
    super(`${file}: ${field}: ${reason}`);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates the parsed JSON; every rejection names the file and the field. */
export function parseDataplaneConfig(file: string, raw: unknown): DataplaneConfig {
  const fail = (field: string, reason: string): never => {
    throw new ConfigError(file, field, reason);
  };
  if (!isObj(raw)) return fail('(root)', 'must be a JSON object');
  if (typeof raw.host !== 'string' || raw.host === '') fail('host', 'must be a non-empty string');
  const engine = raw.engine ?? {};
  if (!isObj(engine)) fail('engine', 'must be an object');
  if (!Array.isArray(raw.ports) || raw.ports.length === 0) fail('ports', 'must be a non-empty array');
  const ports = (raw.ports as unknown[]).map((p, i): PortSettings => {
    if (!isObj(p)) return fail(`ports[${i}]`, 'must be an object');
    if (typeof p.ifname !== 'string' || p.ifname.length === 0 || p.ifname.length > 15) {
      fail(`ports[${i}].ifname`, 'must be an interface name of 1-15 characters');
    }
    if (p.mode !== undefined && !['auto', 'native', 'generic'].includes(String(p.mode))) {
      fail(`ports[${i}].mode`, `must be auto, native or generic, got ${JSON.stringify(p.mode)}`);
    }
    return p as unknown as PortSettings;
  });
  const interval = raw.statsIntervalMs ?? 5000;
  if (typeof interval !== 'number' || interval < 0) fail('statsIntervalMs', 'must be a number >= 0');
  return { host: raw.host as string, engine: engine as EngineSettings, ports, statsIntervalMs: interval as number };
}
