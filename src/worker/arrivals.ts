/**
 * A model's files as they come in, for sessions created while the rest still download
 * (SegmentRunner.create's `file`), and the marks that time each session (marks.ts).
 */
import type { InferenceSession } from 'onnxruntime-web';
import type { FileSpec, Ort } from '../runtime';
import { mark } from './marks';

export class ArrivingFiles {
  /** The files in so far, by path: at the end of the load, all of them. */
  readonly files = new Map<string, Uint8Array>();
  private readonly waiting = new Map<
    string,
    { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void }
  >();
  private failure: { error: unknown } | null = null;

  /** `expected`: the files the load reads; any other is left out (its promise gives undefined). */
  constructor(private readonly expected: readonly FileSpec[]) {}

  /** A file is in and checked. */
  add(path: string, bytes: Uint8Array): void {
    this.files.set(path, bytes);
    this.waiting.get(path)?.resolve(bytes);
    this.waiting.delete(path);
  }

  /** The load failed: every file still awaited rejects with its error. */
  fail(error: unknown): void {
    this.failure ??= { error };
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
  }

  /**
   * The sessions exist: the bytes go. Whatever still names this object (the session marks' lookup,
   * held by the executor for the model's lifetime) would otherwise keep a copy of every weight.
   */
  release(): void {
    this.files.clear();
  }

  /** A file's bytes once it is in; undefined, at once, for a file the load does not read. */
  file(path: string): Promise<Uint8Array> | undefined {
    const bytes = this.files.get(path);
    if (bytes) return Promise.resolve(bytes);
    if (!this.expected.some((f) => f.path === path)) return undefined;
    if (this.failure) return Promise.reject(this.failure.error);
    return new Promise((resolve, reject) => this.waiting.set(path, { resolve, reject }));
  }
}

/**
 * `ort`, marking when each session of a model file starts and ends being created (`creating <file>`,
 * `session <file>`). The bytes ONNX Runtime is handed are the file's own, which names the marks.
 */
export function markingSessions(ort: Ort, files: Map<string, Uint8Array>): Ort {
  const nameOf = (bytes: unknown) => [...files].find(([, b]) => b === bytes)?.[0];
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (
    ...args: unknown[]
  ) => Promise<InferenceSession>;
  const InferenceSession = {
    ...ort.InferenceSession,
    create: async (...args: unknown[]) => {
      const file = nameOf(args[0]);
      if (file !== undefined) mark(`creating ${file}`);
      const session = await create(...args);
      if (file !== undefined) mark(`session ${file}`);
      return session;
    },
  };
  return { ...ort, InferenceSession } as Ort;
}
