/** A tiny static file server for the widget tests: any root, any extra headers, counts requests. */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.css': 'text/css',
};

/** routes: [{ prefix, dir, headers, replace }] — the first whose prefix matches serves the file;
 * `replace` substitutes placeholders in HTML files (e.g. the widget's origin). */
export async function serveStatic(port, routes) {
  const requests = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://localhost:${port}`);
    requests.push(url.pathname);
    const route = routes.find((r) => url.pathname.startsWith(r.prefix));
    const file = route && path.join(route.dir, decodeURIComponent(url.pathname.slice(route.prefix.length)));
    const ok = Boolean(
      file && file.startsWith(route.dir) && statSync(file, { throwIfNoEntry: false })?.isFile(),
    );
    const headers = { ...(route?.headers ?? {}) };
    if (!ok) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    });
    if (route.replace && file.endsWith('.html')) {
      let html = readFileSync(file, 'utf8');
      for (const [from, to] of Object.entries(route.replace)) html = html.replaceAll(from, to);
      res.end(html);
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://localhost:${port}`, requests, close: () => new Promise((r) => server.close(r)) };
}
