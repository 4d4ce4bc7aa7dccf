#!/usr/bin/env node
/**
 * docs/results/README.md: every file under docs/results/, what it is and which documents cite it. What a
 * file is comes from the file itself (its tool, weights, settings and sample count), so the index says what
 * is there rather than what someone once wrote about it.
 *
 *     node tools/docs/results-index.mjs           write the index (npm run docs:index)
 *     node tools/docs/results-index.mjs --check   say what is wrong and exit 1 instead of writing
 *
 * The check fails when the committed index differs from what this would write, when the index names a file
 * that is not there, when a result is cited by no document (an orphan: cite it or delete it), when a file is
 * of a kind this script cannot describe, and when a file's name and its contents disagree on the weights.
 * test/unit/results-index.test.ts runs the same check.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS = 'docs/results';
export const INDEX = `${RESULTS}/README.md`;

const SAMPLER = { ddim: 'DDIM', dpmpp2m: 'DPM-Solver++(2M)', ddpm: 'DDPM (ancestral)' };
const pct = (x) => `${(100 * x).toFixed(1)} %`;
const fixed = (x, digits) => (typeof x === 'number' ? x.toFixed(digits) : '–');
const byName = (a, b) => a.localeCompare(b, 'en', { numeric: true });
const uniq = (xs) => [...new Set(xs)];

// Context a file cannot carry itself: the sampler those runs used was changed after they were made.
const ERAS = [
  {
    pattern: /^fmnist-uvit13\/step9721-ddim-/,
    note: 'DDIM as it was before the fix of 2026-12-01 (it stepped with the unclipped ε); see the research log',
  },
];

/** Every file under docs/results/ but the index, as paths relative to it, in reading order. */
export function listResults(root) {
  const base = path.join(root, RESULTS);
  const walk = (dir) =>
    readdirSync(path.join(base, dir)).flatMap((name) => {
      const rel = dir ? `${dir}/${name}` : name;
      return statSync(path.join(base, rel)).isDirectory() ? walk(rel) : [rel];
    });
  return existsSync(base)
    ? walk('')
        .filter((f) => f !== 'README.md')
        .sort(byName)
    : [];
}

/** The weights a file is named for: the optimiser step its name (or its folder's name) starts with. */
const namedStep = (file) => {
  const m = file.split('/')[1]?.match(/^step(\d+)/);
  return m ? Number(m[1]) : undefined;
};

/** The weights the file's contents record, where they record them. */
const recordedStep = (j) => j.checkpointStep ?? j.modelStep ?? j.rows?.[0]?.modelStep;

