/** tools/package/precompress.mjs: the copies it writes, and the ones an earlier build left. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { precompressDir } from '../../tools/package/precompress.mjs';

describe('precompressDir', () => {
  it('writes brotli and gzip copies, and removes a last build’s copies beside a file too small for one now', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'precompress-'));
    const app = 'const x = 1;\n'.repeat(400);
    writeFileSync(path.join(dir, 'app.js'), app);
    // index.html fell under the size that gets a copy; its old copy named the old build's scripts
    writeFileSync(path.join(dir, 'index.html'), 'small now');
    writeFileSync(path.join(dir, 'index.html.br'), 'the last build');
    writeFileSync(path.join(dir, 'index.html.gz'), 'the last build');
    // not this tool's: a data file shipped with its own gzip copy, and the models' folder, skipped
    writeFileSync(path.join(dir, 'table.bin'), 'data');
    writeFileSync(path.join(dir, 'table.bin.gz'), 'its own copy');
    mkdirSync(path.join(dir, 'models'));
    writeFileSync(path.join(dir, 'models', 'manifest.json'), '{}');
    writeFileSync(path.join(dir, 'models', 'manifest.json.gz'), 'kept');

    await precompressDir(dir, { skip: ['models'] });

    expect(brotliDecompressSync(readFileSync(path.join(dir, 'app.js.br'))).toString()).toBe(app);
    expect(gunzipSync(readFileSync(path.join(dir, 'app.js.gz'))).toString()).toBe(app);
    expect(existsSync(path.join(dir, 'index.html.br'))).toBe(false);
    expect(existsSync(path.join(dir, 'index.html.gz'))).toBe(false);
    expect(readFileSync(path.join(dir, 'table.bin.gz'), 'utf8')).toBe('its own copy');
    expect(readFileSync(path.join(dir, 'models', 'manifest.json.gz'), 'utf8')).toBe('kept');
  });
});
