/** tools/package/serve.mjs: what it compresses, and what it sends as it is. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
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
});
