/**
 * The package as a user gets it: `npm pack`, then a scratch project that installs the tarball
 * (not a link to this repository) and uses it five ways — the CLI, the Node API, a Vite app with
 * the engine API in Chromium (with the copied files under `assets`, and with its own worker built
 * from adadiff-web/worker and no copy step), and the prebuilt widget from another origin — and
 * type-checks its code against the package's types. Needs `npm run build` first (test:e2e runs it).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launch, watchErrors } from './browser.mjs';
import { serveStatic } from './static-server.mjs';

/**
 * What the tarball may weigh (npm pack's figures): most of it is onnxruntime-web's three wasm builds
 * (wasm; WebGPU on JSPI; WebGPU on asyncify where a browser has no JSPI), of which a page loads one.
 */
const BUDGET = { packedBytes: 20e6, unpackedBytes: 70e6 };
const APP_PORT = 4191;
const WIDGET_PORT = 4192;
const WORKER_APP_PORT = 4194;
const MODEL_HOST_PORT = 4195;
const repo = path.resolve('.');
const bin = (pkg, file) => path.join(repo, 'node_modules', pkg, file);

let scratch;
let packed;
const servers = [];
let browser;

const run = (cmd, args, cwd, extra = {}) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...extra });

before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'adadiff-consumer-'));
  const [info] = JSON.parse(
    run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], repo),
  );
  packed = info;
  writeFileSync(
    path.join(scratch, 'package.json'),
    JSON.stringify({ name: 'adadiff-consumer', private: true, type: 'module' }),
  );
  // from the tarball; its one dependency (onnxruntime-web) comes from npm's cache when it can
  run(
    'npm',
    ['install', path.join(scratch, packed.filename), '--prefer-offline', '--no-audit', '--no-fund'],
    scratch,
  );
});

