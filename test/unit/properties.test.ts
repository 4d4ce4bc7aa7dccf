/**
 * Property-based: any value of any generate parameter or CLI flag is either accepted as given or
 * rejected with a typed error naming it — never a crash, a hang, or a silent clamp.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { ParameterError, parseManifest, resolveParams, type GenerateParams } from '../../src/runtime';
import { MODEL_DIR } from './fixtures';

const manifest = parseManifest(JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8')));

const anyNumber = fc.oneof(
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, -1, 0.5, 1, 1.5, 2 ** 32, 1e9, -1e-9),
  fc.integer({ min: -1e6, max: 1e6 }),
);
const anyValue = fc.oneof(anyNumber, fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined));
const NUMERIC: (keyof GenerateParams)[] = [
  'classIndex',
  'seed',
  'steps',
  'eta',
  'guidance',
  'threshold',
  'minDepth',
  'staticDepth',
  'unconditionalEvery',
  'guidanceMaxT',
];

describe('resolveParams over arbitrary values', () => {
  it('accepts a value unchanged or throws ParameterError naming the parameter', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NUMERIC, 'sampler', 'batching', 'mode', 'preview'),
        anyValue,
        (key, value) => {
          try {
            const p = resolveParams(manifest, { [key]: value } as Partial<GenerateParams>);
            // accepted: exactly what was asked (undefined means "use the default")
            if (value !== undefined) expect(p[key]).toBe(value);
          } catch (e) {
            expect(e).toBeInstanceOf(ParameterError);
            expect((e as ParameterError).parameter).toBe(key);
          }
        },
      ),
      { numRuns: 600 },
    );
  });

  it('θ outside [0, 1] and NaN are always rejected', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ min: 1, minExcluded: true }),
          fc.double({ max: -Number.MIN_VALUE, noNaN: true }) /* -0 is 0: a valid θ */,
          fc.constant(NaN),
        ),
        (t) => {
          expect(() => resolveParams(manifest, { threshold: t })).toThrow(ParameterError);
        },
      ),
    );
  });
});

describe('CLI flags over arbitrary strings', () => {
  const flags = [
    '--threshold',
    '--steps',
    '--seed',
    '--class',
    '--count',
    '--guidance',
    '--eta',
    '--sampler',
    '--min-depth',
    '--depth',
    '--batching',
    '--uncond-every',
    '--guidance-max-t',
  ];
  it('a bad value exits 2 with a usage message; nothing else runs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...flags),
        fc.oneof(
          fc.constantFrom(
            'NaN',
            'Infinity',
            '-1',
            '1e99',
            '',
            ' ',
            '0x10',
            '3abc',
            '-0.5',
            '2',
            '1.5',
            'null',
          ),
          fc.string(),
        ),
        async (flag, value) => {
          let stderr = '';
          // --steps 0 is invalid and costs nothing; valid values reach the model: keep those runs tiny
          const code = await main(
            ['generate', '--model', MODEL_DIR, '--steps', '1', '--count', '1', '--quiet', flag, value],
            {
              stdout: () => undefined,
              stderr: (s) => void (stderr += s),
            },
          );
          expect([0, 2]).toContain(code);
          if (code === 2) expect(stderr).toMatch(/usage: adadiff/);
        },
      ),
      { numRuns: 60 },
    );
  });
});
