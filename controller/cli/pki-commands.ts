/** `banana pki init DIR` and `banana pki issue DIR NAME [--ip IP]...`: a lab CA and the host and
 * operator certificates bananad and the CLI use for mutual TLS. */
import { parseArgs } from 'node:util';
import { initCa, issue, PkiError } from '../pki/pki.js';

export const PKI_USAGE = `  pki init DIR                 make a CA (ca.key, ca.crt) in DIR
  pki issue DIR NAME [--ip IP]...
                               a certificate for host (or operator) NAME: CN=NAME, SANs NAME and the IPs (default 127.0.0.1)`;

export async function runPkiCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ip: { type: 'string', multiple: true } } });
  const [verb, dir, name] = positionals;
  try {
    if (verb === 'init' && dir) {
      const r = await initCa(dir);
      process.stdout.write(`CA: ${r.cert} (key ${r.key}, keep it private)\n`);
      return 0;
    }
    if (verb === 'issue' && dir && name) {
      const r = await issue(dir, name, values.ip ? { ips: values.ip } : {});
      process.stdout.write(`${name}: ${r.cert} (key ${r.key})\n`);
      return 0;
    }
    process.stderr.write(`banana pki: usage:\n${PKI_USAGE}\n`);
    return 2;
  } catch (e) {
    if (e instanceof PkiError) {
      process.stderr.write(`banana pki: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
