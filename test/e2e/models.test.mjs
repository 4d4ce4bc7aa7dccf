/**
 * The page with more than one model in Debian's Chromium: the build's models index lists every
 * shipped model, the picker switches between them and keeps the choice in the link, and a colour
 * model with no classes generates with no class or guidance control, crisp in its PNG download.
 * That model is a tiny test fixture (test/fixtures/models/uncond-rgb-tiny) served beside the
 * shipped ones; the shipped emoji model, in colour with classes, is opened by its id.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { decode } from 'fast-png';
import { buildModelsIndex } from '../../tools/package/models-index.mjs';
import { generateAndWait, holdBack, launch, servePreview, waitLoaded, watchErrors } from './browser.mjs';

const FIXTURES = path.resolve('test/fixtures/models');
const TINY = 'uncond-rgb-tiny';

let served;
let browser;
let page;
let errors;

before(async () => {
  served = await servePreview(4185);
  browser = await launch();
  const { context } = browser;
  // the fixture model beside the shipped ones, and in the index the picker reads
  await context.route(`**/models/${TINY}/**`, (route) =>
    route.fulfill({
      path: path.join(FIXTURES, TINY, path.basename(new URL(route.request().url()).pathname)),
    }),
  );
  await context.route('**/models/index.json', async (route) => {
    const shipped = await (await route.fetch()).json();
    const extra = buildModelsIndex(FIXTURES, TINY).models;
    await route.fulfill({ json: { models: [...shipped.models, ...extra] } });
  });
  page = await context.newPage();
  errors = watchErrors(page);
});

after(async () => {
  await browser?.context.close();
  await served?.server.close();
});

test('the build writes models/index.json listing every shipped model', async () => {
  const res = await fetch(new URL('models/index.json', served.url));
  assert.equal(res.status, 200);
  const index = await res.json();
  const shipped = readdirSync('public/models').filter((d) => !d.startsWith('.'));
  assert.deepEqual(index.models.map((m) => m.id).sort(), shipped.sort());
  assert.equal(index.models[0].id, 'fmnist-uvit13', 'the default model first');
  for (const m of index.models) {
    const manifest = JSON.parse(readFileSync(`public/models/${m.id}/manifest.json`, 'utf8'));
    assert.equal(m.name, manifest.name);
    assert.deepEqual(m.classes, manifest.classes);
    assert.ok(m.bytes > 0);
  }
});

