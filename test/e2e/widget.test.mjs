/**
 * The embeddable widget in Debian's Chromium: host pages on another origin than the widget's
 * assets, two widgets sharing one download, CSS isolation both ways, a strict CSP, the iframe
 * embed's postMessage API, bad model attributes, and no console errors.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ARTIFACTS,
  FAULTS,
  holdBack,
  injectFault,
  launch,
  prefixWorkerScript,
  watchErrors,
} from './browser.mjs';
import { serveStatic } from './static-server.mjs';

const ASSETS_PORT = 4185;
const HOST_PORT = 4186;
const dist = path.resolve('dist');
const hostDir = path.resolve('test/e2e/host');
let assets;
let host;
let browser;

before(async () => {
  const widgetOrigin = `http://localhost:${ASSETS_PORT}`;
  const hostOrigin = `http://localhost:${HOST_PORT}`;
  const replace = { WIDGET_ORIGIN: widgetOrigin, HOST_ORIGIN: hostOrigin };
  assets = await serveStatic(ASSETS_PORT, [
    // a page of the widget's own origin under a strict policy: scripts from self plus wasm compilation
    {
      prefix: '/csp/',
      dir: hostDir,
      headers: { 'Content-Security-Policy': "script-src 'self' 'wasm-unsafe-eval'; object-src 'none'" },
    },
    { prefix: '/', dir: dist, headers: { 'Access-Control-Allow-Origin': '*' }, replace },
  ]);
  host = await serveStatic(HOST_PORT, [{ prefix: '/', dir: hostDir, replace }]);
  browser = await launch();
});

after(async () => {
  await browser?.context.close();
  await assets?.close();
  await host?.close();
});

/** Waits for a widget's generation to finish and returns its savings. */
async function generateIn(page, id) {
  return page.evaluate(
    (wid) =>
      new Promise((resolve, reject) => {
        const el = document.getElementById(wid);
        el.addEventListener('done', (e) => resolve(e.detail.totals), { once: true });
        el.addEventListener('error', (e) => reject(new Error(e.detail.message)), { once: true });
        el.generate();
      }),
    id,
  );
}

async function whenLoaded(page, id) {
  await page.waitForFunction(
    (wid) => document.getElementById(wid)?.shadowRoot?.querySelector('button.primary:not([disabled])'),
    id,
    { timeout: 180_000 },
  );
}

