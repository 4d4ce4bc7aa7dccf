/**
 * How this project starts Debian's Chromium, shared by `adadiff bench --browser` and the browser
 * tests: no network of its own (no updates, sync or QUIC), and WebGPU only when asked for,
 * since SwiftShader proves the path but is far slower than wasm.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumArgs(webgpu = false) {
  return [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    webgpu ? '--enable-unsafe-webgpu' : '--disable-gpu',
  ];
}
