/** Typed views over the counters the workers write into shared memory. Reading them is a
 * plain memory read: no native call, no copy. */
import {
  PORT_COUNTER_NAMES,
  WORKER_COUNTER_NAMES,
  type PortCounterName,
  type WorkerCounterName,
} from './counters.generated.js';

export type PortCounters = Record<PortCounterName, bigint>;
export type WorkerCounters = Record<WorkerCounterName, bigint>;

export class CounterBoard {
  private readonly port: BigUint64Array;
  private readonly worker: BigUint64Array;

  constructor(
    portBuffer: ArrayBuffer,
    workerBuffer: ArrayBuffer,
    private readonly workers: number,
    private readonly portRow: number,
    private readonly workerRow: number,
  ) {
    this.port = new BigUint64Array(portBuffer);
    this.worker = new BigUint64Array(workerBuffer);
  }

  /** One port's counters as written by one worker. */
  portOnWorker(slot: number, worker: number): PortCounters {
    const base = (slot * this.workers + worker) * this.portRow;
    const out = {} as PortCounters;
    PORT_COUNTER_NAMES.forEach((name, i) => {
      out[name] = this.port[base + i] ?? 0n;
    });
    return out;
  }

  /** One port's counters summed over every worker. */
  portTotal(slot: number): PortCounters {
    const out = this.portOnWorker(slot, 0);
    for (let w = 1; w < this.workers; w++) {
      const row = this.portOnWorker(slot, w);
      for (const name of PORT_COUNTER_NAMES) out[name] += row[name];
    }
    return out;
  }

  workerCounters(worker: number): WorkerCounters {
    const base = worker * this.workerRow;
    const out = {} as WorkerCounters;
    WORKER_COUNTER_NAMES.forEach((name, i) => {
      out[name] = this.worker[base + i] ?? 0n;
    });
    return out;
  }
}
