export { RegistryError, type RegistryErrorContext, type RegistryErrorReason } from './errors.js';
export {
  ENDPOINT_KINDS,
  checkAddress,
  isValidName,
  validateEndpoint,
  validateHost,
  type EndpointKind,
  type EndpointRecord,
  type HostInput,
  type HostRecord,
} from './records.js';
export { ENDPOINTS_PREFIX, HOSTS_PREFIX, endpointKey, hostKey, keyType, type KeyType } from './keys.js';
export type {
  DeleteCause,
  DeleteEvent,
  EndpointFilter,
  Lease,
  PutEvent,
  RecordRef,
  Registry,
  Watch,
  WatchEvent,
  WatchListener,
  WatchOptions,
  WatchSelector,
} from './registry.js';
export { selectorMatcher } from './watch-selector.js';
export { EmbeddedRegistry, type EmbeddedRegistrySettings } from './embedded-registry.js';
export { EtcdRegistry, type EtcdRegistrySettings } from './etcd-registry.js';
