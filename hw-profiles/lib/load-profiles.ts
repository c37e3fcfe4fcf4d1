/** Loads and validates profile files: the built-in folder, or any file (`banana profile
 * validate`). A bad file is rejected with its path and the field. */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../../dataplane/lib/paths.js';
import { ProfileError } from './profile-error.js';
import { profileSchema, type HwProfile } from './profile-schema.js';

export function builtinProfileDir(): string {
  return join(repoRoot(), 'hw-profiles');
}

function fieldOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '') || '(root)';
}

export function parseProfile(file: string, text: string): HwProfile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new ProfileError(file, '(yaml)', (e as Error).message.split('\n')[0] ?? 'not YAML');
  }
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? `.${issue.keys.join(',')}` : '';
    throw new ProfileError(file, `${fieldOf(issue.path)}${keys}`, issue.message);
  }
  const want = basename(file).replace(/\.ya?ml$/, '');
  if (r.data.name !== want) throw new ProfileError(file, 'name', `must match the file name (${want}), got ${r.data.name}`);
  return r.data;
}

export function loadProfileFile(file: string): HwProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProfileError(file, '(file)', (e as Error).message);
  }
  return parseProfile(file, text);
}

/** Every `*.yaml` in a folder, by name; two profiles claiming one driver is an error. */
export function loadProfiles(dir: string = builtinProfileDir()): Map<string, HwProfile> {
  const out = new Map<string, HwProfile>();
  const byDriver = new Map<string, string>();
  for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const file = join(dir, f);
    const p = loadProfileFile(file);
    p.match.drivers.forEach((d, i) => {
      const other = byDriver.get(d);
      if (other) throw new ProfileError(file, `match.drivers[${i}]`, `driver ${d} is already matched by profile ${other}`);
      byDriver.set(d, p.name);
    });
    out.set(p.name, p);
  }
  return out;
}
