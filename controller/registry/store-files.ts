/** Reading and writing the embedded store's files: the revision counter, record files and
 * lease files. Sync methods are for the lock's critical section (see atomic-file.ts), async
 * ones for lock-free readers. Everything read back is checked: a file the registry did not
 * write is reported as 'corrupt', naming it. */
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_PREFIX, listDir, readIfExists, readIfExistsSync, removeIfExistsSync, writeAtomicSync } from './atomic-file.js';
import { parseLeaseFile, type LeaseFile } from './embedded-lease.js';
import { RegistryError } from './errors.js';
import { validateEndpoint, validateStoredHost, type EndpointRecord, type HostRecord } from './records.js';
import { RECORD_SUFFIX, type StoreLayout } from './store-layout.js';

/** A record file: the value plus what etcd keeps beside it. */
export interface StoredFile {
  readonly key: string;
  readonly value: unknown;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly lease?: string;
}

/** Temp files left by a writer that died between write and rename are removed after this. */
const TEMP_MAX_AGE_MS = 60_000;

const isLive = (lease: LeaseFile | undefined): boolean => lease !== undefined && lease.expiresAt > Date.now();

export class StoreFiles {
  constructor(readonly layout: StoreLayout) {}

  // ---- revision counter ----

  async readRev(): Promise<number> {
    return this.parseRev(await readIfExists(this.layout.rev));
  }

  readRevSync(): number {
    return this.parseRev(readIfExistsSync(this.layout.rev));
  }

  writeRevSync(rev: number): void {
    writeAtomicSync(this.layout.rev, `${rev}\n`);
  }

  parseRev(text: string | undefined): number {
    if (text === undefined) return 0;
    const rev = Number(text.trim());
    if (!Number.isSafeInteger(rev) || rev < 0) throw new RegistryError('corrupt', `revision counter holds ${JSON.stringify(text)}`, { path: this.layout.rev });
    return rev;
  }

  // ---- leases ----

  async readLease(id: string): Promise<LeaseFile | undefined> {
    const text = await readIfExists(this.layout.leaseFile(id));
    return text === undefined ? undefined : parseLeaseFile(text);
  }

  readLeaseSync(id: string): LeaseFile | undefined {
    const text = readIfExistsSync(this.layout.leaseFile(id));
    return text === undefined ? undefined : parseLeaseFile(text);
  }

  /** The lease if it exists and has not expired (whether or not it was collected yet). */
  liveLeaseSync(id: string): LeaseFile | undefined {
    const lease = this.readLeaseSync(id);
    return isLive(lease) ? lease : undefined;
  }

  writeLeaseSync(lease: LeaseFile): void {
    writeAtomicSync(this.layout.leaseFile(lease.id), JSON.stringify(lease) + '\n');
  }

  removeLeaseSync(id: string): void {
    removeIfExistsSync(this.layout.leaseFile(id));
  }

  async readLeases(): Promise<LeaseFile[]> {
    const names = (await listDir(this.layout.leases)).filter((n) => n.endsWith(RECORD_SUFFIX) && !n.startsWith('.'));
    const leases = await Promise.all(names.map((n) => this.readLease(n.slice(0, -RECORD_SUFFIX.length))));
    return leases.filter((l): l is LeaseFile => l !== undefined);
  }

  // ---- records ----

  /** A record is visible unless its lease has expired, whether or not it was collected yet. */
  async visible(file: StoredFile, cache?: Map<string, boolean>): Promise<boolean> {
    if (file.lease === undefined) return true;
    let live = cache?.get(file.lease);
    if (live === undefined) {
      live = isLive(await this.readLease(file.lease));
      cache?.set(file.lease, live);
    }
    return live;
  }

  visibleSync(file: StoredFile): boolean {
    return file.lease === undefined || this.liveLeaseSync(file.lease) !== undefined;
  }

  async readRecord(key: string): Promise<StoredFile | undefined> {
    const path = this.layout.recordFile(key);
    const text = await readIfExists(path);
    return text === undefined ? undefined : this.parseStored(path, text);
  }

  readRecordSync(key: string): StoredFile | undefined {
    const path = this.layout.recordFile(key);
    const text = readIfExistsSync(path);
    return text === undefined ? undefined : this.parseStored(path, text);
  }

  writeRecordSync(file: StoredFile): void {
    writeAtomicSync(this.layout.recordFile(file.key), JSON.stringify(file) + '\n');
  }

  removeRecordSync(key: string): void {
    removeIfExistsSync(this.layout.recordFile(key));
  }

  /** Visible records whose key starts with prefix, ordered by key. */
  async readVisible(prefix: string): Promise<StoredFile[]> {
    const filePrefix = this.layout.recordFilePrefix(prefix);
    const names = (await listDir(this.layout.records)).filter((n) => n.startsWith(filePrefix) && n.endsWith(RECORD_SUFFIX) && !n.startsWith('.'));
    const files = await Promise.all(
      names.map(async (n) => {
        const path = join(this.layout.records, n);
        const text = await readIfExists(path);
        return text === undefined ? undefined : this.parseStored(path, text);
      }),
    );
    const present = files.filter((f): f is StoredFile => f !== undefined).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const cache = new Map<string, boolean>();
    const keep = await Promise.all(present.map((f) => this.visible(f, cache)));
    return present.filter((_, i) => keep[i]);
  }

  hostOf(file: StoredFile): HostRecord {
    return this.typed(file, validateStoredHost);
  }

  endpointOf(file: StoredFile): EndpointRecord {
    return this.typed(file, validateEndpoint);
  }

  // ---- housekeeping ----

  async removeOldTemps(): Promise<void> {
    for (const dir of [this.layout.dir, this.layout.records, this.layout.leases]) {
      for (const name of await listDir(dir)) {
        if (!name.startsWith(TEMP_PREFIX)) continue;
        const path = join(dir, name);
        const age = await stat(path).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > TEMP_MAX_AGE_MS) await unlink(path).catch(() => undefined);
      }
    }
  }

  private parseStored(path: string, text: string): StoredFile {
    let raw: Partial<StoredFile> | undefined;
    try {
      raw = JSON.parse(text) as Partial<StoredFile>;
    } catch {
      raw = undefined;
    }
    if (
      raw === undefined ||
      typeof raw.key !== 'string' ||
      typeof raw.modRevision !== 'number' ||
      typeof raw.createRevision !== 'number' ||
      (raw.lease !== undefined && typeof raw.lease !== 'string') ||
      this.layout.recordFile(raw.key) !== path
    ) {
      throw new RegistryError('corrupt', 'record file is not one the registry wrote', { path });
    }
    return raw as StoredFile;
  }

  private typed<T>(file: StoredFile, validate: (raw: unknown) => T): T {
    try {
      return validate(file.value);
    } catch (e) {
      const field = e instanceof RegistryError ? e.field : undefined;
      const detail = e instanceof RegistryError ? e.detail : String(e);
      throw new RegistryError('corrupt', `stored record fails validation: ${detail}`, { key: file.key, field, path: this.layout.recordFile(file.key) }, { cause: e });
    }
  }
}
