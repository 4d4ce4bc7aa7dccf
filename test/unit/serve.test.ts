/** tools/package/serve.mjs: what it compresses, and what it sends as it is. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { precompressDir } from '../../tools/package/precompress.mjs';
import { serveSite } from '../../tools/package/serve.mjs';

function get(url: string): Promise<{ encoding: string | undefined; body: Buffer; isolated: boolean }> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'Accept-Encoding': 'gzip, br' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          encoding: res.headers['content-encoding'],
          body: Buffer.concat(chunks),
          isolated: res.headers['cross-origin-embedder-policy'] === 'require-corp',
        }),
      );
    })
      .on('error', reject)
      .end();
  });
}

describe('serveSite', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'serve-'));
  const weights = Buffer.alloc(4096, 7);
  writeFileSync(path.join(dir, 'block.onnx'), weights);
  writeFileSync(path.join(dir, 'runtime.wasm'), 'plain');
  writeFileSync(path.join(dir, 'runtime.wasm.br'), 'brotli copy');

  it('gzips a file without a precompressed copy on the fly, and serves the brotli copy where there is one', async () => {
    const site = await serveSite([['/', dir]]);
    try {
      const onnx = await get(`${site.url}/block.onnx`);
      expect(onnx.encoding).toBe('gzip');
      expect(gunzipSync(onnx.body).equals(weights)).toBe(true);
      expect(onnx.isolated).toBe(true);
      const wasm = await get(`${site.url}/runtime.wasm`);
      expect(wasm.encoding).toBe('br');
      expect(wasm.body.toString()).toBe('brotli copy');
    } finally {
      await site.close();
    }
  });

  it('with compress: false sends the file as it is, and still the precompressed copies', async () => {
    const site = await serveSite([['/', dir]], { compress: false });
    try {
      const onnx = await get(`${site.url}/block.onnx`);
      expect(onnx.encoding).toBeUndefined();
      expect(onnx.body.equals(weights)).toBe(true);
      expect((await get(`${site.url}/runtime.wasm`)).encoding).toBe('br');
    } finally {
      await site.close();
    }
  });

  it('passes over a precompressed copy older than its file: another build’s, left in a folder not emptied', async () => {
    const reused = mkdtempSync(path.join(tmpdir(), 'serve-stale-'));
    writeFileSync(path.join(reused, 'index.html'), 'this build');
    writeFileSync(path.join(reused, 'index.html.br'), 'the last build');
    const hourAgo = new Date(Date.now() - 3600e3);
    utimesSync(path.join(reused, 'index.html.br'), hourAgo, hourAgo);
    const site = await serveSite([['/', reused]], { compress: false });
    try {
      const page = await get(`${site.url}/index.html`);
      expect(page.encoding).toBeUndefined();
      expect(page.body.toString()).toBe('this build');
    } finally {
      await site.close();
    }
  });
});

describe('precompressDir', () => {
  it('removes the copies a build left beside a file now too small to get one, and keeps the skipped folders’', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'precompress-'));
    writeFileSync(path.join(dir, 'index.html'), 'small now');
    writeFileSync(path.join(dir, 'index.html.br'), 'the last build');
    writeFileSync(path.join(dir, 'index.html.gz'), 'the last build');
    const big = 'x'.repeat(4096);
    writeFileSync(path.join(dir, 'app.js'), big);
    const models = path.join(dir, 'models');
    mkdirSync(models);
    writeFileSync(path.join(models, 'manifest.json'), '{}');
    writeFileSync(path.join(models, 'manifest.json.gz'), 'kept');
    await precompressDir(dir, { skip: ['models'] });
    expect(existsSync(path.join(dir, 'index.html.br'))).toBe(false);
    expect(existsSync(path.join(dir, 'index.html.gz'))).toBe(false);
    expect(gunzipSync(readFileSync(path.join(dir, 'app.js.gz'))).toString()).toBe(big);
    expect(existsSync(path.join(models, 'manifest.json.gz'))).toBe(true);
  });
});
