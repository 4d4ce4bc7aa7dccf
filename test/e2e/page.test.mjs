/**
 * The generator page end to end in Debian's Chromium: load with progress, generate, savings at
 * the default θ and at θ = 0, the slider, the cache on reload, WebGPU (SwiftShader) against
 * wasm, and a bad model URL. Screenshots go to test-results/.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  ARTIFACTS,
  generateAndWait,
  holdBack,
  imagePixels,
  launch,
  savedFraction,
  servePreview,
  waitLoaded,
  watchErrors,
} from './browser.mjs';
import { serveStatic } from './static-server.mjs';

let served;
let browser;
let page;
let errors;
const timings = {};

before(async () => {
  served = await servePreview(4183);
  browser = await launch();
  page = await browser.context.newPage();
  errors = watchErrors(page);
});

after(async () => {
  writeFileSync(path.join(ARTIFACTS, 'page-timings.json'), JSON.stringify(timings, null, 2));
  await browser?.context.close();
  await served?.server.close();
});

test('the page loads the default model with a progress bar that reaches 100 %', async () => {
  const started = Date.now();
  await page.goto(served.url);
  const progress = await page.waitForSelector('[data-testid=load-progress]', { timeout: 30_000 });
  assert.ok(progress, 'a progress bar is shown while downloading');
  await waitLoaded(page);
  timings.loadMs = Date.now() - started;
  assert.equal(await page.locator('[data-testid=load-error]').count(), 0, 'no load error');
  assert.equal(await page.getAttribute('[data-testid=backend-badge]', 'data-backend'), 'wasm');
  assert.match(await page.textContent('[data-testid=backend-badge]'), /wasm/);
  const loaded = Number(await page.getAttribute('[data-testid=model-info]', 'data-loaded'));
  const total = Number(await page.getAttribute('[data-testid=model-info]', 'data-total'));
  assert.ok(total > 0 && loaded === total, `progress ${loaded}/${total}`);
  timings.downloadedBytes = Number(await page.getAttribute('[data-testid=model-info]', 'data-downloaded'));
  assert.equal(timings.downloadedBytes, total, 'a fresh profile downloads every byte');
});

test('the page can generate before the deepest block is in: a shallow image, then the same image once it is', async () => {
  const own = await launch(); // a fresh profile: nothing cached
  try {
    // the worker's request for the deepest block waits until the test lets it go
    const { release } = await holdBack(own.context, /\/block_12\.onnx$/);
    const p = await own.context.newPage();
    // θ 1: every pass exits at its minimum depth, before any block the prefix does not hold
    await p.goto(`${served.url}?steps=4&threshold=1&seed=3`);
    await p.waitForSelector('[data-testid=backend-badge]', { timeout: 120_000 });
    assert.equal(await p.getAttribute('[data-testid=model-info]', 'data-complete'), 'false');
    assert.match(await p.textContent('[data-testid=load-rest]'), /deeper blocks are still downloading/);
    assert.equal(await generateAndWait(p), 'done');
    const early = await imagePixels(p);
    assert.equal(await p.getAttribute('[data-testid=model-info]', 'data-complete'), 'false', 'still held');
    release();
    await waitLoaded(p);
    assert.equal(await p.locator('[data-testid=load-rest]').count(), 0);
    assert.equal(await generateAndWait(p), 'done');
    assert.deepEqual(await imagePixels(p), early, 'the same image from the whole model');
  } finally {
    await own.context.close();
  }
});

test('the page fetches onnxruntime’s .wasm before the worker asks, and it crosses the wire once', async () => {
  const wasmEntries = (target) =>
    target.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => new URL(e.name).pathname.endsWith('.wasm'))
        .map((e) => ({
          url: e.name,
          initiator: e.initiatorType,
          transferSize: e.transferSize,
          startedAt: performance.timeOrigin + e.startTime,
        })),
    );
  const fromPage = await wasmEntries(page);
  assert.equal(fromPage.length, 1, `one .wasm fetched by the page: ${JSON.stringify(fromPage)}`);
  assert.equal(fromPage[0].initiator, 'fetch');
  assert.match(
    fromPage[0].url,
    /ort-wasm-simd-threaded-[\w-]+\.wasm$/,
    'the wasm build, for the wasm backend',
  );
  assert.ok(fromPage[0].transferSize > 0, 'the page’s fetch went over the wire');
  const fromWorker = (await Promise.all(page.workers().map(wasmEntries))).flat();
  assert.deepEqual(
    fromWorker.map((e) => e.url),
    [fromPage[0].url],
    'the worker loads the same file',
  );
  assert.ok(fromPage[0].startedAt < fromWorker[0].startedAt, 'the page asked first');
  assert.equal(fromWorker[0].transferSize, 0, 'the worker’s copy came from the HTTP cache');
});

test('after a runtime build’s first image the engine makes its sessions once more, for the code cache, and only then', async () => {
  const own = await launch(); // a fresh profile: nothing cached
  try {
    const p = await own.context.newPage();
    const engine = () => p.workers().find((w) => /engine\.worker/.test(w.url()));
    const engineMarks = async () =>
      (await engine()?.evaluate(() => performance.getEntriesByType('mark').map((m) => m.name))) ?? [];
    await p.goto(served.url);
    await waitLoaded(p);
    assert.equal(await generateAndWait(p), 'done');
    for (let waited = 0; !(await engineMarks()).includes('adadiff:compiled-code'); waited += 200) {
      assert.ok(waited < 60_000, `no compiled-code mark: ${JSON.stringify(await engineMarks())}`);
      await p.waitForTimeout(200);
    }
    const runtime = await engine().evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => new URL(e.name).pathname.endsWith('.wasm'))
        .map((e) => e.name),
    );
    assert.equal(runtime.length, 1);
    const remembered = async () =>
      p.evaluate(async () =>
        (await (await globalThis.caches.open('adadiff-compiled-code-v1')).keys()).map((r) => r.url),
      );
    assert.deepEqual(await remembered(), runtime, 'the build is remembered');
    await p.reload();
    await waitLoaded(p);
    assert.equal(await generateAndWait(p), 'done');
    await p.waitForTimeout(1500); // past the second the engine would wait before its first session
    assert.ok(!(await engineMarks()).includes('adadiff:compiled-code:start'), 'not again on a return visit');
    assert.deepEqual(await remembered(), runtime);
  } finally {
    await own.context.close();
  }
});

test('the page’s code failing to load says so, with a reload button, not a blank page', async () => {
  const other = await browser.context.newPage();
  try {
    await other.route('**/assets/start-*.js', (route) => route.abort());
    await other.goto(served.url);
    const shown = await other.waitForSelector('[data-testid=app-load-error]', { timeout: 30_000 });
    assert.match(await shown.textContent(), /did not load.*reload/i);
    assert.equal(await other.locator('button', { hasText: 'Reload' }).count(), 1);
  } finally {
    await other.close();
  }
});

