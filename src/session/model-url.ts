/**
 * Which model URLs a session loads. A model named in a link or an attribute runs code paths on the
 * visitor's machine: http(s) only, and a model on another origin than the trusted ones only with
 * consent — the visitor's (the page asks) or the embedding site's (the widget's attribute).
 */
export class ModelUrlError extends Error {
  override name = 'ModelUrlError';
}

/** The model URL resolved against `base`, ending in '/'; throws ModelUrlError saying what is wrong. */
export function resolveModelUrl(given: string, base: string): URL {
  let url: URL;
  try {
    url = new URL(given, base);
  } catch {
    throw new ModelUrlError(`"${given}" is not a valid model URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ModelUrlError(`The model URL must be http(s), not ${url.protocol}`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** Whether loading from this URL needs consent: it lies on none of the trusted origins. */
export function needsConsent(url: URL, trustedOrigins: readonly (string | undefined)[]): boolean {
  return !trustedOrigins.includes(url.origin);
}
