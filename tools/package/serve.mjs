/**
 * The built site served as a static host should serve it: cross-origin isolated (COOP/COEP, so
 * onnxruntime-web may use threads), compressed, and cacheable. `npm start` (vite preview, through
 * vite.config.ts's plugin) serves the site with it, and `adadiff bench --first-image` times the page
 * through it (serveSite); docs/page.md says how other hosts do the same.
 *
 * Compression: a file's precompressed copy beside it (`x.wasm.br`, `x.wasm.gz`, which the site
 * build writes: precompress.mjs) when the browser accepts that encoding, brotli first; otherwise the
 * file gzip-compressed on the fly (kept in memory), as a host without such copies does.
 * Caching: files whose names carry a content hash (Vite's assets/) for a year; everything else is
 * revalidated (ETag) at every load.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.onnx': 'application/octet-stream',
};

export const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** Already compressed: sent as they are. */
const STORED = new Set(['.png', '.br', '.gz']);
/** A Vite asset's name: name-<hash of 8 characters>.ext */
const HASHED = /-[A-Za-z0-9_-]{8}\.[a-z0-9]+$/;
const ENCODINGS = [
  ['br', '.br'],
  ['gzip', '.gz'],
];

/**
 * A connect-style middleware serving `dir` at `prefix` ('/' serves index.html); a path it has no
 * file for goes to `next` (or is a 404 without one). `precompressed: false` ignores the copies
 * beside the files (everything gzip-compressed on the fly); `compress: false` compresses nothing on
 * the fly (a benchmark that times the browser, not this server's gzip of a large model).
 */
export function siteFiles(dir, { prefix = '/', precompressed = true, compress = true } = {}) {
  const root = path.resolve(dir);
  const zipped = new Map();
  return (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const pathname = url.pathname.endsWith('/') ? `${url.pathname}index.html` : url.pathname;
    const file = pathname.startsWith(prefix)
      ? path.join(root, decodeURIComponent(pathname.slice(prefix.length)))
      : undefined;
    const stat = file?.startsWith(root) ? statSync(file, { throwIfNoEntry: false }) : undefined;
    if (!stat?.isFile() || (req.method !== 'GET' && req.method !== 'HEAD')) {
      if (next) next();
      else res.writeHead(404, { 'Content-Type': 'text/plain', ...ISOLATION }).end('not found');
      return;
    }
    const ext = path.extname(file);
    const accepts = String(req.headers['accept-encoding'] ?? '');
    let body;
    let encoding;
    for (const [enc, suffix] of ENCODINGS) {
      if (!precompressed || !new RegExp(`\\b${enc}\\b`).test(accepts) || !existsSync(file + suffix)) continue;
      body = readFileSync(file + suffix);
      encoding = enc;
      break;
    }
    if (!body && compress && /\bgzip\b/.test(accepts) && !STORED.has(ext)) {
      const key = `${file} ${stat.mtimeMs}`;
      body = zipped.get(key);
      if (!body) zipped.set(key, (body = gzipSync(readFileSync(file), { level: 6 })));
      encoding = 'gzip';
    }
    body ??= readFileSync(file);
    const etag = `"${stat.size.toString(36)}-${Math.round(stat.mtimeMs).toString(36)}-${encoding ?? 'identity'}"`;
    const headers = {
      'Content-Type': TYPES[ext] ?? 'application/octet-stream',
      'Cache-Control': HASHED.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache',
      ETag: etag,
      Vary: 'Accept-Encoding',
      ...ISOLATION,
      ...(encoding ? { 'Content-Encoding': encoding } : {}),
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/**
 * An HTTP server over several folders: `roots` as [URL prefix, directory], the first prefix that
 * matches serves. Resolves with its URL (no trailing slash) and close().
 */
export function serveSite(
  roots,
  { port = 0, host = '127.0.0.1', precompressed = true, compress = true } = {},
) {
  const handlers = roots.map(([prefix, dir]) => ({
    prefix,
    serve: siteFiles(dir, { prefix, precompressed, compress }),
  }));
  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const h = handlers.find((x) => pathname.startsWith(x.prefix));
    if (h) h.serve(req, res);
    else res.writeHead(404, { 'Content-Type': 'text/plain', ...ISOLATION }).end('not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address();
      resolve({
        url: `http://${host}:${bound}`,
        close: () => new Promise((r) => server.close(() => r(undefined))),
      });
    });
  });
}