after(async () => {
  await browser?.context.close();
  for (const s of servers) await s.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the tarball holds the runtime, the shipped model the page loads, and nothing else', () => {
  const files = packed.files.map((f) => f.path);
  assert.ok(packed.size <= BUDGET.packedBytes, `packed ${packed.size} B > ${BUDGET.packedBytes}`);
  assert.ok(packed.unpackedSize <= BUDGET.unpackedBytes, `unpacked ${packed.unpackedSize} B`);
  for (const f of files) {
    assert.doesNotMatch(f, /^(src|test|tools|public|runs)\//, `${f} is not for users`);
    assert.doesNotMatch(f, /full\.onnx|fixtures|checkpoint|\.pt$/, `${f}: baseline, fixture or checkpoint`);
  }
  // the default model, exactly what the page's load reads (no embed or block the fused prefix covers); the
  // other shipped models stay out of the package's size budget and are loaded by URL (docs/api.md)
  const packaged = [
    ...new Set(files.filter((f) => f.startsWith('dist/models/')).map((f) => f.split('/')[2])),
  ];
  assert.deepEqual(packaged, ['fmnist-uvit13']);
  const { segments } = JSON.parse(readFileSync('public/models/fmnist-uvit13/manifest.json', 'utf8'));
  // the fused prefix embeds the input itself
  const fused = new Set(segments.blocks.slice(0, segments.prefix.depth).map((b) => b.path));
  const wanted = [segments.prefix, ...segments.blocks, segments.head]
    .map((s) => s.path)
    .filter((p) => !fused.has(p));
  const shipped = files
    .filter((f) => f.startsWith('dist/models/fmnist-uvit13/'))
    .map((f) => path.basename(f));
  assert.deepEqual(shipped.sort(), ['manifest.json', ...wanted].sort());
  for (const entry of [
    'dist/lib/adadiff.js',
    'dist/lib/adadiff-widget.js',
    'dist/lib/adadiff-worker.js',
    'dist/lib/adadiff-worker.d.ts',
    'dist/node/index.js',
    'dist/node/cli.js',
  ])
    assert.ok(files.includes(entry), `${entry} missing`);
});

test('npx adadiff generate writes a PNG with the shipped model', () => {
  run('npx', ['--no-install', 'adadiff', 'generate', '--steps', '4', '--out', 'out', '--quiet'], scratch);
  const png = readFileSync(path.join(scratch, 'out', 'fmnist-uvit13-c0-s1.png'));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});

test('the Node API generates, reports its steps and cancels with CancelledError', () => {
  writeFileSync(
    path.join(scratch, 'node-api.mjs'),
    `import { createGenerator, CancelledError } from 'adadiff-web/node';
const g = createGenerator();
let steps = 0;
const r = await g.generate({ steps: 4, seed: 2 }, { onStep: () => steps++ });
const ac = new AbortController();
const pending = g.generate({ steps: 50 }, { signal: ac.signal });
setTimeout(() => ac.abort(), 20);
const cancelled = await pending.then(() => false, (e) => e instanceof CancelledError);
console.log(JSON.stringify({ steps, pixels: r.image.length, backend: g.info.backend, cancelled }));
await g.unload();`,
  );
  const out = JSON.parse(run('node', ['node-api.mjs'], scratch));
  assert.deepEqual(out, { steps: 4, pixels: 28 * 28, backend: 'wasm', cancelled: true });
});

test("the consumer's code type-checks against the package's types", () => {
  writeFileSync(
    path.join(scratch, 'typed.ts'),
    `import {
  createGenerator,
  AdaDiffError,
  CancelledError,
  ConsentRefusedError,
  NotLoadedError,
  WorkerCrashedError,
  type ErrorCode,
  type GenerateResult,
  type Generator,
} from 'adadiff-web';
import { createGenerator as createNodeGenerator } from 'adadiff-web/node';
import { AdaDiffGenerator } from 'adadiff-web/widget';
import 'adadiff-web/worker';

const g: Generator = createGenerator({ backend: 'wasm', assets: '/adadiff/lib/' });
export const own: Generator = createGenerator({
  worker: () => new Worker(new URL('./adadiff.worker.js', import.meta.url), { type: 'module' }),
  ort: { numThreads: 1, wasmPaths: { wasm: new URL('https://cdn.example/ort.wasm') }, logLevel: 'warning' },
});
export const codeOf = (e: unknown): ErrorCode | null =>
  e instanceof WorkerCrashedError || e instanceof NotLoadedError || e instanceof ConsentRefusedError
    ? e.code
    : e instanceof AdaDiffError
      ? e.code
      : null;
export async function one(): Promise<number> {
  const r: GenerateResult = await g.generate({ steps: 10, threshold: 0.1 }, { onStep: (e) => void e.t });
  return r.totals.savedFraction;
}
export const isCancel = (e: unknown) => e instanceof CancelledError;
export const node = createNodeGenerator({ model: './my-model' });
export const el: AdaDiffGenerator | null = document.querySelector('adadiff-generator');
`,
  );
  writeFileSync(
    path.join(scratch, 'bad.ts'),
    `import { createGenerator } from 'adadiff-web';\ncreateGenerator({ backend: 'cuda' });\ncreateGenerator({ ort: { logLevel: 'loud' } });\n`,
  );
  const tsconfig = (include) =>
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'bundler',
        lib: ['ES2022', 'DOM'],
        types: [],
        skipLibCheck: false,
      },
      include,
    });
  const tsc = bin('typescript', 'bin/tsc');
  writeFileSync(path.join(scratch, 'tsconfig.json'), tsconfig(['typed.ts']));
  run('node', [tsc, '-p', 'tsconfig.json'], scratch);
  // Node's own resolution (node16/nodenext), where every relative import in the types must name its file
  writeFileSync(
    path.join(scratch, 'typed-node.mts'),
    `import { createGenerator, type Generator } from 'adadiff-web/node';\nexport const g: Generator = createGenerator({ model: './m' });\n`,
  );
  writeFileSync(
    path.join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['ES2022', 'DOM'],
        types: [],
        skipLibCheck: false,
      },
      include: ['typed-node.mts'],
    }),
  );
  run('node', [tsc, '-p', 'tsconfig.json'], scratch);
  // the types do say something: a backend that does not exist is refused
  writeFileSync(path.join(scratch, 'tsconfig.json'), tsconfig(['bad.ts']));
  assert.throws(
    () => run('node', [tsc, '-p', 'tsconfig.json'], scratch),
    (e) => /bad\.ts.*error TS2322.*"cuda"/s.test(e.stdout) && /bad\.ts.*error TS2322.*"loud"/s.test(e.stdout),
  );
});

