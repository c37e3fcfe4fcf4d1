// Runs the banana CLI's main from sources (no build needed) for the CLI tests.
import { main } from '../../controller/cli/banana.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`banana: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
