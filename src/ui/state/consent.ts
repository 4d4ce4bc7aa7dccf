/**
 * Consent to load a model from another site. A link alone cannot grant it (anyone can write a
 * link): the page asks the visitor, naming the origin, and a click answers. The answer is kept per
 * origin in this browser, so the question comes once.
 */
import { create } from 'zustand';

const STORE_KEY = 'adadiff:model-origins';

type Answer = 'allow' | 'deny';

interface ConsentState {
  /** The origin being asked about, while the page waits for the visitor's click. */
  asking: string | null;
  answer: (a: Answer) => void;
}

export const useConsent = create<ConsentState>(() => ({ asking: null, answer: () => undefined }));

function remembered(): Record<string, Answer> {
  try {
    return JSON.parse(globalThis.localStorage?.getItem(STORE_KEY) ?? '{}') as Record<string, Answer>;
  } catch {
    return {};
  }
}

function remember(origin: string, a: Answer | null): void {
  const all = remembered();
  if (a) all[origin] = a;
  else delete all[origin];
  try {
    globalThis.localStorage?.setItem(STORE_KEY, JSON.stringify(all));
  } catch {
    // storage refused (private mode): the visitor is asked again next time
  }
}

const refusal = (origin: string) =>
  `You chose not to load a model from ${origin}. Press Retry to be asked again.`;

/** The session's consent hook: a remembered answer, or the visitor's click. */
export async function askVisitor(origin: string): Promise<true | string> {
  const known = remembered()[origin];
  if (known) return known === 'allow' ? true : refusal(origin);
  const a = await new Promise<Answer>((resolve) => useConsent.setState({ asking: origin, answer: resolve }));
  useConsent.setState({ asking: null, answer: () => undefined });
  remember(origin, a);
  return a === 'allow' ? true : refusal(origin);
}

/** Forgets a refusal of the model URL's origin, so Retry asks again. */
export function forgetRefusal(url: string, base: string): void {
  let origin: string;
  try {
    origin = new URL(url, base).origin;
  } catch {
    return; // not a URL: nothing was asked about it
  }
  if (remembered()[origin] === 'deny') remember(origin, null);
}
