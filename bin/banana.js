#!/usr/bin/env node
// Entry point: the CLI is compiled TypeScript under dist/ (npm run build).
import { main } from '../dist/controller/cli/banana.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`banana: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