test('a Vite app that imports the engine API builds and generates an image in Chromium', async () => {
  const app = path.join(scratch, 'app');
  mkdirSync(app, { recursive: true });
  writeFileSync(
    path.join(app, 'index.html'),
    '<!doctype html><title>app</title><link rel="icon" href="data:,"><p id="out">…</p><script type="module" src="./main.js"></script>',
  );
  writeFileSync(
    path.join(app, 'main.js'),
    `import { createGenerator } from 'adadiff-web';
const g = createGenerator({ backend: 'wasm', assets: '/adadiff/lib/' });
const out = document.getElementById('out');
g.generate({ steps: 4, seed: 1 }, { onStep: () => {} }).then(
  (r) => { out.dataset.status = 'done'; out.textContent = JSON.stringify({ pixels: r.image.length, saved: r.totals.savedFraction, backend: g.info.backend }); },
  (e) => { out.dataset.status = 'error'; out.textContent = e.name + ': ' + e.message; },
);`,
  );
  run('node', [bin('vite', 'bin/vite.js'), 'build', '--logLevel', 'warn'], app);
  // the package's runtime files, served where the app said (the README's one copy step)
  cpSync(path.join(scratch, 'node_modules/adadiff-web/dist'), path.join(app, 'dist/adadiff'), {
    recursive: true,
  });
  const server = await serveStatic(APP_PORT, [{ prefix: '/', dir: path.join(app, 'dist') }]);
  servers.push(server);
  browser ??= await launch();
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/index.html`);
  await page.waitForSelector('#out[data-status]', { timeout: 180_000 });
  const text = await page.textContent('#out');
  assert.equal(await page.getAttribute('#out', 'data-status'), 'done', text);
  const result = JSON.parse(text);
  assert.equal(result.pixels, 28 * 28);
  assert.equal(result.backend, 'wasm');
  assert.deepEqual(errors, []);
});

test('a Vite app that builds its own worker from adadiff-web/worker generates with no copy step', async () => {
  const app = path.join(scratch, 'worker-app');
  mkdirSync(app, { recursive: true });
  writeFileSync(
    path.join(app, 'index.html'),
    '<!doctype html><title>app</title><link rel="icon" href="data:,"><p id="out">…</p><script type="module" src="./main.js"></script>',
  );
  // web-llm's pattern: the app's own worker module, which the bundler builds with onnxruntime-web
  writeFileSync(path.join(app, 'adadiff.worker.js'), "import 'adadiff-web/worker';\n");
  writeFileSync(
    path.join(app, 'main.js'),
    `import { createGenerator } from 'adadiff-web';
const q = new URLSearchParams(location.search);
const wasmPaths = q.get('wasmPaths');
const g = createGenerator({
  backend: 'wasm',
  model: q.get('model'),
  worker: () => new Worker(new URL('./adadiff.worker.js', import.meta.url), { type: 'module' }),
  ort: { numThreads: 1, logLevel: 'warning', ...(wasmPaths ? { wasmPaths } : {}) },
});
const out = document.getElementById('out');
g.generate({ steps: 4, seed: 1 }).then(
  (r) => { out.dataset.status = 'done'; out.textContent = JSON.stringify({ pixels: r.image.length, backend: g.info.backend }); },
  (e) => { out.dataset.status = 'error'; out.textContent = e.name + ' ' + e.code + ': ' + e.message; },
);`,
  );
  // Vite as it comes: no config file, no plugin, nothing copied into the app
  run('node', [bin('vite', 'bin/vite.js'), 'build', '--logLevel', 'warn'], app);
  const built = readdirSync(path.join(app, 'dist'), { recursive: true }).map(String);
  assert.ok(
    built.some((f) => /^assets\/ort-wasm-simd-threaded-[\w-]+\.wasm$/.test(f)),
    `Vite did not emit onnxruntime-web's wasm: ${built.join(', ')}`,
  );
  assert.ok(!built.some((f) => f.startsWith('models') || f.includes('adadiff-worker')), built.join(', '));
  const server = await serveStatic(WORKER_APP_PORT, [{ prefix: '/', dir: path.join(app, 'dist') }]);
  servers.push(server);
  // the model is data, not code: here it comes from the installed package on another origin, as from a CDN
  const models = await serveStatic(MODEL_HOST_PORT, [
    {
      prefix: '/',
      dir: path.join(scratch, 'node_modules/adadiff-web'),
      headers: { 'Access-Control-Allow-Origin': '*' },
    },
  ]);
  servers.push(models);
  browser ??= await launch();
  const open = async (wasmPaths = '') => {
    const page = await browser.context.newPage();
    const errors = watchErrors(page);
    const from = { app: server.requests.length, models: models.requests.length };
    const url = new URL('/index.html', server.url);
    url.searchParams.set('model', `${models.url}/dist/models/fmnist-uvit13/`);
    url.searchParams.set('wasmPaths', wasmPaths);
    await page.goto(url.href);
    await page.waitForSelector('#out[data-status]', { timeout: 180_000 });
    const outcome = {
      status: await page.getAttribute('#out', 'data-status'),
      text: await page.textContent('#out'),
      errors,
      app: server.requests.slice(from.app),
      models: models.requests.slice(from.models),
    };
    await page.close();
    return outcome;
  };

  const plain = await open();
  assert.equal(plain.status, 'done', plain.text);
  assert.deepEqual(JSON.parse(plain.text), { pixels: 28 * 28, backend: 'wasm' });
  assert.deepEqual(plain.errors, []);
  // the worker and ONNX Runtime's wasm came from the app's build; only the model from elsewhere
  assert.ok(
    plain.app.some((r) => /^\/assets\/adadiff\.worker-[\w-]+\.js$/.test(r)),
    plain.app.join(' '),
  );
  assert.ok(
    plain.app.some((r) => r.endsWith('.wasm')),
    plain.app.join(' '),
  );
  assert.ok(
    plain.models.every((r) => r.startsWith('/dist/models/fmnist-uvit13/')),
    plain.models.join(' '),
  );

  // ort.wasmPaths travels to the worker and is set before its first session
  const moved = await open(`${models.url}/dist/lib/assets/`);
  assert.equal(moved.status, 'done', moved.text);
  assert.ok(moved.models.includes('/dist/lib/assets/ort-wasm-simd-threaded.wasm'), moved.models.join(' '));
  assert.ok(!moved.app.some((r) => r.endsWith('.wasm')), moved.app.join(' '));

  // and a wrong one is a BackendError that names it
  const wrong = await open(`${server.url}/nowhere/`);
  assert.equal(wrong.status, 'error', wrong.text);
  assert.match(
    wrong.text,
    /^BackendError backend: ONNX Runtime could not start on wasm: .*ort\.wasmPaths is "http:\/\/localhost:\d+\/nowhere\/"/,
  );
});

