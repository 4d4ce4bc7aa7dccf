import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FORMAT_VERSION,
  IntegrityError,
  lastTimestep,
  loadModel,
  ManifestError,
  parseManifest,
  resolveParams,
  ParameterError,
  segmentFiles,
  type ByteCache,
  type ModelSource,
} from '../../src/runtime';
import { MODEL_DIR } from './fixtures';

const original = JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8')) as Record<
  string,
  unknown
>;
const clone = () => structuredClone(original) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function manifestError(json: unknown): ManifestError {
  try {
    parseManifest(json, 'm/manifest.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return e as ManifestError;
  }
  throw new Error('manifest was accepted');
}

describe('manifest validation names the file and the field', () => {
  it('accepts the shipped manifest', () => {
    expect(parseManifest(original).segments.blocks.length).toBeGreaterThanOrEqual(13);
  });

  it('unknown format version', () => {
    const m = clone();
    m.formatVersion = FORMAT_VERSION + 1;
    const e = manifestError(m);
    expect(e.field).toBe('formatVersion');
    expect(e.message).toContain('m/manifest.json');
    expect(e.message).toMatch(new RegExp(`version ${FORMAT_VERSION}`));
  });

  it('missing field', () => {
    const m = clone();
    delete m.schedule.numTimesteps;
    const e = manifestError(m);
    expect(e.field).toBe('schedule.numTimesteps');
    expect(e.message).toMatch(/is missing/);
  });

  it('bad sha256 format in a block', () => {
    const m = clone();
    m.segments.blocks[3].sha256 = 'xyz';
    expect(manifestError(m).field).toBe('segments.blocks[3].sha256');
  });

  it('a default min depth deeper than the model', () => {
    const m = clone();
    m.defaults.minDepth = m.architecture.numBlocks + 1;
    expect(manifestError(m).field).toBe('defaults.minDepth');
  });

  it('shapes that do not chain', () => {
    const m = clone();
    m.segments.blocks[5].inputs[0].dims = ['batch', 7, 7];
    expect(manifestError(m).field).toBe('segments.blocks[5].inputs');
  });

  it('block count differing from the architecture, and bad skip wiring', () => {
    const m = clone();
    m.segments.blocks.pop();
    expect(manifestError(m).field).toBe('segments.blocks');
    const w = clone();
    const last = w.segments.blocks.length - 1;
    w.segments.blocks[last].skipFrom = last - 1;
    expect(manifestError(w).field).toBe(`segments.blocks[${last}].skipFrom`);
  });

  it('a path that escapes the model directory', () => {
    const m = clone();
    m.segments.head.path = '../../etc/passwd';
    expect(manifestError(m).field).toBe('segments.head.path');
  });

  it('a fused prefix must hand out the skips later blocks take, and fit the model', () => {
    const m = clone();
    const tok = ['batch', m.architecture.tokens, m.architecture.embedDim];
    const io = (name: string, dims: (string | number)[] = tok) => ({ name, type: 'float32', dims });
    m.defaults.minDepth = 5;
    m.segments.prefix = {
      ...m.segments.embed,
      path: 'prefix.onnx',
      depth: 5,
      outputs: [io('hidden'), io('temb', ['batch', tok[2]!]), io('uncertainty', ['batch', 5])].concat(
        [0, 1, 2, 3].map((j) => io(`hidden_0${j}`)),
      ),
    };
    expect(parseManifest(m).segments.prefix?.depth).toBe(5);
    const lacking = structuredClone(m);
    lacking.segments.prefix.outputs.splice(4, 1); // hidden_01: block 11's skip
    const e = manifestError(lacking);
    expect(e.field).toBe('segments.prefix.outputs');
    expect(e.message).toContain('"hidden_01"');
    const extra = structuredClone(m);
    extra.segments.prefix.outputs.push(io('hidden_04')); // block 4's tokens are "hidden" already
    expect(manifestError(extra).message).toContain('"hidden_04", which no later block takes');
    const deep = structuredClone(m);
    deep.segments.prefix.depth = m.architecture.numBlocks + 1;
    expect(manifestError(deep).field).toBe('segments.prefix.depth');
    const one = structuredClone(m);
    one.segments.prefix.depth = 1;
    expect(manifestError(one).field).toBe('segments.prefix.depth');
    const shallow = structuredClone(m);
    shallow.defaults.minDepth = 4; // the defaults could exit inside a prefix of 5
    expect(manifestError(shallow).message).toMatch(/deeper than defaults.minDepth \(4\)/);
  });

  it('not an object', () => {
    expect(manifestError([]).field).toBe('(root)');
  });
});

/** An in-memory model directory whose files we can damage. */
function memorySource(files: Record<string, Uint8Array>): ModelSource & { reads: string[] } {
  const reads: string[] = [];
  return {
    location: 'mem',
    reads,
    async read(p) {
      reads.push(p);
      const f = files[p];
      if (!f) throw new Error(`missing ${p}`);
      return f;
    },
  };
}

function modelFiles(): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const name of ['manifest.json', 'embed.onnx', 'head.onnx']) {
    files[name] = new Uint8Array(readFileSync(path.join(MODEL_DIR, name)));
  }
  const m = parseManifest(original);
  for (const b of segmentFiles(m)) files[b.path] = new Uint8Array(readFileSync(path.join(MODEL_DIR, b.path)));
  return files;
}