/** Full depth, the θ rows and the default of an evaluate or `adadiff eval` report. */
function thetaSummary(rows, defaultRow) {
  const full = rows.find((r) => r.threshold === 0);
  const thetas = rows.filter((r) => r.threshold > 0).map((r) => r.threshold);
  const quality = (r) =>
    r.agreement !== undefined && r.agreement !== null
      ? `agreement ${pct(r.agreement)}, FID ${fixed(r.fid, 2)}`
      : `PSNR to full depth ${fixed(r.psnr, 1)} dB`;
  return [
    full ? `Full depth: ${quality(full)}.` : '',
    thetas.length ? `θ ${thetas.join(', ')}.` : 'Full depth only.',
    defaultRow && defaultRow.threshold > 0
      ? `Default θ ${defaultRow.threshold}: ${pct(defaultRow.savedFraction)} of blocks skipped, ${quality(defaultRow)}.`
      : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** The guidance schedule a report ran under, where it ran one. */
function scheduleOf(j) {
  const every = j.uncondEvery ?? j.unconditionalEvery ?? 1;
  const parts = [
    ...(j.guidanceMaxT !== undefined && j.guidanceMaxT !== null ? [`guidance at t ≤ ${j.guidanceMaxT}`] : []),
    ...(every > 1 ? [`the unconditional pass every ${every === 2 ? '2nd' : `${every}th`} guided step`] : []),
    ...(j.batching ? [`batching ${j.batching}`] : []),
    ...(j.minDepth !== undefined ? [`minimum depth ${j.minDepth}`] : []),
  ];
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** What each kind of file is, tried in order: the first that recognises the file describes it. */
const KINDS = [
  {
    kind: 'plot',
    test: (file) => file.endsWith('.svg'),
    describe: (file, text) => {
      const title = text.match(/<text[^>]*>([^<]+)<\/text>/)?.[1] ?? 'untitled';
      return `Plot in BENCHMARKS.md, “${title}”; drawn by \`adadiff bench --markdown\` from the files beside it.`;
    },
  },
  {
    kind: 'training curve',
    test: (file, j) => j?.trainLog !== undefined && Array.isArray(j.rows),
    describe: (file, text, j) => {
      const [first, last] = [j.rows[0], j.rows[j.rows.length - 1]];
      return `\`tools.export train\`'s log (${j.config}), every ${j.every}th step from ${first.step} to ${last.step} (${last.hours.toFixed(1)} h, ${last.images.toLocaleString('en')} images): one batch's loss and each exit's ε error at each.`;
    },
  },
  {
    kind: 'bench',
    test: (file, j) => j?.environment !== undefined && j.rows?.[0]?.medianMs !== undefined,
    describe: (file, text, j) => {
      const where = j.environment.startsWith('Node') ? j.environment : 'Chromium';
      const d = j.default;
      const baseline =
        d.monolithicScheduledMs !== undefined
          ? `, ${(d.adaptiveMs / d.monolithicScheduledMs).toFixed(2)}× the monolithic graph run with the same guidance schedule`
          : '';
      return `\`adadiff bench\` in ${where}, ${j.backend}: ms per image for each configuration, the median of ${j.reps} interleaved runs of one image; ${j.steps} ${SAMPLER[j.sampler ?? 'ddim']} steps, guidance ${j.guidance}${scheduleOf(j)}. Default θ ${d.threshold}: ${d.adaptiveMs.toFixed(1)} ms${baseline}.`;
    },
  },
  {
    kind: 'first image',
    test: (file, j) => j?.rows?.[0]?.readyMs !== undefined,
    describe: (file, text, j) => {
      const net =
        j.throttleMbps === null
          ? 'network not throttled'
          : `${j.throttleMbps} Mbit/s, ${j.latencyMs} ms latency`;
      const models = uniq(j.rows.map((r) => `${r.model} ${r.storage}`)).join(', ');
      const visits = uniq(j.rows.map((r) => r.cache));
      const visited =
        visits.length < 2 ? visits.join('') : `${visits.slice(0, -1).join(', ')} and ${visits.at(-1)}`;
      const served = j.sites?.length
        ? j.sites.map((site) => `${site.label}: ${site.compression}`).join(', ')
        : j.compression;
      return `\`adadiff bench --first-image\`: the built page in Chromium (${j.backend}) from navigation to the model ready and to the first image, ${visited} visits; ${net}, served ${served}; ${j.rows[0].reps} run${j.rows[0].reps === 1 ? '' : 's'} per row; ${models}.`;
    },
  },
  {
    kind: 'frontier',
    test: (file, j) => j?.settings !== undefined && j.rows?.[0]?.curve !== undefined,
    describe: (file, text, j) => {
      const curves = uniq(j.rows.map((r) => r.curve.replace('switch-match', 'switch'))).join(', ');
      return `\`tools.export frontier\`: adaptive exits against static depths and switch schedules, with and without the guidance schedule, on the same seeds at every point; ${j.rows[0].samples} samples per point, seed ${j.seed}; ${j.steps} ${SAMPLER[j.sampler ?? 'ddim']} steps, guidance ${j.guidance}; ${j.rows.length} points (${curves}).`;
    },
  },
  {
    kind: 'storage',
    test: (file, j) => j?.roundedTensors !== undefined,
    describe: (file, text, j) => {
      const full = j.rows[0];
      return `\`tools.export compare-storage\`: samples of int8-rounded weights against the fp32 ones on the same ${j.samples} seeds (${j.roundedTensors} weight tensors rounded), at guidance ${j.manifestDefaults.guidance}. At ${full.row}: median PSNR ${full.psnrDb.median} dB; agreement ${pct(full.fp32.agreement)} / FID ${fixed(full.fp32.fid, 2)} (fp32) against ${pct(full.int8.agreement)} / ${fixed(full.int8.fid, 2)} (int8).`;
    },
  },
  {
    kind: 'storage speed',
    test: (file, j) => j?.withFolding !== undefined,
    describe: (file, text, j) =>
      `ONNX Runtime's run time per session, fp32 against int8 weights, with the int8 weights folded to fp32 at load and without: ${j.what}.`,
  },
  {
    kind: 'token ranking',
    test: (file, j) => j?.tau !== undefined && Array.isArray(j.runs),
    describe: (file, text, j) =>
      `\`tools.export token-exit --correlation\`: how the UEM at block ${j.runs[0].block} ranks patch tokens against their true gap to full depth (τ ${j.tau}), ${j.runs[0].images} images per timestep, for ${j.runs.length} UEMs.`,
  },
  {
    kind: 'token exits',
    test: (file, j) =>
      (j?.tool ?? j?.runs?.[0]?.command ?? '').includes('token_exit') || /token-level/.test(j?.study ?? ''),
    describe: (file, text, j) => {
      const rows = j.rows ?? j.runs.flatMap((r) => r.rows.map((row) => ({ ...row, seed: r.seed })));
      const rules = uniq(rows.map((r) => `${r.rule}${r.value ? ` ${r.value}` : ''}`)).join(', ');
      const seeds = uniq(rows.map((r) => r.seed ?? j.seed)).join(' and ');
      return `\`tools.export token-exit\`: exits per token simulated beside step exits, switch schedules and the oracle; ${rows[0].samples} samples per rule, seed ${seeds}; ${j.steps} ${SAMPLER[j.sampler]} steps, guidance ${j.guidance}; rules: ${rules}.`;
    },
  },
  {
    kind: 'evaluate',
    test: (file, j) => j?.checkpointStep !== undefined && Array.isArray(j.calibration),
    describe: (file, text, j) => {
      const full = j.full ?? j.calibration.find((r) => r.threshold === 0);
      const thetas = j.calibration.filter((r) => r.threshold > 0);
      const swept = j.guidanceSweep?.length > 1;
      const sweep = swept
        ? `at full depth, guidance ${j.guidanceSweep.map((g) => `${g.guidance}: ${pct(g.agreement)} / FID ${fixed(g.fid, 2)}`).join('; ')}; ${thetas.length ? 'θ at' : 'kept'} guidance ${j.guidance}`
        : `guidance ${j.guidance}`;
      // a full-depth run has no exits, so the settings that govern them would only mislead
      const schedule = thetas.length ? scheduleOf(j) : '';
      const seed = j.seed !== undefined ? `, seed ${j.seed}` : '';
      const noise = j.noise === 'runtime' ? ", the runtime's seeded noise" : '';
      const floor = j.realFloor
        ? ` Real-data floor: agreement ${pct(j.realFloor.agreement)}, FID ${fixed(j.realFloor.fid, 2)} (${j.realFloor.samples} images).`
        : '';
      const checkpoint = j.checkpoint ? ` Checkpoint: ${j.checkpoint}.` : '';
      const summary = swept && !thetas.length ? '' : ` ${thetaSummary([full, ...thetas], j.default)}`;
      return `\`tools.export evaluate\` (PyTorch): ${j.steps} ${SAMPLER[j.sampler ?? 'ddim']} steps, ${sweep}${schedule}, ${j.storage ?? 'fp32'} weights; ${full.samples} samples per row${seed}${noise}.${summary}${floor}${checkpoint}`;
    },
  },
  {
    kind: 'runtime evaluation',
    test: (file, j) => j?.bound !== undefined && Array.isArray(j.rows) && j.perClass !== undefined,
    describe: (file, text, j) =>
      `\`adadiff eval\` (the TypeScript runtime in Node, wasm, with its own seeds): ${j.steps} steps, guidance ${j.guidance}; ${j.rows[0].samples} samples per row. ${thetaSummary(j.rows, j.default)}`,
  },
  {
    kind: 'scale',
    test: (file, j) => j?.forwardGflop !== undefined && j.peakRssMb !== undefined,
    describe: (file, text, j) =>
      `\`adadiff bench --scale\`: ${j.model}, ${(j.parameters / 1e6).toFixed(1)} M parameters, ${j.storage} weights, in ${j.runtime ?? 'Node wasm'}, medians of ${j.reps} runs: load ${j.runtimeStartMs === undefined ? '' : `${(j.runtimeStartMs / 1000).toFixed(1)} s (the runtime) + `}${(j.loadMs / 1000).toFixed(1)} s, ${j.peakRssMb === null ? 'memory not measured' : `peak memory ${j.peakRssMb} MB (before ${j.baseRssMb} MB${j.runtimeRssMb ? `, ${j.runtimeRssMb} MB with the runtime started` : ''})`}, full pass ${j.fullMs.toFixed(0)} ms, ${j.gflops.toFixed(1)} GFLOP/s.`,
  },
  {
    kind: 'CLI soak',
    test: (file, j) => Array.isArray(j?.heapMB),
    describe: (file, text, j) =>
      `\`npm run soak:cli\`: ${j.count} generations of ${j.steps} steps in Node; heap after a GC ${j.warmupHeapMB} MB after warm-up, ${j.finalHeapMB} MB at the end (${pct(j.growth)}); live tensors at the end: ${j.liveTensors}.`,
  },
  {
    kind: 'page soak',
    test: (file, j) => j?.samples?.[0]?.totalMB !== undefined,
    describe: (file, text, j) =>
      `\`npm run soak:page\`: ${j.count} generations of ${j.steps} steps in the built page (Chromium, ${j.backend}); JS heap of page and worker after a GC, from generation ${j.warmupGeneration} to the end: ${pct(j.growth.totalMB)}.`,
  },
];

/** What a file is, or null for a kind this script does not know. */
export function describe(root, file) {
  const text = readFileSync(path.join(root, RESULTS, file), 'utf8');
  let json = null;
  if (file.endsWith('.json')) json = JSON.parse(text);
  const kind = KINDS.find((k) => k.test(file, json));
  if (!kind) return null;
  const era = ERAS.find((e) => e.pattern.test(file));
  return kind.describe(file, text, json) + (era ? ` ${era.note}.` : '');
}

/** The markdown files that may cite a result: the top-level documents and docs/, the index aside. */
function documents(root) {
  const inDocs = (dir) =>
    readdirSync(path.join(root, dir)).flatMap((name) => {
      const rel = `${dir}/${name}`;
      if (statSync(path.join(root, rel)).isDirectory()) return inDocs(rel);
      return name.endsWith('.md') && rel !== INDEX ? [rel] : [];
    });
  const top = readdirSync(root).filter((name) => name.endsWith('.md'));
  return [...top, ...(existsSync(path.join(root, 'docs')) ? inDocs('docs') : [])].sort(byName);
}

/** Each result file and the documents whose links (not mere mentions) point at it or at a folder above it. */
export function citations(root, files = listResults(root)) {
  const cited = new Map(files.map((f) => [f, []]));
  for (const doc of documents(root)) {
    const text = readFileSync(path.join(root, doc), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
    const targets = [
      ...[...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]),
      ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]),
    ];
    for (const target of targets) {
      if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(doc), target.split('#')[0]));
      if (!resolved.startsWith(`${RESULTS}/`)) continue;
      const rel = resolved.slice(RESULTS.length + 1).replace(/\/$/, '');
      for (const f of files) {
        if ((f === rel || f.startsWith(`${rel}/`)) && !cited.get(f).includes(doc)) cited.get(f).push(doc);
      }
    }
  }
  return cited;
}

