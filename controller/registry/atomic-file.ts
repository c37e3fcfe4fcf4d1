/** Files that readers in other processes see either whole or not at all.
 *
 * Writers use the synchronous calls: they run inside the store lock, and a critical section
 * that never yields to the event loop holds the lock for a few syscalls (well under a
 * millisecond on tmpfs) however busy the holder's process is. Readers take no lock and use
 * the asynchronous calls. */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ioError } from './errors.js';

export const TEMP_PREFIX = '.tmp-';

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** Writes a temp file next to `path`, then renames it over `path`: rename(2) within one
 * directory is atomic, so a concurrent reader gets the old or the new content, never a torn one.
 * No fsync: the store is soft state (daemons re-advertise) and lives on tmpfs under /run. */
export function writeAtomicSync(path: string, data: string): void {
  const tmp = join(dirname(path), `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}-${basename(path)}`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file was never created, or the rename consumed it
    }
    throw ioError('write', e, { path });
  }
}

/** The file's text, or undefined if it does not exist. */
export function readIfExistsSync(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw ioError('read', e, { path });
  }
}

/** Removes a file; false if it was already gone. */
export function removeIfExistsSync(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if (isMissing(e)) return false;
    throw ioError('unlink', e, { path });
  }
}

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw ioError('read', e, { path });
  }
}

export async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (e) {
    throw ioError('readdir', e, { path });
  }
}
