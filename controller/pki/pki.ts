/** `banana pki`: a small certificate authority for a lab or a cluster without one. One CA, one
 * certificate per host (its name as CN and DNS SAN, its controller's IPs as IP SANs, usable as
 * TLS server and client), and operator certificates for the CLI. Keys are P-256 ECDSA, made by
 * openssl (in every Debian). Files: ca.{key,crt}, <name>.{key,crt}; keys are mode 0600. */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export class PkiError extends Error {
  constructor(message: string, readonly dir: string) {
    super(`${message} [dir=${dir}]`);
    this.name = 'PkiError';
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd: dir });
  } catch (e) {
    throw new PkiError(`openssl ${args[0]} failed: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n')[0]}`, dir);
  }
}

export async function initCa(dir: string, days = 825): Promise<{ key: string; cert: string }> {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'ca.key');
  const cert = join(dir, 'ca.crt');
  if (existsSync(key)) throw new PkiError('a CA already exists here (ca.key); refusing to overwrite it', dir);
  await openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-days', String(days), '-subj', '/CN=banana-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(key, 0o600);
  return { key, cert };
}

export interface IssueOptions {
  /** IP addresses the holder's server answers on (SANs). Default ['127.0.0.1']. */
  ips?: string[];
  days?: number;
}

/** A certificate for a host (or an operator): CN and DNS SAN = name, client and server use. */
export async function issue(dir: string, name: string, o: IssueOptions = {}): Promise<{ key: string; cert: string }> {
  if (!NAME.test(name)) throw new PkiError(`name must match ${NAME.source}, got ${JSON.stringify(name)}`, dir);
  if (!existsSync(join(dir, 'ca.key'))) throw new PkiError('no CA here: run `banana pki init` first', dir);
  const ips = o.ips ?? ['127.0.0.1'];
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=DNS:${name}${ips.map((ip) => `,IP:${ip}`).join('')}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n`);
  await openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', String(o.days ?? 825), '-extfile', ext]);
  chmodSync(join(dir, `${name}.key`), 0o600);
  return { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
}