test('Generate makes a non-blank image and saves blocks at the default θ', async () => {
  const started = Date.now();
  assert.equal(await generateAndWait(page), 'done');
  timings.firstImageMs = Date.now() - started + timings.loadMs;
  timings.generateMs = Date.now() - started;
  const pixels = await imagePixels(page);
  assert.ok(new Set(pixels).size > 8, 'the image has more than a few distinct gray levels');
  const saved = await savedFraction(page);
  assert.ok(saved > 0, `saved fraction at the default θ is ${saved}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'page-default-threshold.png'), fullPage: true });
});

test('the counters split the saving by source, and the schedule switch leaves the exits alone', async () => {
  const theta = await page.inputValue('#threshold');
  await page.locator('#threshold').fill('0.05');
  const split = async () => {
    assert.equal(await generateAndWait(page), 'done');
    const read = async (id) => Number(await page.getAttribute(`[data-testid=${id}]`, 'data-value'));
    const [total, exits, schedule, fixed] = await Promise.all(
      ['saved-fraction', 'saved-exits', 'saved-schedule', 'saved-fixed-depth'].map(read),
    );
    assert.ok(
      Math.abs(exits + schedule + fixed - total) < 1e-9,
      `${exits} + ${schedule} + ${fixed} = ${total}`,
    );
    return { total, exits, schedule, fixed };
  };
  const on = await split();
  assert.ok(on.schedule > 0 && on.exits > 0, `the model's default: ${JSON.stringify(on)}`);
  const legend = await page.locator('[data-testid=block-chart-legend] li').allTextContents();
  assert.ok(
    legend.some((l) => /guidance schedule/.test(l)),
    `legend: ${legend.join('; ')}`,
  );
  await page.locator('summary', { hasText: 'Guidance pass' }).click();
  await page.getByTestId('guidance-schedule').uncheck();
  assert.match(page.url(), /guidanceSchedule=0/);
  const off = await split();
  assert.equal(off.schedule, 0, 'the schedule off skips no pass');
  assert.ok(off.exits > 0, 'the exits still save');
  await page.screenshot({ path: path.join(ARTIFACTS, 'page-schedule-off.png'), fullPage: true });
  await page.getByTestId('guidance-schedule').check();
  await page.locator('#threshold').fill(theta);
});

test('moving the slider changes the savings; θ = 0 exits nowhere; full depth saves nothing', async () => {
  const before = await savedFraction(page);
  await page.locator('#threshold').fill('0.5');
  assert.equal(await generateAndWait(page), 'done');
  const high = await savedFraction(page);
  assert.ok(high > before, `θ = 0.5 saves ${high}, more than the default's ${before}`);
  // θ is a plain number: at 0 no block exits, and the guidance schedule still skips its passes
  await page.locator('#threshold').fill('0');
  assert.equal(await generateAndWait(page), 'done');
  const exits = Number(await page.getAttribute('[data-testid=saved-exits]', 'data-value'));
  const schedule = Number(await page.getAttribute('[data-testid=saved-schedule]', 'data-value'));
  assert.equal(exits, 0);
  assert.ok(schedule > 0, `the schedule saved ${schedule}`);
  // full depth is said outright, and is what the link keeps
  await page.getByTestId('full-depth').check();
  assert.match(page.url(), /fullDepth=1/);
  assert.equal(await generateAndWait(page), 'done');
  assert.equal(await savedFraction(page), 0);
  await page.screenshot({ path: path.join(ARTIFACTS, 'page-full-depth.png'), fullPage: true });
  await page.getByTestId('full-depth').uncheck();
});

test('Cancel stops a long generation part-way (the worker reads messages while it computes)', async () => {
  const long = await browser.context.newPage();
  await long.goto(`${served.url}?steps=200&threshold=0`);
  await waitLoaded(long);
  await long.getByRole('button', { name: 'Generate' }).click();
  await long.waitForSelector('[data-testid=run-status][data-status=running]');
  await long.waitForTimeout(500);
  const clicked = Date.now();
  await long.getByRole('button', { name: 'Cancel' }).click();
  await long.waitForSelector(
    '[data-testid=run-status][data-status=cancelled], [data-testid=run-status][data-status=done]',
    { timeout: 120_000 },
  );
  timings.cancelMs = Date.now() - clicked;
  assert.equal(await long.getAttribute('[data-testid=run-status]', 'data-status'), 'cancelled');
  await long.close();
});

test('compare with full depth shows both images and their difference', async () => {
  await page.locator('#threshold').fill('0.3');
  await page.getByLabel('Compare with full depth').check();
  assert.equal(await generateAndWait(page), 'done');
  await page.waitForSelector('[data-testid=image-full]');
  assert.match(await page.textContent('[data-testid=compare-stats]'), /PSNR/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'page-compare.png'), fullPage: true });
});

