/** Which events a watch wants, as a predicate shared by every backend. */
import { RegistryError } from './errors.js';
import { HOSTS_PREFIX } from './keys.js';
import { ENDPOINT_KINDS, type EndpointKind } from './records.js';
import type { WatchEvent, WatchSelector } from './registry.js';

export function selectorMatcher(selector: WatchSelector): (e: WatchEvent) => boolean {
  const prefix = typeof selector === 'string' ? selector : 'prefix' in selector ? selector.prefix : undefined;
  if (prefix !== undefined) {
    if (typeof prefix !== 'string') throw new RegistryError('invalid', 'watch prefix must be a string', { field: 'prefix' });
    return (e) => e.key.startsWith(prefix);
  }
  const kind = (selector as { kind?: unknown }).kind;
  if (kind === 'host') return (e) => e.key.startsWith(HOSTS_PREFIX);
  if (!ENDPOINT_KINDS.includes(kind as EndpointKind)) {
    throw new RegistryError('invalid', `watch kind must be host, corm or spike, got ${JSON.stringify(kind)}`, { field: 'kind' });
  }
  // A delete only says which kind it was through the record it removed.
  return (e) => (e.type === 'put' ? e.endpoint?.kind : e.prev?.endpoint?.kind) === kind;
}