test('two widgets on a cross-origin host page both generate, from one model download', async () => {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  const before = assets.requests.length;
  await page.goto(`${host.url}/two-widgets.html`);
  await whenLoaded(page, 'a');
  await whenLoaded(page, 'b');
  const [a, b] = await Promise.all([generateIn(page, 'a'), generateIn(page, 'b')]);
  assert.ok(a.blocksRun > 0 && b.blocksRun > 0);
  assert.equal(b.savedFraction, 0, 'widget b runs full depth');
  const onnx = assets.requests.slice(before).filter((p) => p.endsWith('.onnx'));
  assert.equal(onnx.length, new Set(onnx).size, `each model file once: ${onnx.join(', ')}`);
  // exactly what generating needs: no baseline, and not the embed and blocks the fused prefix replaces
  const manifest = JSON.parse(readFileSync('public/models/fmnist-uvit13/manifest.json', 'utf8'));
  const { embed, head, blocks, prefix } = manifest.segments;
  const needed = [...(prefix ? [prefix] : [embed]), head, ...blocks.slice(prefix ? prefix.depth : 0)];
  assert.deepEqual(onnx.map((p) => path.basename(p)).sort(), needed.map((f) => f.path).sort());
  const workers = assets.requests.slice(before).filter((p) => p.includes('engine.worker'));
  assert.equal(workers.length, 1, 'one worker script for both widgets');

  // host CSS does not reach into the widget…
  const inside = await page.evaluate(() => {
    const root = document.getElementById('a').shadowRoot;
    const button = getComputedStyle(root.querySelector('button.primary'));
    const canvas = getComputedStyle(root.querySelector('canvas'));
    const text = getComputedStyle(root.querySelector('.savings'));
    return {
      buttonBg: button.backgroundColor,
      canvasBorder: canvas.borderTopWidth,
      textColor: text.color,
      font: text.fontFamily,
    };
  });
  assert.notEqual(inside.buttonBg, 'rgb(255, 0, 0)');
  assert.equal(inside.canvasBorder, '0px');
  assert.notEqual(inside.textColor, 'rgb(255, 0, 0)');
  assert.doesNotMatch(inside.font, /^monospace$/);
  // …and the widget's CSS does not reach the host's elements of the same class names
  const outside = await page.evaluate(() => ({
    hostButtonBg: getComputedStyle(document.getElementById('host-button')).backgroundColor,
    hostImageWidth: getComputedStyle(document.getElementById('host-image')).width,
  }));
  assert.equal(outside.hostButtonBg, 'rgb(255, 0, 0)');
  assert.equal(outside.hostImageWidth, '50px');
  await page.screenshot({ path: path.join(ARTIFACTS, 'widget-two.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('generate() called before the model loads waits for it, then uses its θ and the attributes', async () => {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${host.url}/generate-early.html`);
  await page.waitForFunction(() => window.early?.early && window.early['early-off'], null, {
    timeout: 180_000,
  });
  const early = await page.evaluate(() => window.early);
  assert.equal(early['early-loaded'], false, 'generate() was called before the model had loaded');
  assert.equal(early.early.error, undefined, early.early.error);
  // the manifest's θ and guidance schedule, not θ 0 (full depth, nothing saved)
  assert.ok(early.early.savedByExits > 0, `exits saved ${early.early.savedByExits}`);
  assert.ok(early.early.savedBySchedule > 0, `the schedule saved ${early.early.savedBySchedule}`);
  // guidance-schedule="off" holds too: every step guided afresh, the exits still at work
  assert.equal(early['early-off'].savedBySchedule, 0);
  assert.ok(early['early-off'].savedByExits > 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a page with a strict Content-Security-Policy (self + wasm-unsafe-eval) works', async () => {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${assets.url}/csp/csp.html`);
  await whenLoaded(page, 'a');
  const totals = await generateIn(page, 'a');
  assert.ok(totals.blocksRun > 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('bad model attributes raise an error event with a message', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${host.url}/bad-model.html`);
  await page.waitForFunction(() => Object.keys(window.widgetErrors ?? {}).length === 3, null, {
    timeout: 60_000,
  });
  const errs = await page.evaluate(() => window.widgetErrors);
  assert.match(errs.missing, /could not load .*no\/such\/model\/manifest\.json: HTTP 404/);
  assert.match(errs.scheme, /must be http: or https:/);
  assert.match(errs.foreign, /another origin .* allow-cross-origin-model/);
  const shown = await page.evaluate(
    () => document.getElementById('missing').shadowRoot.querySelector('[role=alert]')?.textContent,
  );
  assert.match(shown, /HTTP 404/);

  // an error listener that calls generate() gets a load of its own, which fails again and says so
  const retried = await page.evaluate(async () => {
    const el = document.createElement('adadiff-generator');
    el.setAttribute('model', document.getElementById('missing').getAttribute('model'));
    let said = 0;
    const twice = new Promise((resolve) =>
      el.addEventListener('error', () => {
        said++;
        if (said === 1) el.generate();
        else resolve(said);
      }),
    );
    document.body.append(el);
    return Promise.race([twice, new Promise((resolve) => window.setTimeout(() => resolve(said), 30_000))]);
  });
  assert.equal(retried, 2);

  // generate() after a failed load tries it again, and its error event comes before generate() resolves
  const again = await page.evaluate(async () => {
    const said = [];
    const el = document.getElementById('missing');
    el.addEventListener('error', (e) => said.push(e.detail.message));
    await el.generate();
    return said;
  });
  assert.equal(again.length, 1, JSON.stringify(again));
  assert.match(again[0], /HTTP 404/);

  // a loaded widget given a bad backend says so, in the next task and at generate(); set back, it loads again
  const corrected = await page.evaluate(async () => {
    const said = [];
    const el = document.createElement('adadiff-generator');
    const loaded = () =>
      Promise.race([
        new Promise((resolve) => el.addEventListener('load', resolve, { once: true })),
        new Promise((_, reject) =>
          window.setTimeout(() => reject(new Error('no load event within 60 s')), 60_000),
        ),
      ]);
    el.setAttribute('backend', 'wasm');
    el.setAttribute('steps', '2');
    el.addEventListener('error', (e) => said.push(e.detail.name));
    const first = loaded();
    document.body.append(el);
    await first;
    el.setAttribute('backend', 'gpu');
    await el.generate();
    const again = loaded();
    el.setAttribute('backend', 'wasm');
    await again;
    const done = new Promise((resolve) => el.addEventListener('done', resolve, { once: true }));
    await el.generate();
    await done;
    return said;
  });
  assert.deepEqual(corrected, ['ParameterError', 'ParameterError']);

  // a listener that retries a bad backend hears once per attempt, each time from a task of its own:
  // said from inside generate(), every retry ran inside the listener before it
  const retries = await page.evaluate(async () => {
    const el = document.createElement('adadiff-generator');
    let said = 0;
    let depth = 0;
    let deepest = 0;
    const retry = () => {
      said++;
      depth++;
      deepest = Math.max(deepest, depth);
      if (said < 20) void el.generate();
      depth--;
    };
    el.addEventListener('error', retry);
    el.setAttribute('backend', 'gpu');
    document.body.append(el);
    await new Promise((resolve) => window.setTimeout(resolve, 2000));
    el.removeEventListener('error', retry);
    return { said, deepest };
  });
  assert.deepEqual(retries, { said: 20, deepest: 1 });
  await page.close();
});

/** Waits until the iframe embed has sent a message of this type to the host page. */
async function whenMessage(page, type, timeout, count = 1) {
  await page.waitForFunction(
    ([t, n]) => window.messages.filter((m) => m.data?.type === t).length >= n,
    [type, count],
    { timeout },
  );
}

/** The details of the messages of this type the iframe embed has sent to the host page, in order. */
function detailsSent(page, type) {
  return page.evaluate(
    (t) => window.messages.filter((m) => m.data?.type === t).map((m) => m.data.detail),
    type,
  );
}

/** Posts these messages to the iframe embed, in order, from the host page. */
async function postToEmbed(page, ...messages) {
  await page.evaluate(
    ([origin, all]) => {
      for (const m of all) document.getElementById('frame').contentWindow.postMessage(m, origin);
    },
    [assets.url, messages],
  );
}

test('the iframe embed: generate by postMessage, replies only to the trusted origin', async () => {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${host.url}/iframe.html`);
  await whenMessage(page, 'adadiff:ready', 180_000);
  await postToEmbed(page, { type: 'adadiff:generate' });
  await whenMessage(page, 'adadiff:done', 120_000);
  const msgs = await page.evaluate(() => window.messages);
  assert.ok(msgs.every((m) => m.origin === 'http://localhost:4185'));
  assert.ok(msgs.some((m) => m.data.type === 'adadiff:step'));
  // the embed reports its height and the host sizes the frame to it: the chart is not cut off
  const resize = msgs.filter((m) => m.data.type === 'adadiff:resize').at(-1);
  assert.ok(resize && resize.data.detail.height > 300, `last resize: ${JSON.stringify(resize)}`);
  // the frame follows the latest height the embed reported (clientHeight: inside the border)
  await page.waitForFunction(() => {
    const last = window.messages.filter((m) => m.data?.type === 'adadiff:resize').at(-1);
    return Math.abs(document.getElementById('frame').clientHeight - last.data.detail.height) < 2;
  });
  const fits = await page.evaluate(() => {
    const doc = document.getElementById('frame').contentDocument;
    return doc ? doc.documentElement.scrollHeight <= document.getElementById('frame').clientHeight + 1 : null;
  });
  assert.notEqual(fits, false, 'the frame is as tall as its content');
  await page.screenshot({ path: path.join(ARTIFACTS, 'widget-iframe.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the iframe says when the model or backend its query names cannot be used', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${host.url}/iframe.html`);
  for (const [query, said] of [
    ['backend=gpu', /backend="gpu" must be/],
    ['model=ftp://example.org/m/', /must be http: or https:/],
  ]) {
    await page.evaluate(
      ([q, widgetOrigin, hostOrigin]) => {
        window.messages = [];
        document.getElementById('frame').src = `${widgetOrigin}/embed.html?${q}&origin=${hostOrigin}`;
      },
      [query, assets.url, host.url],
    );
    await whenMessage(page, 'adadiff:error', 60_000);
    await sleep(1500); // said once
    const errors = await detailsSent(page, 'adadiff:error');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].message, said);
  }
  await page.close();
});

test('the iframe says ready, and generates, before the model’s deepest block is in', async () => {
  const own = await launch(); // a fresh profile: nothing cached
  const { release, asked } = await holdBack(own.context, /\/block_12\.onnx$/);
  try {
    const page = await own.context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${host.url}/iframe.html`);
    await whenMessage(page, 'adadiff:ready', 180_000);
    // θ 1: every pass exits at its minimum depth, before any block the fused prefix does not hold
    await postToEmbed(
      page,
      { type: 'adadiff:set', attributes: { threshold: 1 } },
      { type: 'adadiff:generate' },
    );
    await whenMessage(page, 'adadiff:done', 120_000);
    // the image came while the deepest block was held; that the worker asks for it shows the hold is real
    for (let waited = 0; !asked() && waited < 60_000; waited += 100) await sleep(100);
    assert.ok(asked(), 'the worker asked for the deepest block');
    assert.deepEqual(errors, []);
  } finally {
    release();
    await own.context.close();
  }
});

test('a model file that fails after ready fails the run waiting on it, says so once, and Generate tries again', async () => {
  const own = await launch();
  let failing = true;
  const { release } = await holdBack(own.context, /\/block_12\.onnx$/, (route) =>
    failing ? route.fulfill({ status: 404, body: 'gone' }) : route.continue(),
  );
  try {
    const page = await own.context.newPage();
    await page.goto(`${host.url}/iframe.html`);
    await whenMessage(page, 'adadiff:ready', 180_000);
    // θ 0: no pass exits, so the first step waits for the deepest block
    await postToEmbed(
      page,
      { type: 'adadiff:set', attributes: { threshold: 0 } },
      { type: 'adadiff:generate' },
    );
    const widget = page.frames().find((f) => f.url().includes('/embed.html'));
    await widget.waitForFunction(
      () =>
        document
          .querySelector('adadiff-generator')
          .shadowRoot.querySelector('button:not(.primary):not([disabled])'),
      null,
      { timeout: 60_000 },
    );
    release();
    await whenMessage(page, 'adadiff:error', 60_000);
    await sleep(1500); // the load's failure and the run's, each told in the same task or the next
    const said = await detailsSent(page, 'adadiff:error');
    assert.equal(said.length, 1, JSON.stringify(said));
    assert.match(said[0].message, /block_12\.onnx.*404/);
    assert.equal((await detailsSent(page, 'adadiff:done')).length, 0);
    // the file is back: Generate loads the model again, then makes the image
    failing = false;
    await widget.click('adadiff-generator >> button.primary');
    await whenMessage(page, 'adadiff:done', 120_000);
  } finally {
    release();
    await own.context.close();
  }
});

test('after a crash mid-run, a deeper block the fresh load cannot get raises an error event too', async () => {
  const own = await launch();
  await prefixWorkerScript(own.context, FAULTS);
  // the first load never gets the deepest block (so nothing caches it); the fresh load after the crash
  // gets a 404 for it, once the run has said what the crash did
  let releaseFirst;
  const first = new Promise((r) => (releaseFirst = r));
  let releaseAgain;
  const again = new Promise((r) => (releaseAgain = r));
  let crashed = false;
  let askedFirst = false;
  let askedAgain = false;
  await own.context.route(/\/block_12\.onnx$/, async (route) => {
    if (crashed) askedAgain = true;
    else askedFirst = true;
    await (crashed ? again : first);
    await route.fulfill({ status: 404, body: 'gone' }).catch(() => undefined);
  });
  try {
    const page = await own.context.newPage();
    await page.goto(`${host.url}/iframe.html`);
    await whenMessage(page, 'adadiff:ready', 180_000);
    // θ 1: every pass exits before the deepest block; 200 steps give the crash time to land mid-run
    await postToEmbed(
      page,
      { type: 'adadiff:set', attributes: { threshold: 1, steps: 200 } },
      { type: 'adadiff:generate' },
    );
    await whenMessage(page, 'adadiff:step', 60_000);
    for (let waited = 0; !askedFirst && waited < 60_000; waited += 100) await sleep(100);
    assert.ok(askedFirst, 'the first load asked for the deepest block');
    const widget = page.frames().find((f) => f.url().includes('/embed.html'));
    crashed = true;
    await injectFault(widget, 'crash');
    await whenMessage(page, 'adadiff:error', 120_000);
    assert.match(
      (await detailsSent(page, 'adadiff:error'))[0].message,
      /stopped unexpectedly \(.*injected crash.*\)\. A fresh engine has loaded/,
    );
    for (let waited = 0; !askedAgain && waited < 60_000; waited += 100) await sleep(100);
    assert.ok(askedAgain, 'the fresh load asked for the deepest block');
    releaseAgain();
    await whenMessage(page, 'adadiff:error', 60_000, 2);
    await sleep(1500); // nothing more to say
    const said = await detailsSent(page, 'adadiff:error');
    assert.equal(said.length, 2, JSON.stringify(said));
    assert.match(said[1].message, /block_12\.onnx.*404/);
  } finally {
    releaseFirst();
    releaseAgain();
    await own.context.close();
  }
});

test('the iframe ignores messages from origins it was not told to trust', async () => {
  const page = await browser.context.newPage();
  // the same embed, but trusting another origin than the page that embeds it
  await page.goto(`${host.url}/iframe.html`);
  await page.evaluate((src) => {
    const f = document.getElementById('frame');
    f.src = src;
  }, `${assets.url}/embed.html?steps=2&origin=http://localhost:9`);
  await page.waitForTimeout(500);
  const frame = page.frames().find((f) => f.url().includes('origin=http://localhost:9'));
  await frame.waitForFunction(
    () =>
      document
        .querySelector('adadiff-generator')
        ?.shadowRoot?.querySelector('button.primary:not([disabled])'),
    null,
    { timeout: 180_000 },
  );
  await page.evaluate(() => {
    window.messages = [];
    document.getElementById('frame').contentWindow.postMessage({ type: 'adadiff:generate' }, '*');
  });
  await page.waitForTimeout(3000);
  const status = await frame.evaluate(
    () =>
      document.querySelector('adadiff-generator').shadowRoot.querySelector('[data-testid=savings]').dataset
        .value,
  );
  assert.equal(status, '', 'no generation ran');
  assert.deepEqual(await page.evaluate(() => window.messages), []);
  await page.close();
});
