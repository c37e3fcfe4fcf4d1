/** Operations on one endpoint run one at a time, in arrival order; different endpoints
 * proceed in parallel. One fastq queue (concurrency 1) per key, dropped when it empties. */
import fastq from 'fastq';

type Task = () => Promise<unknown>;

export class KeyedSerial {
  private readonly queues = new Map<string, fastq.queueAsPromised<Task, unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let q = this.queues.get(key);
    if (!q) {
      const created = fastq.promise((task: Task) => task(), 1);
      created.drain = () => {
        if (this.queues.get(key) === created && created.idle()) this.queues.delete(key);
      };
      this.queues.set(key, created);
      q = created;
    }
    return q.push(fn) as Promise<T>;
  }

  /** Keys with work queued or running. */
  get busy(): number {
    return this.queues.size;
  }
}
