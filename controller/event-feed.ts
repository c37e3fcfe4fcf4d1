/** The controller's stream of events (wire up/down, rewired, blocked, refused requests...):
 * logged, kept in a short history, and pushed to subscribers (the API's server-sent events). */
import { EventEmitter } from 'node:events';

export interface ControllerEvent {
  /** ISO 8601 time. */
  time: string;
  /** Monotonic sequence number of the event on this host. */
  seq: number;
  type: string;
  [field: string]: unknown;
}

const HISTORY = 256;

export class EventFeed {
  private readonly emitter = new EventEmitter();
  private readonly history: ControllerEvent[] = [];
  private seq = 0;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(type: string, fields: Record<string, unknown> = {}): ControllerEvent {
    const ev: ControllerEvent = { ...fields, time: new Date().toISOString(), seq: ++this.seq, type };
    this.history.push(ev);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit('event', ev);
    return ev;
  }

  /** Events after `afterSeq` still in the history, then every new one; returns the unsubscribe. */
  subscribe(listener: (ev: ControllerEvent) => void, afterSeq = this.seq): () => void {
    for (const ev of this.history) if (ev.seq > afterSeq) listener(ev);
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
