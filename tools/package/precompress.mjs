/**
 * Precompressed copies of the site's files (`x.wasm.br` at brotli's best, `x.wasm.gz` at gzip's),
 * written beside them after the build, for hosts that serve such copies (serve.mjs, `npm start`,
 * nginx's brotli_static / gzip_static, most CDNs). Brotli at quality 11 takes about a minute per
 * onnxruntime .wasm on a slow core, so each copy is kept in node_modules/.cache by its content's
 * digest and a rebuild reuses it. A copy whose file no longer gets one is removed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

const brotli = promisify(brotliCompress);
const gz = promisify(gzip);

/**
 * What gets copies: text and wasm, above 1 KiB. Models (.onnx) hold int8 weights that barely compress;
 * the JSEP build is the benchmark page's alone (its graph-capture probe), never the visitor's.
 */
const COMPRESSIBLE = /\.(html|js|mjs|css|json|svg|wasm)$/;
const BENCH_ONLY = /\.jsep[.-]/;
const MIN_BYTES = 1024;

const CACHE = path.resolve('node_modules/.cache/adadiff-precompress');

const cacheKey = (bytes, kind) =>
  path.join(CACHE, `${createHash('sha256').update(bytes).digest('hex')}.${kind}`);

async function cached(bytes, kind, make) {
  const key = cacheKey(bytes, kind);
  if (existsSync(key)) return readFileSync(key);
  const out = await make(bytes);
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(key, out);
  return out;
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}

/**
 * Writes the .br and .gz copies of every compressible file under `dir` (skipping `skip` folders), and
 * removes the copies an earlier build left beside a file that no longer gets one.
 */
export async function precompressDir(dir, { skip = [] } = {}) {
  const root = path.resolve(dir);
  const skipped = skip.map((s) => path.resolve(root, s) + path.sep);
  const all = [...walk(root)].filter((f) => !skipped.some((s) => f.startsWith(s)));
  const compressible = (f) => COMPRESSIBLE.test(f) && !BENCH_ONLY.test(f);
  const files = all.filter((f) => compressible(f) && statSync(f).size >= MIN_BYTES);
  // a build into a folder it did not empty keeps the last build's copies, which hosts that serve such
  // copies would send in place of this build's file (index.html fell under MIN_BYTES, and its old
  // copy named the old build's scripts); only this tool's copies go: beside a file it would compress
  const getsCopies = new Set(files);
  for (const f of all) {
    const original = f.replace(/\.(br|gz)$/, '');
    if (original !== f && compressible(original) && !getsCopies.has(original) && existsSync(original))
      rmSync(f);
  }
  // the .wasm files first: they take longest, and zlib's thread pool runs them side by side
  files.sort((a, b) => statSync(b).size - statSync(a).size);
  const fresh = files.filter((f) => !existsSync(cacheKey(readFileSync(f), 'br')));
  if (fresh.some((f) => f.endsWith('.wasm'))) {
    console.log(
      `precompress: brotli 11 for ${fresh.length} new files, about a minute per .wasm (kept in ${path.relative(process.cwd(), CACHE)})`,
    );
  }
  await Promise.all(
    files.map(async (f) => {
      const bytes = readFileSync(f);
      const [br, gzipped] = await Promise.all([
        cached(bytes, 'br', (b) =>
          brotli(b, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: 11,
              [constants.BROTLI_PARAM_LGWIN]: 24,
              [constants.BROTLI_PARAM_SIZE_HINT]: b.length,
            },
          }),
        ),
        cached(bytes, 'gz', (b) => gz(b, { level: 9 })),
      ]);
      writeFileSync(`${f}.br`, br);
      writeFileSync(`${f}.gz`, gzipped);
    }),
  );
  return files.length;
}

/** The Vite plugin: copies for everything the build wrote, once it is written. */
export function precompress({ skip = [] } = {}) {
  let outDir = 'dist';
  return {
    name: 'adadiff:precompress',
    apply: 'build',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    async closeBundle() {
      await precompressDir(outDir, { skip });
    },
  };
}
