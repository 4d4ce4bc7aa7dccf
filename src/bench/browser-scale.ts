/**
 * `adadiff bench --scale --browser`: the scale benchmark in Debian's Chromium, in the bench page's
 * worker on one wasm thread or on WebGPU. Serves the built site (dist/) with the model and the MatMul probe
 * beside it, and reads the memory of the renderer process, where the worker runs, from Linux's
 * /proc: a page cannot see its own process's memory.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { serveSite } from '../../tools/package/serve.mjs';
import { benchPageReport, browserBenchReady } from './browser';
import { chromiumArgs } from './chromium.mjs';
import type { Backend } from '../runtime';
import type { ProcessMemory, ScaleReport } from './scale';

/** Chromium's renderer processes under `browserPid`, each with its resident and peak memory (kB). */
async function renderers(browserPid: number): Promise<{ pid: number; rssKb: number; peakKb: number }[]> {
  const parent = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // "pid (comm) state ppid …": comm may hold spaces, so read after its closing bracket
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (stat) parent.set(Number(entry), ppid);
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p))
      if (p === browserPid) return true;
    return false;
  };
  const found = [];
  for (const pid of parent.keys()) {
    if (!under(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('--type=renderer')) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    found.push({ pid, rssKb: kb('VmRSS'), peakKb: kb('VmHWM') });
  }
  return found.filter((r) => Number.isFinite(r.rssKb) && Number.isFinite(r.peakKb));
}

/**
 * The memory of the renderer that runs the bench page, pinned at the first reading: of those under
 * the browser, the one then holding the most (the page, its worker and its scripts; another is a
 * spare renderer kept ready with a blank page), so that every reading is of the same process. Null
 * off Linux, or once that process is gone.
 */
function pageRendererMemory(browserPid: number | undefined): () => Promise<ProcessMemory | null> {
  let pinned: number | undefined;
  return async () => {
    if (browserPid === undefined || !existsSync('/proc/self/status')) return null;
    const all = await renderers(browserPid);
    pinned ??= all.reduce<(typeof all)[number] | undefined>(
      (a, b) => (!a || b.rssKb > a.rssKb ? b : a),
      undefined,
    )?.pid;
    const r = all.find((x) => x.pid === pinned);
    return r ? { rssMb: Math.round(r.rssKb / 1024), peakMb: Math.round(r.peakKb / 1024) } : null;
  };
}

export async function runBrowserScale(o: {
  modelDir: string;
  backend: Backend;
  reps: number;
  matmul?: string | undefined;
  onProgress?: ((line: string) => void) | undefined;
}): Promise<ScaleReport> {
  const executablePath = browserBenchReady();
  const roots: [string, string][] = [['/scale-model/', path.resolve(o.modelDir)]];
  if (o.matmul) roots.push(['/scale-probe/', path.dirname(path.resolve(o.matmul))]);
  // uncompressed: gzipping 177 MB of weights on the fly would time this server, not the browser
  const server = await serveSite([...roots, ['/', path.resolve('dist')]], { compress: false });
  try {
    const { chromium } = await import('playwright-core');
    // launched as a server for its process id: the renderers to read are that process's children
    const launched = await chromium.launchServer({
      executablePath,
      headless: true,
      args: chromiumArgs(o.backend === 'webgpu'),
    });
    try {
      const browser = await chromium.connect(launched.wsEndpoint());
      const page = await browser.newPage();
      await page.exposeFunction('adadiffProcessMemory', pageRendererMemory(launched.process().pid));
      const query = new URLSearchParams({
        mode: 'scale',
        model: '/scale-model/',
        backend: o.backend,
        reps: String(o.reps),
      });
      if (o.matmul) query.set('matmul', `/scale-probe/${path.basename(o.matmul)}`);
      return await benchPageReport<ScaleReport>(page, `${server.url}/bench.html?${query}`, o.onProgress);
    } finally {
      await launched.close(); // the browser and every page with it
    }
  } finally {
    await server.close();
  }
}
