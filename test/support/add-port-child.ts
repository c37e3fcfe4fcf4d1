// Child process for the privilege tests: tries to bind one port and prints the outcome as
// one JSON line, so the parent can run it with capabilities or limits taken away.
import { Engine } from '../../dataplane/lib/index.js';

const [netns = '', ifname = ''] = process.argv.slice(2);
let engine: Engine | undefined;
try {
  engine = new Engine({ framesPerWorker: 8192 });
  const port = engine.addPort({ ifname, netns });
  console.log(JSON.stringify({ ok: true, mode: port.mode }));
} catch (e) {
  const err = e as Error & { context?: unknown };
  console.log(JSON.stringify({ ok: false, name: err.name, message: err.message, context: err.context }));
} finally {
  engine?.close();
}
