#!/usr/bin/env node
// Entry point: the daemon is compiled TypeScript under dist/ (npm run build).
import { main } from '../dist/controller/bananad.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bananad: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