test('the URL holds what the user set and nothing the model decides; a reload downloads no model bytes', async () => {
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('threshold'), '0.3');
  assert.equal(url.searchParams.get('compare'), '1');
  // never touched: the model's manifest decides them, for whichever model the link opens
  for (const key of ['steps', 'sampler', 'guidance', 'batching', 'uncondEvery', 'guidanceMaxT']) {
    assert.ok(!url.searchParams.has(key), `URL has ${key}: ${url.search}`);
  }
  const before = browser.requests.length;
  await page.reload();
  await waitLoaded(page);
  const onnx = browser.requests.slice(before).filter((u) => u.endsWith('.onnx'));
  assert.deepEqual(onnx, [], 'no .onnx request after reload');
  assert.equal(await page.locator('#threshold').inputValue(), '0.3', 'θ restored from the URL');
});

test('guidance-pass settings from a shared URL reach the worker, and reset to the model’s', async () => {
  const p = await browser.context.newPage();
  // the plain guidance pass: every step, to its own exit
  await p.goto(`${served.url}?steps=8&batching=separate&uncondEvery=1&guidanceMaxT=999`);
  await waitLoaded(p);
  assert.equal(await p.getByLabel('Unconditional pass').inputValue(), 'separate');
  assert.match(await p.textContent('.guidance-pass summary'), /changed/);
  assert.equal(await generateAndWait(p), 'done');
  const plain = await savedFraction(p);
  await p.getByRole('button', { name: 'Use the model’s settings' }).click();
  assert.equal(await p.getByLabel('Unconditional pass').inputValue(), 'shallow');
  assert.equal(new URL(p.url()).searchParams.get('batching'), null, 'the model’s own again: not in the link');
  assert.equal(await generateAndWait(p), 'done');
  const shallow = await savedFraction(p);
  assert.ok(shallow > plain + 0.1, `the model's settings save ${shallow}, the plain pass ${plain}`);
  await p.close();
});

test('a link value outside the model’s range is dropped and listed once the model is known', async () => {
  const p = await browser.context.newPage();
  await p.goto(`${served.url}?steps=4&guidanceMaxT=5000&class=42`);
  await waitLoaded(p);
  const notice = await p.textContent('.notice');
  assert.match(notice, /guidanceMaxT=5000/);
  assert.match(notice, /class=42/);
  assert.equal(await generateAndWait(p), 'done', 'the model’s values stand in: Generate works');
  await p.close();
});

