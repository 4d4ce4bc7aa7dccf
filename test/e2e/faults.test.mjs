/**
 * Faults injected into the real page: the WebGPU device destroyed mid-generation (SwiftShader
 * here), Cache Storage over quota or holding a corrupted file, and the worker dying
 * mid-generation. The worker script is served with a small prefix that listens on a
 * BroadcastChannel, so the product carries no test hooks.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  ARTIFACTS,
  FAULTS,
  generateAndWait,
  injectFault,
  launch,
  prefixWorkerScript,
  servePreview,
  waitLoaded,
} from './browser.mjs';

let served;
before(async () => {
  served = await servePreview(4185);
});
after(async () => {
  await served?.server.close();
});

/** Every worker the page starts gets the fault listener in front of its own code. */
const withFaults = (context) => prefixWorkerScript(context, FAULTS);

const runError = (page) => page.textContent('[data-testid=run-status] .error-text');

test('WebGPU device lost mid-generation: a clear error, the page reloads on wasm, the next image works', async () => {
  const browser = await launch({ webgpu: true });
  try {
    await withFaults(browser.context);
    const page = await browser.context.newPage();
    await page.goto(`${served.url}?steps=40&guidance=1&threshold=0.2&seed=4&backend=webgpu`);
    await waitLoaded(page, 300_000);
    assert.equal(await page.getAttribute('[data-testid=backend-badge]', 'data-backend'), 'webgpu');

    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForSelector('[data-testid=run-status][data-status=running]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=block-chart] rect').length > 0);
    await injectFault(page, 'lose-device');
    await page.waitForSelector('[data-testid=run-status][data-status=error]', { timeout: 120_000 });
    await page.waitForSelector('[data-testid=backend-badge][data-backend=wasm]', { timeout: 120_000 });
    assert.match(
      await runError(page),
      /WebGPU device was lost \(Device was destroyed\.\).*Switched to wasm: press Generate again/,
    );
    assert.equal(await page.locator('#threshold').inputValue(), '0.2', 'θ survives the reload');
    assert.equal(await generateAndWait(page), 'done');
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-device-lost.png'), fullPage: true });
  } finally {
    await browser.context.close();
  }
});

test('Cache Storage over quota: the model loads from memory and the page says it was not stored', async () => {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(page);
    // a real quota, far below the 11 MB model: every cache.put fails with QuotaExceededError
    await cdp.send('Storage.overrideQuotaForOrigin', {
      origin: new URL(served.url).origin,
      quotaSize: 100_000,
    });
    await page.goto(`${served.url}?steps=2`);
    await waitLoaded(page);
    assert.equal(await page.locator('[data-testid=load-error]').count(), 0);
    assert.match(
      await page.textContent('[data-testid=cache-notice]'),
      /could not be stored in the browser cache/,
    );
    assert.equal(await generateAndWait(page), 'done');
  } finally {
    await browser.context.close();
  }
});

test('a corrupted file in Cache Storage fails its sha256 check and is fetched again', async () => {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${served.url}?steps=2`);
    await waitLoaded(page);
    // overwrite one cached segment with bytes of the same length but another hash
    const key = await page.evaluate(async () => {
      const store = await globalThis.caches.open('adadiff-models-v1');
      const request = (await store.keys()).find((r) => r.url.includes('block_08.onnx'));
      const bytes = new Uint8Array(await (await store.match(request)).arrayBuffer());
      bytes.fill(7, 0, 64);
      await store.put(request, new globalThis.Response(bytes));
      return request.url;
    });
    assert.match(key, /block_08\.onnx\?sha256=[0-9a-f]{64}$/);
    const before = browser.requests.length;
    await page.reload();
    await waitLoaded(page);
    assert.equal(await page.locator('[data-testid=load-error]').count(), 0);
    const onnx = browser.requests.slice(before).filter((u) => u.endsWith('.onnx'));
    assert.deepEqual(
      onnx.map((u) => u.split('/').pop()),
      ['block_08.onnx'],
      'only the corrupted file is fetched',
    );
    assert.equal(await generateAndWait(page), 'done');
  } finally {
    await browser.context.close();
  }
});

test('a worker that dies mid-generation is replaced; the settings stay and the next image works', async () => {
  const browser = await launch();
  try {
    await withFaults(browser.context);
    const page = await browser.context.newPage();
    await page.goto(`${served.url}?steps=60&threshold=0&seed=8&class=3`);
    await waitLoaded(page);
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForSelector('[data-testid=run-status][data-status=running]');
    await injectFault(page, 'crash');
    await page.waitForSelector('[data-testid=run-status][data-status=error]', { timeout: 60_000 });
    await page.waitForSelector('[data-testid=backend-badge]', { timeout: 120_000 });
    assert.match(
      await runError(page),
      /stopped unexpectedly \(.*injected crash.*\)\. A fresh engine has loaded/,
    );
    const url = new URL(page.url());
    assert.deepEqual(
      ['steps', 'seed', 'class'].map((k) => url.searchParams.get(k)),
      ['60', '8', '3'],
      'parameters kept',
    );
    assert.equal(await generateAndWait(page), 'done');
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-worker-crash.png'), fullPage: true });
  } finally {
    await browser.context.close();
  }
});
