#!/usr/bin/env node
// In a checkout the CLI runs from its TypeScript sources (tsx), so `npx adadiff` needs no build and
// never runs a stale one; the installed package has no sources and runs its built dist/node/cli.js.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import('../dist/node/cli.js'));
}
process.exitCode = await main(process.argv.slice(2));