test('the picker switches models; the link keeps the choice and the controls follow the model', async () => {
  await page.goto(`${served.url}?steps=3&class=7`);
  await waitLoaded(page);
  const picker = page.getByTestId('model-picker');
  const options = await picker.locator('option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(options.includes('fmnist-uvit13') && options.includes(TINY), options.join(', '));
  assert.equal(await picker.inputValue(), 'fmnist-uvit13');
  assert.equal(await page.getByTestId('class').count(), 1);

  await picker.selectOption(TINY);
  await page
    .waitForSelector(`[data-testid=model-info]:has-text("${TINY}")`, { timeout: 60_000 })
    .catch(() => {});
  await waitLoaded(page);
  assert.match(page.url(), new RegExp(`model=${TINY}`));
  // no classes: no class to pick and nothing to guide towards
  assert.equal(await page.getByTestId('class').count(), 0);
  assert.equal(await page.getByTestId('guidance').count(), 0);
  assert.equal(await page.locator('summary', { hasText: 'Guidance pass' }).count(), 0);

  // a reload of the link opens the same model
  await page.reload();
  await waitLoaded(page);
  assert.equal(await picker.inputValue(), TINY);
  assert.equal(errors.length, 0, errors.join('\n'));
});

test('another model picked while the first one’s deeper blocks download stops that load and opens it', async () => {
  const own = await launch(); // a fresh profile: nothing cached
  const { release } = await holdBack(own.context, /\/fmnist-uvit13\/block_12\.onnx$/);
  try {
    const p = await own.context.newPage();
    const seen = watchErrors(p);
    await p.goto(`${served.url}?steps=3`);
    await p.waitForSelector('[data-testid=backend-badge]', { timeout: 120_000 });
    assert.equal(await p.getAttribute('[data-testid=model-info]', 'data-complete'), 'false');
    await p.getByTestId('model-picker').selectOption('emoji');
    await p.waitForSelector('[data-testid=model-info]:has-text("emoji")', { timeout: 120_000 });
    await waitLoaded(p);
    assert.equal(await generateAndWait(p), 'done');
    assert.match(p.url(), /model=emoji/);
    // the first model's last block, let go now, changes nothing: its load was stopped
    release();
    assert.equal(await generateAndWait(p), 'done');
    assert.match(await p.textContent('[data-testid=model-info]'), /emoji/);
    assert.equal(await p.getAttribute('[data-testid=model-info]', 'data-complete'), 'true');
    assert.deepEqual(seen, []);
  } finally {
    release();
    await own.context.close();
  }
});

test('a colour model with no classes generates a colour image, and its PNG is scaled up crisply', async () => {
  assert.equal(await generateAndWait(page), 'done');
  const rgb = await page.evaluate(() => {
    const c = document.querySelector('[data-testid=image]');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return {
      width: c.width,
      coloured: Array.from({ length: d.length / 4 }, (_, i) => d[i * 4] !== d[i * 4 + 2]),
    };
  });
  assert.equal(rgb.width, 28);
  assert.ok(rgb.coloured.some(Boolean), 'some pixel differs between red and blue: the image is in colour');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download PNG' }).click(),
  ]);
  const png = decode(readFileSync(await download.path()));
  assert.equal(png.width, 28 * 10, 'each pixel drawn as a 10×10 block: at least 256 px a side');
  assert.equal(png.channels, 3);
  // nearest neighbour: the first 10×10 block is one colour
  const at = (x, y) => Array.from(png.data.subarray((y * png.width + x) * 3, (y * png.width + x) * 3 + 3));
  assert.deepEqual(at(9, 9), at(0, 0));
  assert.equal(errors.length, 0, errors.join('\n'));
});

test('switching back restores the class list, with a class this model has', async () => {
  await page.getByTestId('model-picker').selectOption('fmnist-uvit13');
  await page.waitForSelector('[data-testid=model-info]:has-text("Fashion-MNIST")', { timeout: 60_000 });
  assert.equal(await page.getByTestId('class').count(), 1);
  assert.match(page.url(), /model=fmnist-uvit13/);
  assert.equal(await generateAndWait(page), 'done');
});

test('the shipped emoji model: opened by its id in the link, its categories to pick, a colour image and the images’ attribution', async () => {
  await page.goto(`${served.url}?model=emoji&steps=3&class=6`);
  await waitLoaded(page);
  assert.equal(await page.getByTestId('model-picker').inputValue(), 'emoji');
  const classes = await page
    .getByTestId('class')
    .locator('option')
    .evaluateAll((os) => os.map((o) => o.textContent));
  const { classes: want } = JSON.parse(readFileSync('public/models/emoji/manifest.json', 'utf8'));
  assert.deepEqual(classes, want);
  assert.equal(await page.getByTestId('class').inputValue(), '6');
  assert.match(
    await page.getByTestId('attribution').innerText(),
    /Noto Color Emoji.*Apache.*Twemoji.*CC-BY 4\.0/,
  );
  assert.equal(await generateAndWait(page), 'done');
  const image = await page.evaluate(() => {
    const c = document.querySelector('[data-testid=image]');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let coloured = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 2]) > 16) coloured++;
    return { width: c.width, coloured };
  });
  assert.equal(image.width, 32);
  assert.ok(image.coloured > 10, `${image.coloured} pixels with red and blue apart: a colour image`);
  assert.equal(errors.length, 0, errors.join('\n'));
});
