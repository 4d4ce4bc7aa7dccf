#!/usr/bin/env node
/**
 * After tsc writes dist/types: gives every relative import in the declarations the file it names
 * ('./generator' → './generator.js', '../runtime' → '../runtime/index.js'). Sources import without
 * extensions (Vite and tsx resolve them); TypeScript under node16/nodenext does not, in a package of
 * "type": "module", and would turn the package's types into errors (or, with skipLibCheck, any).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? 'dist/types');

function* declarations(dir) {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* declarations(full);
    else if (name.endsWith('.d.ts')) yield full;
  }
}

let rewritten = 0;
for (const file of declarations(root)) {
  const text = readFileSync(file, 'utf8');
  const out = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]*)\2/g, (all, lead, quote, spec) => {
    if (/\.(js|mjs|json)$/.test(spec)) return all;
    const base = path.resolve(path.dirname(file), spec);
    const target = existsSync(`${base}.d.ts`)
      ? `${spec}.js`
      : existsSync(path.join(base, 'index.d.ts'))
        ? `${spec}/index.js`
        : null;
    if (!target) throw new Error(`${path.relative(root, file)}: cannot resolve ${spec}`);
    rewritten++;
    return `${lead}${quote}${target}${quote}`;
  });
  if (out !== text) writeFileSync(file, out);
}
console.log(
  `dts-extensions: ${rewritten} relative imports in ${path.relative(process.cwd(), root)} name their files`,
);