const stepHeading = (step) =>
  step === undefined
    ? 'Weights not in the name'
    : `Weights of optimiser step ${step.toLocaleString('en-US')}`;

/** The index as it should read, and what is wrong with the files it lists. */
export function renderIndex(root) {
  const files = listResults(root);
  const cited = citations(root, files);
  const problems = [];
  const lines = [
    '# Results',
    '',
    'Every measurement the documents quote, as the tools wrote it. Written by `npm run docs:index` (`tools/docs/results-index.mjs`) from the files themselves: do not edit it by hand. `test/unit/results-index.test.ts` fails when this index is out of date, names a file that is missing, or lists a file that no document cites.',
    '',
    'A model has a folder, named by its id; each file in it starts with the weights it ran on, as the optimiser step of the training run (`step30500-…`), and a branch that was not adopted says which (`step38000-cycle5-gentle-…`). `tools.export evaluate` reports then give the guidance, how the weights were stored, the samples per row and the seed (`step30500-g1.5-int8-1000-seed1234.json`); other tools name what they measured (`-bench-node-wasm`, `-frontier-`, `-storage-`, `-token-`). `soak/` holds the runtime memory runs, which do not depend on the weights.',
  ];
  const groups = uniq(files.map((f) => f.split('/')[0]));
  for (const group of groups) {
    lines.push('', `## ${group}`);
    const inGroup = files.filter((f) => f.split('/')[0] === group);
    const sections = uniq(inGroup.map((f) => (f.startsWith(`${group}/plots/`) ? 'plots' : namedStep(f))));
    for (const section of sections) {
      const members = inGroup.filter((f) =>
        section === 'plots'
          ? f.startsWith(`${group}/plots/`)
          : !f.startsWith(`${group}/plots/`) && namedStep(f) === section,
      );
      // a folder whose files carry no weights (the soak runs) needs no heading per weights
      if (sections.length > 1 || section !== undefined)
        lines.push('', `### ${section === 'plots' ? 'Plots' : stepHeading(section)}`);
      lines.push('', '| file | what it is | cited in |', '|---|---|---|');
      for (const f of members) {
        const what = describe(root, f);
        if (what === null)
          problems.push(`${RESULTS}/${f}: no rule in tools/docs/results-index.mjs describes it`);
        const json = f.endsWith('.json')
          ? JSON.parse(readFileSync(path.join(root, RESULTS, f), 'utf8'))
          : null;
        const recorded = json && recordedStep(json);
        if (recorded !== undefined && namedStep(f) !== undefined && recorded !== namedStep(f))
          problems.push(
            `${RESULTS}/${f}: named for step ${namedStep(f)}, but its contents say step ${recorded}`,
          );
        const docs = cited.get(f);
        if (!docs.length) problems.push(`${RESULTS}/${f}: no document links to it; cite it or delete it`);
        const citedIn =
          docs.map((d) => `[${d}](${path.posix.relative(RESULTS, d)})`).join(', ') || '**nowhere**';
        const name = f.slice(group.length + 1);
        lines.push(
          `| [${name}](${f}) | ${(what ?? '**not described**').replace(/\|/g, '\\|')} | ${citedIn} |`,
        );
      }
    }
  }
  return { text: `${lines.join('\n')}\n`, problems };
}

/** Everything wrong with the committed index and the files it lists; none when all is well. */
export function checkIndex(root) {
  const { text, problems } = renderIndex(root);
  const indexPath = path.join(root, INDEX);
  if (!existsSync(indexPath)) return [`${INDEX} is missing: run \`npm run docs:index\``, ...problems];
  const committed = readFileSync(indexPath, 'utf8');
  for (const [, target] of committed.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (!existsSync(path.join(root, RESULTS, target)))
      problems.unshift(`${INDEX} names ${target}, which is not there`);
  }
  if (committed !== text) problems.unshift(`${INDEX} is out of date: run \`npm run docs:index\``);
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  if (process.argv.includes('--check')) {
    const problems = checkIndex(root);
    for (const p of problems) console.error(p);
    process.exit(problems.length ? 1 : 0);
  }
  const { text, problems } = renderIndex(root);
  writeFileSync(path.join(root, INDEX), text);
  for (const p of problems) console.error(p);
  console.log(
    `${INDEX}: ${listResults(root).length} files${problems.length ? `, ${problems.length} problems` : ''}`,
  );
  process.exit(problems.length ? 1 : 0);
}
