export { Engine } from './engine.js';
export type { EngineSettings, IdlePolicy, QueueFailure, FrameAudit, FdbEntry } from './engine.js';
export { Port } from './port.js';
export type { PortSettings, XdpMode, ZeroCopyPreference, QueueBinding } from './port.js';
export { BananaError, SettingsError, ClosedError, PortError, PrivilegeError } from './errors.js';
export type { ErrorContext } from './errors.js';
export type { PortCounters, WorkerCounters } from './counters.js';
export { PORT_COUNTER_NAMES, WORKER_COUNTER_NAMES } from './counters.generated.js';
export type { PortCounterName, WorkerCounterName } from './counters.generated.js';
