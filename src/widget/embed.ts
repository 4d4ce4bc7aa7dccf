/**
 * embed.html: the widget alone in a page, for sites that prefer an iframe. Query parameters set
 * its attributes; a small postMessage API drives it. Messages are accepted only from the origins
 * listed in `origin=` (comma-separated), and replies go only to the embedding parent's origin.
 *
 *   in:  { type: 'adadiff:generate' } | { type: 'adadiff:cancel' } | { type: 'adadiff:set', attributes: {...} }
 *   out: { type: 'adadiff:ready' | 'adadiff:step' | 'adadiff:done' | 'adadiff:error' | 'adadiff:resize', detail }
 *
 * 'adadiff:resize' ({ height } in CSS pixels) goes out whenever the widget's height changes, so the
 * host can size the iframe to it and nothing (the chart) is cut off.
 */
import { ATTRIBUTES, defineAdaDiffGenerator, type AdaDiffGenerator } from './element';

defineAdaDiffGenerator();
const query = new URLSearchParams(location.search);
const el = document.createElement('adadiff-generator') as AdaDiffGenerator;
for (const name of ATTRIBUTES) {
  const v = query.get(name);
  if (v !== null) el.setAttribute(name, v);
}

const trusted = new Set(
  (query.get('origin') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => /^https?:\/\/[^/]+$/.test(o)),
);

function post(type: string, detail: unknown): void {
  if (window.parent === window) return;
  for (const origin of trusted) window.parent.postMessage({ type, detail }, origin);
}

el.addEventListener('load', () => post('adadiff:ready', null));

let lastHeight = 0;
new ResizeObserver(() => {
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  if (height === lastHeight) return;
  lastHeight = height;
  post('adadiff:resize', { height });
}).observe(document.body);
el.addEventListener('step', (e) => {
  const { step, steps, t, totals, passes, scheduleSkipped } = (e as CustomEvent).detail;
  post('adadiff:step', { step, steps, t, totals, passes, scheduleSkipped });
});
el.addEventListener('done', (e) => post('adadiff:done', { totals: (e as CustomEvent).detail.totals }));
el.addEventListener('error', (e) => post('adadiff:error', (e as unknown as CustomEvent).detail));
// appended once it is listened to: a model or backend it cannot use fails in the next task
document.body.append(el);

window.addEventListener('message', (event: MessageEvent) => {
  if (!trusted.has(event.origin) || event.source !== window.parent) return; // untrusted: ignored
  const msg = event.data as { type?: unknown; attributes?: unknown };
  if (msg?.type === 'adadiff:generate') void el.generate();
  else if (msg?.type === 'adadiff:cancel') el.cancel();
  else if (msg?.type === 'adadiff:set' && msg.attributes && typeof msg.attributes === 'object') {
    for (const [k, v] of Object.entries(msg.attributes)) {
      if ((ATTRIBUTES as readonly string[]).includes(k) && k !== 'model') el.setAttribute(k, String(v));
    }
  }
});