describe('loading checks size and sha256 of every file', () => {
  it('a truncated segment fails on bytes, naming the file', async () => {
    const files = modelFiles();
    files['block_04.onnx'] = files['block_04.onnx']!.slice(0, 100);
    const e = await loadModel(memorySource(files)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IntegrityError);
    expect((e as IntegrityError).file).toBe('block_04.onnx');
    expect((e as IntegrityError).field).toBe('bytes');
  });

  it('a same-size corrupted segment fails on sha256', async () => {
    const files = modelFiles();
    const bad = files['head.onnx']!.slice();
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    files['head.onnx'] = bad;
    const e = await loadModel(memorySource(files)).catch((x: unknown) => x);
    expect((e as IntegrityError).field).toBe('sha256');
  });

  it('a corrupted cache entry is dropped and fetched again; a second load reads only the manifest', async () => {
    const files = modelFiles();
    const store = new Map<string, Uint8Array>();
    const cache: ByteCache = {
      get: async (k) => store.get(k),
      put: async (k, v) => void store.set(k, v),
      delete: async (k) => void store.delete(k),
    };
    const first = memorySource(files);
    const a = await loadModel(first, { cache });
    expect(a.downloadedBytes).toBeGreaterThan(0);
    const key = [...store.keys()].find((k) => k.includes('block_02.onnx'))!;
    store.set(key, new Uint8Array(store.get(key)!.length)); // zeroed: wrong sha256
    const second = memorySource(files);
    const b = await loadModel(second, { cache });
    expect(second.reads).toEqual(['manifest.json', 'block_02.onnx']);
    expect(b.downloadedBytes).toBe(files['block_02.onnx']!.length);
    const third = memorySource(files);
    expect((await loadModel(third, { cache })).downloadedBytes).toBe(0);
    expect(third.reads).toEqual(['manifest.json']);
  });
});

describe('generate parameters are validated, never clamped', () => {
  const m = parseManifest(original);
  const cases: [string, Record<string, unknown>][] = [
    ['threshold', { threshold: NaN }],
    ['threshold', { threshold: 1.5 }],
    ['threshold', { threshold: -0.1 }],
    ['steps', { steps: 0 }],
    ['steps', { steps: 1e9 }],
    ['steps', { steps: Infinity }],
    ['classIndex', { classIndex: 10 }],
    ['seed', { seed: 1.5 }],
    ['seed', { seed: -1 }],
    ['sampler', { sampler: 'euler' }],
    ['guidance', { guidance: -1 }],
  ];
  for (const [name, given] of cases) {
    it(`${name} = ${String(Object.values(given)[0])}`, () => {
      let err: unknown;
      try {
        resolveParams(m, given);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ParameterError);
      expect((err as ParameterError).parameter).toBe(name);
    });
  }

  it('unknown parameter', () => {
    expect(() => resolveParams(m, { colour: 'red' } as never)).toThrow(/colour is not a generate parameter/);
  });

  it('defaults come from the manifest', () => {
    const p = resolveParams(m, {});
    expect(p.threshold).toBe(m.defaults.threshold);
    expect(p.steps).toBe(m.defaults.steps);
    expect(p.guidance).toBe(m.defaults.guidance);
    expect(p.minDepth).toBe(m.defaults.minDepth ?? 1);
    expect(p.batching).toBe(m.defaults.batching ?? 'separate');
    expect(p.unconditionalEvery).toBe(m.defaults.unconditionalEvery ?? 1);
    expect(p.guidanceMaxT).toBe(m.defaults.guidanceMaxT ?? lastTimestep(m.schedule));
    const deeper = parseManifest({
      ...clone(),
      defaults: { ...m.defaults, minDepth: 7, batching: 'any', unconditionalEvery: 3, guidanceMaxT: 500 },
    });
    expect(resolveParams(deeper, {}).guidanceMaxT).toBe(500);
    const everyStep = { ...m.defaults, guidanceMaxT: undefined };
    expect(resolveParams(parseManifest({ ...clone(), defaults: everyStep }), {}).guidanceMaxT).toBe(
      lastTimestep(m.schedule),
    );
    expect(() => parseManifest({ ...clone(), defaults: { ...m.defaults, guidanceMaxT: -1 } })).toThrow(
      /guidanceMaxT/,
    );
    expect(() => resolveParams(m, { guidanceMaxT: lastTimestep(m.schedule) + 1 })).toThrow(/guidanceMaxT/);
    expect(resolveParams(deeper, {}).minDepth).toBe(7);
    expect(resolveParams(deeper, {}).batching).toBe('any');
    expect(resolveParams(deeper, {}).unconditionalEvery).toBe(3);
    expect(() => parseManifest({ ...clone(), defaults: { ...m.defaults, unconditionalEvery: 0 } })).toThrow(
      /unconditionalEvery/,
    );
    expect(resolveParams(deeper, { minDepth: 1 }).minDepth).toBe(1);
  });
});