test("the prebuilt widget from the package's files, on another origin, fires done", async () => {
  const widget = await serveStatic(WIDGET_PORT, [
    {
      prefix: '/',
      dir: path.join(scratch, 'node_modules/adadiff-web'),
      headers: { 'Access-Control-Allow-Origin': '*' },
    },
  ]);
  servers.push(widget);
  const hostDir = path.join(scratch, 'host');
  mkdirSync(hostDir, { recursive: true });
  writeFileSync(
    path.join(hostDir, 'index.html'),
    `<!doctype html><title>host</title>
<adadiff-generator steps="4" backend="wasm"></adadiff-generator>
<script type="module">
  const el = document.querySelector('adadiff-generator');
  el.addEventListener('done', (e) => { document.body.dataset.done = String(e.detail.image.length); });
  el.addEventListener('error', (e) => { document.body.dataset.error = e.detail.message; });
  el.addEventListener('load', () => el.generate());
</script>
<script type="module" src="${widget.url}/dist/lib/adadiff-widget.js"></script>`,
  );
  const host = await serveStatic(WIDGET_PORT + 1, [{ prefix: '/', dir: hostDir }]);
  servers.push(host);
  browser ??= await launch();
  const page = await browser.context.newPage();
  await page.goto(`${host.url}/index.html`);
  await page.waitForSelector('body[data-done], body[data-error]', { timeout: 180_000 });
  assert.equal(await page.getAttribute('body', 'data-error'), null);
  assert.equal(await page.getAttribute('body', 'data-done'), String(28 * 28));
  // the model and the runtime came from the widget's origin, out of the installed package
  assert.ok(widget.requests.some((r) => r.startsWith('/dist/models/fmnist-uvit13/')));
  assert.ok(widget.requests.some((r) => r.endsWith('.wasm')));
});
