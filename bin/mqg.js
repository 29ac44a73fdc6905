#!/usr/bin/env node
// The `mqg` command: runs the built CLI (dist/ is made by `npm run setup` or `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/node/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('mqg: dist/ is missing; run `npm run setup` (or `npm run build`) first.');
  process.exit(1);
}
await import(cli);
