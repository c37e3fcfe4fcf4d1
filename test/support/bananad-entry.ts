// Runs bananad's main from sources (no build needed) for the daemon tests.
import { main } from '../../controller/bananad.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bananad: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
