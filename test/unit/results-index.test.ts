import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkIndex, INDEX, renderIndex } from '../../tools/docs/results-index.mjs';

describe('docs/results/README.md, the index of result files', () => {
  it('is what `npm run docs:index` writes, names only files that are there, and every result is cited', () => {
    expect(checkIndex(path.resolve('.'))).toEqual([]);
  });

  it('says when it is out of date, names a missing file, or lists a file nothing cites', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'adadiff-results-'));
    try {
      const soak = (count: number) =>
        JSON.stringify({
          count,
          steps: 2,
          heapMB: [],
          warmupHeapMB: 1,
          finalHeapMB: 1,
          growth: 0,
          liveTensors: 0,
        });
      mkdirSync(path.join(root, 'docs/results/soak'), { recursive: true });
      writeFileSync(path.join(root, 'docs/results/soak/cli.json'), soak(10));
      writeFileSync(path.join(root, 'RELIABILITY.md'), 'Data: [cli.json](docs/results/soak/cli.json).\n');
      writeFileSync(path.join(root, INDEX), renderIndex(root).text);
      expect(checkIndex(root)).toEqual([]);

      writeFileSync(path.join(root, 'docs/results/soak/other.json'), soak(20));
      expect(checkIndex(root)).toEqual([
        `${INDEX} is out of date: run \`npm run docs:index\``,
        'docs/results/soak/other.json: no document links to it; cite it or delete it',
      ]);

      rmSync(path.join(root, 'docs/results/soak/other.json'));
      rmSync(path.join(root, 'docs/results/soak/cli.json'));
      expect(checkIndex(root)).toEqual([
        `${INDEX} is out of date: run \`npm run docs:index\``,
        `${INDEX} names soak/cli.json, which is not there`,
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a file whose name and contents disagree on the weights, and one it cannot describe', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'adadiff-results-'));
    try {
      mkdirSync(path.join(root, 'docs/results/m'), { recursive: true });
      writeFileSync(
        path.join(root, 'docs/results/m/step1-frontier-30.json'),
        JSON.stringify({
          checkpointStep: 2,
          settings: {},
          perClass: 3,
          seed: 1,
          steps: 2,
          guidance: 1,
          rows: [{ curve: 'full' }],
        }),
      );
      writeFileSync(path.join(root, 'docs/results/m/step1-notes.json'), '{}');
      writeFileSync(
        path.join(root, 'README.md'),
        '[a](docs/results/m/step1-frontier-30.json) [b](docs/results/m/step1-notes.json)\n',
      );
      expect(renderIndex(root).problems).toEqual([
        'docs/results/m/step1-frontier-30.json: named for step 1, but its contents say step 2',
        'docs/results/m/step1-notes.json: no rule in tools/docs/results-index.mjs describes it',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