test('a model on another site loads only after the visitor says so; the answer is kept per origin', async () => {
  // the same model files from another origin (127.0.0.1 is not localhost), served with CORS
  const foreign = await serveStatic(4187, [
    { prefix: '/', dir: path.resolve('dist'), headers: { 'Access-Control-Allow-Origin': '*' } },
  ]);
  const p = await browser.context.newPage();
  try {
    const model = 'http://127.0.0.1:4187/models/fmnist-uvit13/';
    // the old opt-in in the link grants nothing: whoever writes a link is not the visitor
    await p.goto(`${served.url}?steps=2&allowCrossOriginModel=1&model=${encodeURIComponent(model)}`);
    const dialog = p.getByTestId('consent');
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /Load a model from http:\/\/127\.0\.0\.1:4187\?/);
    assert.equal(foreign.requests.length, 0, 'nothing is fetched before the visitor answers');
    await p.getByRole('button', { name: 'Don’t load' }).click();
    await p.waitForSelector('[data-testid=load-error]');
    assert.match(
      await p.textContent('[data-testid=load-error]'),
      /chose not to load a model from http:\/\/127\.0\.0\.1:4187/,
    );
    assert.equal(foreign.requests.length, 0);
    await p.getByRole('button', { name: 'Retry' }).click();
    await p.getByRole('button', { name: 'Load it' }).click();
    await waitLoaded(p);
    assert.ok(foreign.requests.some((r) => r.endsWith('manifest.json')));
    assert.equal(await generateAndWait(p), 'done');
    // the answer is kept: a reload loads without asking
    await p.reload();
    await waitLoaded(p);
    assert.equal(await p.getByTestId('consent').count(), 0);
  } finally {
    await p.close();
    await foreign.close();
  }
});

test('a bad model URL shows an error with a retry, not a blank page', async () => {
  const bad = await browser.context.newPage();
  await bad.goto(`${served.url}?model=${encodeURIComponent('/no/such/model/')}`);
  await waitLoaded(bad);
  const text = await bad.textContent('[data-testid=load-error]');
  assert.match(
    text,
    /could not load http:\/\/localhost:\d+\/no\/such\/model\/manifest\.json: (HTTP 404|the server sent an HTML page)/,
  );
  assert.ok(await bad.getByRole('button', { name: 'Retry' }).isVisible());
  await bad.screenshot({ path: path.join(ARTIFACTS, 'page-bad-model.png') });
  await bad.close();
});

test('the page works on a narrow phone screen and by keyboard', async () => {
  const phone = await browser.context.newPage();
  await phone.setViewportSize({ width: 360, height: 740 });
  await phone.goto(`${served.url}?steps=4`);
  await waitLoaded(phone);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, 'no horizontal scrolling at 360 px');
  // every form control has an accessible name
  const unlabelled = await phone.evaluate(
    () =>
      [...document.querySelectorAll('input, select, button')].filter((el) => {
        const labelled = el.labels?.length || el.getAttribute('aria-label') || el.textContent?.trim();
        return !labelled;
      }).length,
  );
  assert.equal(unlabelled, 0);
  await phone.getByRole('button', { name: 'Generate' }).focus();
  await phone.keyboard.press('Enter');
  await phone.waitForSelector('[data-testid=run-status][data-status=done]', { timeout: 120_000 });
  await phone.screenshot({ path: path.join(ARTIFACTS, 'page-phone.png'), fullPage: true });
  await phone.close();
});

test('no console errors on the page', () => {
  assert.deepEqual(errors, []);
});

test('WebGPU forced (SwiftShader here) gives the wasm image within a small tolerance', async () => {
  const gpu = await launch({ webgpu: true });
  try {
    const query = '?steps=2&guidance=1&threshold=0&seed=3&class=1';
    const wasmPage = await gpu.context.newPage();
    await wasmPage.goto(`${served.url}${query}&backend=wasm`);
    await waitLoaded(wasmPage);
    assert.equal(await generateAndWait(wasmPage), 'done');
    const wasmPixels = await imagePixels(wasmPage);
    await wasmPage.close();

    const gpuPage = await gpu.context.newPage();
    const gpuErrors = watchErrors(gpuPage);
    await gpuPage.goto(`${served.url}${query}&backend=webgpu`);
    await waitLoaded(gpuPage, 300_000);
    assert.equal(await gpuPage.getAttribute('[data-testid=backend-badge]', 'data-backend'), 'webgpu');
    assert.equal(await generateAndWait(gpuPage, 300_000), 'done');
    const gpuPixels = await imagePixels(gpuPage);
    const worst = Math.max(...gpuPixels.map((v, i) => Math.abs(v - wasmPixels[i])));
    assert.ok(worst <= 2, `max pixel difference ${worst} of 255`);
    assert.deepEqual(gpuErrors, []);
    await gpuPage.screenshot({ path: path.join(ARTIFACTS, 'page-webgpu.png'), fullPage: true });
  } finally {
    await gpu.context.close();
  }
});
