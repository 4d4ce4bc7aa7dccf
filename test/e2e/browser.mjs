/** Shared e2e helpers: the built page served by `vite preview`, and Debian's Chromium via playwright-core. */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { CHROMIUM_PATH, chromiumArgs } from '../../src/bench/chromium.mjs';

export const ARTIFACTS = path.resolve('test-results');
mkdirSync(ARTIFACTS, { recursive: true });

export async function servePreview(port) {
  const server = await preview({ preview: { port, strictPort: true, open: false }, logLevel: 'silent' });
  return { server, url: `http://localhost:${port}/` };
}

/** A fresh profile each launch (so Cache Storage starts empty); webgpu adds SwiftShader's adapter. */
export async function launch({ webgpu = false, extraArgs = [] } = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), 'adadiff-chromium-'));
  const args = [...chromiumArgs(webgpu), ...extraArgs];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args,
  });
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  return { context, requests };
}

/**
 * Put in front of a worker's script (prefixWorkerScript): a listener that destroys the worker's WebGPU
 * devices ('lose-device') or throws out of a task ('crash') when told to on a BroadcastChannel.
 */
export const FAULTS = `
{
  const devices = [];
  const proto = globalThis.GPUAdapter?.prototype;
  if (proto) {
    const requestDevice = proto.requestDevice;
    proto.requestDevice = async function (...args) {
      const device = await requestDevice.apply(this, args);
      devices.push(device);
      return device;
    };
  }
  new BroadcastChannel('adadiff-faults').onmessage = (e) => {
    if (e.data === 'lose-device') for (const d of devices) d.destroy();
    if (e.data === 'crash') setTimeout(() => { throw new Error('injected crash'); });
  };
}
`;

/** Tells the workers of the frame's origin that listen (FAULTS) to fail: 'crash' or 'lose-device'. */
export const injectFault = (frame, fault) =>
  frame.evaluate((f) => new globalThis.BroadcastChannel('adadiff-faults').postMessage(f), fault);

/**
 * Serves every engine worker script with `code` in front of it: how tests inject faults and
 * counters into the worker without hooks in the product.
 */
export async function prefixWorkerScript(context, code) {
  await context.route(/\/assets\/engine\.worker-[^/]+\.js$/, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: code + (await response.text()) });
  });
}

/**
 * Holds back every request matching `pattern` until `release()`, then answers it with `answer`
 * (by default, the real file). `asked()`: whether one came. An answer the page no longer waits for
 * is dropped.
 */
export async function holdBack(context, pattern, answer = (route) => route.continue()) {
  let release;
  const held = new Promise((r) => (release = r));
  let asked = false;
  await context.route(pattern, async (route) => {
    asked = true;
    await held;
    await answer(route).catch(() => undefined);
  });
  return { release, asked: () => asked };
}

/** Collects console errors and page errors, so a test can assert there were none. */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** The model wholly loaded (every block in, not only ready to generate), or its load failed. */
export async function waitLoaded(page, timeout = 180_000) {
  await page.waitForSelector('[data-testid=model-info][data-complete=true], [data-testid=load-error]', {
    timeout,
  });
}

export async function generateAndWait(page, timeout = 300_000) {
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForSelector(
    '[data-testid=run-status][data-status=done], [data-testid=run-status][data-status=error]',
    {
      timeout,
    },
  );
  return page.getAttribute('[data-testid=run-status]', 'data-status');
}

/** The generated image's 8-bit gray values, read back from its canvas. */
export async function imagePixels(page, testId = 'image') {
  return page.evaluate((id) => {
    const c = document.querySelector(`[data-testid=${id}]`);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return Array.from({ length: d.length / 4 }, (_, i) => d[i * 4]);
  }, testId);
}

export async function savedFraction(page) {
  return Number(await page.getAttribute('[data-testid=saved-fraction]', 'data-value'));
}
