/**
 * `adadiff` — the command-line generator over the same runtime the page uses (wasm in Node).
 * Exit codes: 0 ok, 1 the run failed (model, backend), 2 bad usage (flag or value). Each command
 * lives in commands/; the flags they share in flags.ts.
 */
import { parseArgs } from 'node:util';
import { isAdaDiffError, messageOf, ParameterError } from '../runtime';
import { BrowserBenchError } from '../bench/browser';
import { runBenchCommand } from './commands/bench';
import { runEvalCommand } from './commands/eval';
import { runGenerate } from './commands/generate';
import { runSoakCommand } from './commands/soak';
import { OPTIONS, paramUsage, UsageError, type CliIo, type Values } from './flags';

export type { CliIo } from './flags';

export const USAGE = `usage: adadiff generate [--model ID|DIR] [options]
       adadiff bench [--model ID|DIR] [--reps N] [--steps K] [--thresholds a,b,…] [--json] [--markdown FILE]
                     [--browser [--backend wasm|webgpu]]   (Chromium; run npm run build first)
       adadiff bench --first-image [--model DIR,DIR…] [--site LABEL=DIR,…] [--throttle MBPS] [--reps N]
                     [--backend wasm|webgpu] [--json] [--markdown FILE]
       adadiff bench --scale --model DIR [--matmul PROBE.onnx] [--reps N] [--browser [--backend wasm|webgpu]]
                     [--json] [--markdown FILE]
       adadiff soak [--model ID|DIR] [--count N] [--steps K] [--json]   (node --expose-gc for exact heap figures)
       adadiff eval [--model ID|DIR] [--per-class N] [--steps K] [--thresholds a,b,…] [--write-manifest] [--json]
                    [--max-agreement-drop D] [--max-fid-ratio R] [--batching MODE] [--uncond-every N]
                    [--guidance-max-t T] [--no-guidance-schedule]
                    [--depth N | --depths d1,… | --switch-t T --shallow-depth D]   (a baseline instead of θs)

  --model ID|DIR       a shipped model's id (the package ships fmnist-uvit13), or a directory with manifest.json
                       (default: fmnist-uvit13)
  --class NAME|INDEX   class to draw, by name or index (default 0)
  --count N            images to make, seeds S, S+1, … (default 1)
${paramUsage()}
  --no-guidance-schedule  guide every step and run the unconditional pass at each (what the
                       exits save alone; same as --uncond-every 1 --guidance-max-t T−1)
  --full-depth         the reference every saving is counted against: every block of both guidance
                       passes at every step (θ 0 is a plain θ: no block exits, the schedule still runs)
  --depths d1,d2,…     static baseline: run d_k blocks at step k (one depth per step)
  --switch-t T --shallow-depth D
                       static baseline (DuoDiff-style): D blocks at the steps with t > T, all below
  --out DIR            write one PNG per image
  --json               print a JSON summary on stdout
  --quiet              no progress on stderr
  -h, --help           this text

bench: wall time per image (Node wasm, or the page's worker in Chromium with --browser) for the
monolithic graph, segmented full depth, adaptive θ sweep, static depth and a per-timestep
schedule; --markdown saves docs/results/<model>/step<N>-bench-<where>.json and renders FILE from
every saved run, with SVG plots in docs/results/<model>/plots/. --first-image times the page in Chromium from navigation to the first image,
cold (fresh profile), warm (cached) and hot (a third visit: V8's code cache in use), phase by phase, files served compressed as a static host would, the
network throttled to MBPS Mbit/s (default 10; 0: not throttled), N runs (default 5) for each model
directory (default: every shipped model) and each built site (default dist/; --site times several,
e.g. before=../old/dist,after=dist, interleaved). --scale times a large model (tools.export
import-official --random-weights): load, peak memory, one block, full depth against the one graph, 8 of
13 blocks, and GFLOP/s against one MatMul (tools.export matmul-probe); saved in docs/results/scale/.
eval: N samples per class at full depth and each θ (default: the manifest's calibrated θs; its
default θ always runs): class agreement and FID by the classifier in tools/export/judges/<data>, PSNR
against full depth, blocks saved. The default θ is the largest saving within the bound (agreement
at most D = 0.02 below full depth, FID at most R = 1.10× full depth); when no θ is within it, the
manifest's θ is kept and reported with withinBound false. --write-manifest stores the calibration
and that default θ in manifest.json. With --depth, --depths or --switch-t, eval runs that static
baseline against full depth instead of the θ sweep. Every row reports its saving by source:
savedByExits (exit decisions), savedBySchedule (passes the guidance schedule did not run) and
savedByFixedDepth (depths fixed ahead: the shallow unconditional pass, static baselines).`;

const processIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    io.stderr(`adadiff: ${messageOf(e)}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const command = COMMANDS[positionals[0] ?? ''];
  if (!command || positionals.length !== 1) {
    io.stderr(
      `adadiff: ${positionals.length ? `unknown command "${positionals.join(' ')}"` : 'no command'}\n${USAGE}\n`,
    );
    return 2;
  }
  try {
    return await command(values, io);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ParameterError) {
      io.stderr(`adadiff: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    const known = isAdaDiffError(e) || e instanceof BrowserBenchError;
    io.stderr(`adadiff: ${known ? e.message : `unexpected error: ${messageOf(e)}`}\n`);
    return 1;
  }
}

const COMMANDS: Record<string, (values: Values, io: CliIo) => Promise<number>> = {
  generate: runGenerate,
  bench: runBenchCommand,
  eval: runEvalCommand,
  soak: runSoakCommand,
};
