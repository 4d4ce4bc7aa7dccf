import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { MODEL_DIR } from './fixtures';

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

describe('adadiff generate', () => {
  it('writes one PNG per image and a JSON summary; saves blocks at the default θ', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'adadiff-'));
    const r = await cli(
      'generate',
      '--model',
      MODEL_DIR,
      '--class',
      '0',
      '--count',
      '2',
      '--seed',
      '1',
      '--steps',
      '10',
      '--out',
      out,
      '--json',
      '--threshold',
      '0.5',
    );
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.images).toHaveLength(2);
    expect(readdirSync(out).sort()).toEqual(
      summary.images.map((i: { file: string }) => path.basename(i.file)).sort(),
    );
    const png = decode(readFileSync(summary.images[0].file));
    expect([png.width, png.height, png.channels]).toEqual([28, 28, 1]);
    expect(new Set(png.data).size).toBeGreaterThan(10); // not a blank image
    expect(summary.savedFraction).toBeGreaterThan(0);
    expect(summary.images[1].seed).toBe(2);
    expect(r.stderr).toMatch(/step 10\/10/);
  });

  it('--full-depth runs the reference; --threshold 0 is a plain θ: no exit, the guidance schedule still runs', async () => {
    const run = async (...flags: string[]) => {
      const r = await cli('generate', '--model', MODEL_DIR, '--steps', '3', ...flags, '--json', '--quiet');
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout);
    };
    const full = await run('--full-depth');
    expect(full.mode).toBe('full');
    expect(full.savedFraction).toBe(0);
    expect(full.totals.blocksRun).toBe(full.totals.blocksFull);
    const zero = await run('--threshold', '0');
    expect(zero.mode).toBe('adaptive');
    expect(zero.totals.savedByExits).toBe(0);
    expect(zero.totals.savedBySchedule).toBeGreaterThan(0); // the shipped model's default has a schedule
    const both = await cli('generate', '--model', MODEL_DIR, '--full-depth', '--depth', '5');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--full-depth, --depth: choose one baseline/);
  });

  it('the same seed gives the same image; class names are accepted', async () => {
    const a = mkdtempSync(path.join(tmpdir(), 'adadiff-'));
    const b = mkdtempSync(path.join(tmpdir(), 'adadiff-'));
    for (const out of [a, b]) {
      expect(
        (
          await cli(
            'generate',
            '--model',
            MODEL_DIR,
            '--class',
            'trouser',
            '--steps',
            '4',
            '--seed',
            '7',
            '--out',
            out,
            '--quiet',
          )
        ).code,
      ).toBe(0);
    }
    const [fa] = readdirSync(a);
    expect(fa).toContain('-c1-s7');
    expect(readFileSync(path.join(a, fa!)).equals(readFileSync(path.join(b, fa!)))).toBe(true);
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown flag', ['--colour', 'red'], /Unknown option '--colour'/],
    ['NaN threshold', ['--threshold', 'NaN'], /--threshold must be a number/],
    ['threshold > 1', ['--threshold', '2'], /threshold is 2/],
    ['class out of range', ['--class', '42'], /classIndex is 42/],
    ['unknown class name', ['--class', 'hat'], /--class "hat" is not one of/],
    ['non-integer seed', ['--seed', '1.5'], /seed is 1.5: must be an integer/],
    ['bad sampler', ['--sampler', 'euler'], /--sampler must be one of/],
    ['count 0', ['--count', '0'], /--count must be an integer/],
    ['huge steps', ['--steps', '100000'], /steps is 100000/],
    ['two baselines', ['--depth', '9', '--switch-t', '800', '--shallow-depth', '5'], /choose one baseline/],
    ['switch without a depth', ['--switch-t', '800'], /--switch-t and --shallow-depth go together/],
    ['depths of the wrong length', ['--steps', '3', '--depths', '5,13'], /--depths has 2 depths/],
    ['schedule off and an interval', ['--no-guidance-schedule', '--uncond-every', '2'], /cannot be combined/],
  ];
  for (const [name, args, message] of bad) {
    it(`${name}: usage message and exit code 2`, async () => {
      const r = await cli('generate', '--model', MODEL_DIR, ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/usage: adadiff generate/);
    });
  }

  it('--json splits the saving by source, per image and in total; the schedule off saves nothing by it', async () => {
    const gen = (...args: string[]) =>
      cli('generate', '--model', MODEL_DIR, '--steps', '8', '--count', '2', '--json', '--quiet', ...args);
    const shares = (o: { savedByExits: number; savedBySchedule: number; savedByFixedDepth: number }) =>
      o.savedByExits + o.savedBySchedule + o.savedByFixedDepth;
    const scheduled = JSON.parse((await gen()).stdout);
    for (const o of [scheduled, scheduled.totals, ...scheduled.images])
      expect(Math.abs(shares(o) - o.savedFraction)).toBeLessThan(1e-9);
    expect(scheduled.savedBySchedule).toBeGreaterThan(0); // the shipped model's default has a schedule
    const alone = JSON.parse((await gen('--no-guidance-schedule', '--batching', 'separate')).stdout);
    expect(alone.savedBySchedule).toBe(0);
    expect(alone.savedByFixedDepth).toBe(0);
    expect(Math.abs(alone.savedByExits - alone.savedFraction)).toBeLessThan(1e-9);
    // a DuoDiff-style switch: block 5 at t > 800 (steps 0–1 of 8), full depth below, all fixed ahead
    const sw = JSON.parse((await gen('--switch-t', '800', '--shallow-depth', '5')).stdout);
    expect(sw.mode).toBe('depths');
    expect(sw.depths).toEqual([5, 5, 13, 13, 13, 13, 13, 13]);
    expect(sw.savedByExits).toBe(0);
    expect(sw.savedByFixedDepth).toBeGreaterThan(0);
  });

  it('no command or an unknown one: exit 2', async () => {
    expect((await cli()).code).toBe(2);
    expect((await cli('paint')).code).toBe(2);
  });

  it('--model takes a shipped model by its id; an unknown id says which ones there are', async () => {
    const r = await cli('generate', '--model', 'fmnist-uvit13', '--steps', '1', '--json', '--quiet');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).model).toBe('fmnist-uvit13');
    const unknown = await cli('generate', '--model', 'no-such-model', '--steps', '1');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /--model no-such-model: no shipped model has that id \(.*fmnist-uvit13.*\)/,
    );
  });

  it('a missing model directory: one line, exit 1', async () => {
    const r = await cli('generate', '--model', '/nonexistent/model');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not load \/nonexistent\/model\/manifest.json: no such file/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('adadiff generate with a broken model: exit 1, one line naming the file and the field', () => {
  const damaged = (mutate: (dir: string) => void) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'adadiff-model-'));
    cpSync(MODEL_DIR, dir, { recursive: true });
    mutate(dir);
    return dir;
  };
  const manifestOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['a missing segment', (d) => rmSync(path.join(d, 'block_07.onnx')), /block_07\.onnx: no such file/],
    // not the package's copy, which lacks every graph the fused prefix replaces
    [
      'a lost block inside the prefix',
      (d) => rmSync(path.join(d, 'block_02.onnx')),
      /block_02\.onnx: no such file/,
    ],
    [
      'a truncated segment',
      (d) =>
        writeFileSync(path.join(d, 'head.onnx'), readFileSync(path.join(d, 'head.onnx')).subarray(0, 99)),
      /head\.onnx: bytes is 99/,
    ],
    [
      'a wrong sha256',
      (d) => {
        const b = readFileSync(path.join(d, 'embed.onnx'));
        b[b.length - 2] = b[b.length - 2]! ^ 1;
        writeFileSync(path.join(d, 'embed.onnx'), b);
      },
      /embed\.onnx: sha256 is [0-9a-f]{64}, the manifest says/,
    ],
    [
      'an unknown format version',
      (d) =>
        writeFileSync(path.join(d, 'manifest.json'), JSON.stringify({ ...manifestOf(d), formatVersion: 9 })),
      /manifest\.json: field "formatVersion" is 9/,
    ],
    [
      'a missing field',
      (d) => {
        const m = manifestOf(d);
        delete m.image;
        writeFileSync(path.join(d, 'manifest.json'), JSON.stringify(m));
      },
      /manifest\.json: field "image" is missing/,
    ],
    [
      'shapes that do not chain',
      (d) => {
        const m = manifestOf(d);
        m.segments.blocks[2].outputs[0].dims = ['batch', 51, 64];
        writeFileSync(path.join(d, 'manifest.json'), JSON.stringify(m));
      },
      /field "segments\.blocks\[2\]\.outputs" does not chain/,
    ],
    [
      'not JSON at all',
      (d) => writeFileSync(path.join(d, 'manifest.json'), '{"formatVersion": 1,'),
      /is not valid JSON/,
    ],
  ];
  for (const [name, mutate, message] of cases) {
    it(name, async () => {
      const r = await cli('generate', '--model', damaged(mutate), '--steps', '1');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }
});

