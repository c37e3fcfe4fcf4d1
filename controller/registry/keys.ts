/** The key space, etcd style: one flat namespace of `/`-separated keys under two prefixes.
 * A backend may put everything under its own root (an etcd adapter: `/banana/<cluster>/`). */
import { RegistryError } from './errors.js';
import { isValidName } from './records.js';

export const HOSTS_PREFIX = 'hosts/';
export const ENDPOINTS_PREFIX = 'endpoints/';

export const hostKey = (name: string): string => HOSTS_PREFIX + name;
export const endpointKey = (id: string): string => ENDPOINTS_PREFIX + id;

export type KeyType = 'host' | 'endpoint';

/** Which record a key names; throws if it names none (so delete() of a typo fails loudly). */
export function keyType(key: string): KeyType {
  if (key.startsWith(HOSTS_PREFIX) && isValidName(key.slice(HOSTS_PREFIX.length))) return 'host';
  if (key.startsWith(ENDPOINTS_PREFIX)) {
    const segments = key.slice(ENDPOINTS_PREFIX.length).split('/');
    if (segments.length >= 2 && segments.every(isValidName)) return 'endpoint';
  }
  throw new RegistryError('invalid', `not a registry key: ${JSON.stringify(key)} (hosts/<name> or endpoints/<host>/<segment>/...)`, {
    key,
    field: 'key',
  });
}