describe('adadiff eval and bench', () => {
  it('the frontier renders one curve per kind and setting, and its table gives every share', async () => {
    const { frontierSeries, frontierMarkdown } = await import('../../src/bench/frontier');
    const row = (
      key: string,
      setting: 'schedule' | 'none',
      curve: string,
      saved: number,
      fid: number,
      extra = {},
    ) => ({
      key,
      setting,
      curve,
      threshold: 0,
      savedFraction: saved,
      savedByExits: curve === 'adaptive' ? saved / 2 : 0,
      savedBySchedule: setting === 'schedule' ? saved / 2 : 0,
      savedByFixedDepth: curve === 'adaptive' ? 0 : saved / 2,
      agreement: 0.9,
      fid,
      samples: 300,
      ...extra,
    });
    const report = {
      perClass: 30,
      steps: 20,
      guidance: 1.25,
      minDepth: 5,
      seed: 1234,
      rows: [
        row('full', 'none', 'full', 0, 50),
        row('schedule/adaptive/0.025', 'schedule', 'adaptive', 0.5, 54),
        row('schedule/static/9', 'schedule', 'static', 0.5, 60, { depth: 9 }),
        row('schedule/switch/799/5', 'schedule', 'switch-match', 0.5, 56, {
          switchT: 799,
          shallowDepth: 5,
          bestSwitch: true,
        }),
        row('schedule/switch/500/5', 'schedule', 'switch', 0.55, 58, { switchT: 500, shallowDepth: 5 }),
        row('schedule/switch/799/7', 'schedule', 'switch-match', 0.49, 57, { switchT: 799, shallowDepth: 7 }),
        row('none/adaptive/0.1', 'none', 'adaptive', 0.4, 62),
      ],
    } as Parameters<typeof frontierSeries>[0];
    const series = frontierSeries(report);
    expect(series.map((s) => s.name)).toEqual([
      'adaptive θ sweep, with the guidance schedule',
      'static depth, with the guidance schedule',
      'switch, depth 5 at t > T, with the guidance schedule',
      'adaptive θ sweep, without it',
    ]);
    expect(series[2]!.points).toHaveLength(2); // the best depth's points only
    expect(series[0]!.points[0]).toEqual({ x: 0.5, y: 54 / 50 });
    const md = frontierMarkdown(report, null).join('\n');
    expect(md).toMatch(
      /switch: depth 5 at t > 799 \(best at the default’s blocks\) \| 50\.0 % \| 50\.0 = 0\.0 \+ 25\.0 \+ 25\.0/,
    );
    expect(md).toMatch(
      /adaptive θ 0 \| 50\.0 % \| 50\.0 = 25\.0 \+ 25\.0 \+ 0\.0 \| 90\.0 % \| 54\.0 \| 1\.080×/,
    );
    expect(md).not.toMatch(/optimiser step/); // a report from before the step was recorded says nothing
    // a study on older weights than the shipped model's says so, in the table and in the confirm sentence
    const older = { ...report, checkpointStep: 9721, defaultThreshold: 0.1 };
    const confirm = { ...older, perClass: 100, rows: older.rows.map((r) => ({ ...r, samples: 1000 })) };
    const olderMd = frontierMarkdown(older, confirm, 22500).join('\n');
    expect(olderMd).toMatch(
      /runtime; weights of optimiser step 9,721, not the shipped model's step 22,500\)/,
    );
    expect(olderMd).toMatch(
      /The adaptive default of those weights \(θ 0\.1\) against the best switch on more samples \(1000, the same seeds; weights of optimiser step 9,721, not the shipped model's step 22,500\)/,
    );
    // a confirm run under a later default says its switch was picked for the study's default, not its own
    const later = { ...confirm, checkpointStep: 22500, defaultThreshold: 0.14 };
    expect(frontierMarkdown(older, later, 22500).join('\n')).toMatch(
      /The adaptive default of those weights \(θ 0\.14\) against the switch the study above picked for θ 0\.1's blocks on more samples \(1000, the same seeds; weights of optimiser step 22,500\)/,
    );
    const same = frontierMarkdown({ ...report, checkpointStep: 22500 }, null, 22500).join('\n');
    expect(same).toMatch(/runtime; weights of optimiser step 22,500\)/);
    expect(same).not.toMatch(/not the shipped model/);
  });

  it('frechetDistance: 0 for identical Gaussians, and the closed form in one dimension', async () => {
    const { frechetDistance } = await import('../../src/cli/eval');
    const { Matrix } = await import('ml-matrix');
    const cov = new Matrix([
      [2, 0.5],
      [0.5, 1],
    ]);
    expect(frechetDistance([1, 2], cov, [1, 2], cov)).toBeCloseTo(0, 8);
    // N(0, 1) vs N(1, 4): (0−1)² + 1 + 4 − 2·√4 = 2
    expect(frechetDistance([0], new Matrix([[1]]), [1], new Matrix([[4]]))).toBeCloseTo(2, 10);
  });

  it('chooseDefault: the largest saving within the bound, else the manifest’s θ marked outside it', async () => {
    const { chooseDefault } = await import('../../src/cli/eval');
    const row = (threshold: number, savedFraction: number, agreement: number, fid: number) => ({
      label: threshold ? `θ=${threshold}` : 'full depth',
      mode: threshold ? ('adaptive' as const) : ('full' as const),
      threshold,
      savedFraction,
      savedByExits: savedFraction,
      savedBySchedule: 0,
      savedByFixedDepth: 0,
      agreement,
      fid,
      psnr: null,
      samples: 100,
    });
    const rows = [
      row(0, 0, 0.9, 50),
      row(0.1, 0.3, 0.89, 54),
      row(0.2, 0.5, 0.89, 60),
      row(0.3, 0.6, 0.8, 52),
    ];
    const bound = { maxAgreementDrop: 0.02, maxFidRatio: 1.1 };
    // 0.2 saves more but its FID is 1.2×; 0.3 keeps FID but loses 10 points
    expect(chooseDefault(rows, 0.3, bound)).toMatchObject({
      threshold: 0.1,
      withinBound: true,
      chosenBy: 'bound',
      agreementFull: 0.9,
      fidFull: 50,
    });
    expect(chooseDefault(rows, 0.3, { ...bound, maxFidRatio: 1.25 }).threshold).toBe(0.2);
    const strict = { maxAgreementDrop: 0, maxFidRatio: 1 };
    expect(chooseDefault(rows, 0.2, strict)).toMatchObject({
      threshold: 0.2,
      savedFraction: 0.5,
      fid: 60,
      withinBound: false,
      chosenBy: 'kept',
    });
    // a manifest θ that was not evaluated cannot be reported: full depth is, and it is within any bound
    expect(chooseDefault(rows, 0.25, strict)).toMatchObject({
      threshold: 0,
      withinBound: true,
      chosenBy: 'kept',
    });
  });

  it('eval --json reports the default θ against full depth and --write-manifest stores the calibration', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'adadiff-model-'));
    cpSync(MODEL_DIR, dir, { recursive: true });
    const before = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const r = await cli(
      'eval',
      '--model',
      dir,
      '--per-class',
      '2',
      '--steps',
      '2',
      '--thresholds',
      '0.3,0.6',
      '--json',
      '--write-manifest',
      '--quiet',
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    // the manifest's own default θ runs beside the ones asked for
    expect(report.rows.map((x: { threshold: number }) => x.threshold)).toEqual([
      0,
      before.defaults.threshold,
      0.3,
      0.6,
    ]);
    expect(Object.keys(report.default).sort()).toEqual([
      'agreement',
      'agreementFull',
      'chosenBy',
      'fid',
      'fidFull',
      'savedFraction',
      'threshold',
      'withinBound',
    ]);
    expect(report.bound).toEqual({ maxAgreementDrop: 0.02, maxFidRatio: 1.1 });
    expect(report.rows[0].savedFraction).toBe(0);
    const d = report.default;
    if (d.chosenBy === 'bound') {
      expect(d.agreement).toBeGreaterThanOrEqual(d.agreementFull - 0.02);
      expect(d.fid).toBeLessThanOrEqual(d.fidFull * 1.1);
    } else {
      expect(d.threshold).toBe(before.defaults.threshold);
      expect(r.stderr).toMatch(
        /no θ kept agreement within 2\.0 points and FID within 1\.10× .* stays the default/,
      );
    }
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.calibration).toHaveLength(4);
    expect(manifest.defaults.threshold).toBe(d.threshold);
    expect(manifest.calibrationSource).toMatch(/the bound \(agreement −0\.02, FID ×1\.1\)/);
  });

  it('eval --max-fid-ratio / --max-agreement-drop set the bound: a loose one picks the largest saving', async () => {
    const r = await cli(
      'eval',
      '--per-class',
      '2',
      '--steps',
      '2',
      '--thresholds',
      '0.3,0.6',
      '--max-agreement-drop',
      '1',
      '--max-fid-ratio',
      '1e9',
      '--json',
      '--quiet',
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const exits = report.rows.filter((x: { threshold: number }) => x.threshold > 0);
    const most = Math.max(...exits.map((x: { savedFraction: number }) => x.savedFraction));
    expect(report.default).toMatchObject({ withinBound: true, chosenBy: 'bound', savedFraction: most });
    expect(most).toBeGreaterThan(0);
    for (const [flag, value, message] of [
      ['--max-fid-ratio', '0.9', /--max-fid-ratio must be at least 1/],
      ['--max-fid-ratio', 'NaN', /--max-fid-ratio must be a number/],
      ['--max-agreement-drop', '2', /--max-agreement-drop must be 0…1/],
    ] as const) {
      const bad = await cli('eval', '--per-class', '2', flag, value, '--quiet');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
  });

  it('eval runs a static baseline against full depth: --depth and a switch schedule report agreement and FID', async () => {
    for (const args of [
      ['--depth', '9'],
      ['--switch-t', '800', '--shallow-depth', '5', '--no-guidance-schedule'],
    ]) {
      const r = await cli('eval', '--per-class', '2', '--steps', '2', '--json', '--quiet', ...args);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.default).toBeNull(); // no θ ran, none to choose
      expect(report.rows.map((x: { mode: string }) => x.mode)).toEqual([
        'full',
        args[0] === '--depth' ? 'static' : 'depths',
      ]);
      const row = report.rows[1];
      expect(row.agreement).toBeGreaterThanOrEqual(0);
      expect(row.fid).toBeGreaterThan(0);
      expect(row.savedByExits).toBe(0);
      expect(row.savedByFixedDepth).toBeGreaterThan(0);
      if (args.includes('--no-guidance-schedule')) expect(row.savedBySchedule).toBe(0);
    }
    const both = await cli('eval', '--depth', '9', '--thresholds', '0.1');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/choose one/);
  });

  it('eval sweeps the manifest’s calibrated θs and its default unless told otherwise', async () => {
    const r = await cli('eval', '--per-class', '2', '--steps', '1', '--json', '--quiet');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const m = JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8'));
    const want = [
      ...new Set([...m.calibration.map((c: { threshold: number }) => c.threshold), m.defaults.threshold]),
    ]
      .filter((t) => t > 0)
      .sort((a, b) => a - b);
    expect(report.rows.map((x: { threshold: number }) => x.threshold)).toEqual([0, ...want]);
  });

  it('bench --json holds the default figures; an option of another command is a usage error', async () => {
    const r = await cli('bench', '--reps', '1', '--steps', '2', '--thresholds', '0.5', '--json', '--quiet');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    for (const k of [
      'threshold',
      'savedFraction',
      'savedByExits',
      'adaptiveMs',
      'segmentedFullMs',
      'monolithicMs',
      'monolithicScheduledMs',
    ]) {
      expect(typeof report.default[k]).toBe('number');
    }
    expect(report.rows.map((x: { kind: string }) => x.kind)).toEqual(
      expect.arrayContaining([
        'monolithic',
        'monolithic-scheduled',
        'segmented-full',
        'adaptive',
        'static',
        'schedule',
      ]),
    );
    // the scheduled monolithic baseline skips what the guidance schedule skips, and nothing else
    const scheduled = report.rows.find((x: { kind: string }) => x.kind === 'monolithic-scheduled');
    expect(scheduled.savedBySchedule).toBeGreaterThan(0);
    expect(scheduled.savedByExits + scheduled.savedByFixedDepth).toBe(0);
    expect(scheduled.savedFraction).toBeCloseTo(scheduled.savedBySchedule, 12);
    // the fused prefix's effect is measured in the same rounds, and one block's read-back
    const unfused = report.rows.filter(
      (x: { fused: boolean; kind: string }) => !x.fused && !x.kind.startsWith('monolithic'),
    );
    expect(unfused.map((x: { kind: string }) => x.kind)).toEqual(['segmented-full', 'adaptive']);
    expect(report.readback.withMs).toBeGreaterThan(0);
    expect(report.readback.withoutMs).toBeGreaterThan(0);
    // and speculation's: the default θ once more, speculating (the runner's default is not to)
    const atDefault = report.rows.filter(
      (x: { kind: string; threshold: number; fused: boolean }) =>
        x.kind === 'adaptive' && x.threshold === report.default.threshold && x.fused,
    );
    expect(atDefault.map((x: { speculative: boolean }) => x.speculative)).toEqual([false, true]);
    expect(atDefault[1].blocksRun).toBe(atDefault[0].blocksRun);
    const bad = await cli('bench', '--class', '3');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--class is not an option of this command/);
  });

  it('bench --markdown saves this run beside earlier ones and renders the newest run of each place', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'adadiff-bench-'));
    const file = path.join(dir, 'BENCHMARKS.md');
    const r = await cli(
      'bench',
      '--reps',
      '1',
      '--steps',
      '2',
      '--thresholds',
      '0.5',
      '--markdown',
      file,
      '--quiet',
    );
    expect(r.code).toBe(0);
    const shipped = JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8'));
    // the model's results folder, each file named by the weights it ran on
    const results = path.join(dir, 'docs', 'results', shipped.id);
    const nodeFile = `step${shipped.provenance.optimizerSteps}-bench-node-wasm.json`;
    const node = JSON.parse(readFileSync(path.join(results, nodeFile), 'utf8'));
    expect(node.modelStep).toBe(shipped.provenance.optimizerSteps);
    // a Node run on older weights stays as a record, and the newer run is the one rendered
    const older = { ...node, environment: 'Node v0-older', modelStep: 1 };
    writeFileSync(path.join(results, 'step1-bench-node-wasm.json'), JSON.stringify(older));
    // a Chromium run saved earlier is kept in the rendered file
    const probe = { block: 6, batch: 2, cases: 4, runs: 20, nonFinite: false };
    const chromium = {
      ...node,
      environment: 'Mozilla/5.0 Chrome/140',
      modelStep: undefined, // as reports written before the step was recorded
      rows: node.rows.slice(0, 2),
      // as a WebGPU run reports graph capture: one build replays correctly, one not, one fails
      graphCapture: [
        { ...probe, build: 'A', maxAbsDiff: 0, matches: true, eagerMs: 100, capturedMs: 150 },
        { ...probe, build: 'B', maxAbsDiff: 2.5, matches: false, eagerMs: null, capturedMs: null },
        {
          ...probe,
          build: 'C',
          maxAbsDiff: null,
          matches: false,
          eagerMs: null,
          capturedMs: null,
          error: 'boom',
        },
      ],
    };
    writeFileSync(path.join(results, 'bench-chromium-wasm.json'), JSON.stringify(chromium));
    expect((await cli('bench', '--reps', '1', '--steps', '2', '--markdown', file, '--quiet')).code).toBe(0);
    const md = readFileSync(file, 'utf8');
    expect(md).not.toContain('Node v0-older');
    expect(md).toContain(`Data: [${nodeFile}](docs/results/${shipped.id}/${nodeFile}).`);
    expect(md).toMatch(/## Node, onnxruntime-web wasm[\s\S]*## Chromium, onnxruntime-web wasm/);
    expect(md).toContain('Mozilla/5.0 Chrome/140');
    const step = shipped.provenance.optimizerSteps.toLocaleString('en-US');
    expect(md).toContain(`model \`${shipped.id}\` (weights of optimiser step ${step}), 2 `);
    expect(md).toMatch(/Chrome\/140; model `[^`]+`, 2 /);
    // the quality table says which weights and how many samples the calibration rests on
    expect(md).toContain(
      `Quality per θ is the manifest's calibration on the weights of optimiser step ${step}, ${shipped.calibration[0].samples} samples per θ (`,
    );
    expect(readFileSync(path.join(results, 'plots', 'time-node-wasm.svg'), 'utf8')).toMatch(/^<svg/);
    // the shipped calibration has FID at full depth and at each θ: the ratio plot and its 1.10× line
    expect(md).toContain(`docs/results/${shipped.id}/plots/fid-vs-saved.svg`);
    expect(readFileSync(path.join(results, 'plots', 'fid-vs-saved.svg'), 'utf8')).toContain('target ≤ 1.10×');
    expect(md).toContain(
      "Graph capture (record block 6's GPU commands once, replay them; batch 2, 4 inputs compared, 20 runs per round, each reading its uncertainty back): " +
        'A: replays match ordinary runs (max |Δ| 0.0e+0); 100.00 ms per run without capture, 150.00 ms replayed (50.0 % slower). ' +
        'B: replays do **not** match ordinary runs (max |Δ| 2.50). C: capture or replay failed (boom).',
    );
    // only the run that has probes says anything about graph capture
    expect(md.match(/Graph capture/g)).toHaveLength(1);
    expect(md).toMatch(/Fused prefix .* without → with: segmented full depth: [\d.]+ → [\d.]+ ms/);
    expect(md).toMatch(
      /Speculation .* at θ = [\d.]+: [\d.]+ ms without, [\d.]+ ms with \(-?[\d.]+ %\); off by default: it adds the thrown-away block/,
    );
  });

  it('bench --scale needs a model of the size to time; --matmul goes with it; WebGPU with --browser', async () => {
    const none = await cli('bench', '--scale');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--scale needs --model DIR/);
    const stray = await cli('bench', '--matmul', 'probe.onnx');
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--matmul goes with --scale/);
    const gpu = await cli('bench', '--scale', '--model', MODEL_DIR, '--backend', 'webgpu');
    expect(gpu.code).toBe(2);
    expect(gpu.stderr).toMatch(/--scale --backend webgpu needs --browser/);
    const r = await cli('bench', '--scale', '--model', MODEL_DIR, '--reps', '1', '--json', '--quiet');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ model: 'fmnist-uvit13', numBlocks: 13, shallowBlocks: 8 });
  });

  it('bench: WebGPU needs --browser; the browser bench serves only models under public/', async () => {
    const gpu = await cli('bench', '--backend', 'webgpu');
    expect(gpu.code).toBe(2);
    expect(gpu.stderr).toMatch(/--backend webgpu needs --browser/);
    const dir = mkdtempSync(path.join(tmpdir(), 'adadiff-model-'));
    cpSync(MODEL_DIR, dir, { recursive: true });
    const outside = await cli('bench', '--browser', '--model', dir);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/is not under public\/, so the built site does not serve it/);
  });

  it('soak runs consecutive generations and reports the heap and no live tensors', async () => {
    const r = await cli('soak', '--count', '4', '--steps', '1', '--json', '--quiet');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.count).toBe(4);
    expect(report.liveTensors).toBe(0);
    expect(report.heapMB.at(-1).generation).toBe(4);
    expect(report.finalHeapMB).toBeGreaterThan(0);
  });
});
