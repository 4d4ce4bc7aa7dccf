#!/usr/bin/env node
/**
 * Export parity: runs every ONNX segment of a model directory with onnxruntime-web (wasm) on the
 * inputs tools/export saved, chains the full-depth model, runs the monolithic graph, and compares
 * with PyTorch's outputs. `node test/parity/check.mjs MODEL_DIR FIXTURE_DIR` exits 1 above 1e-4.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';

export const TOLERANCE = 1e-4;

function fixtures(dir) {
  const meta = JSON.parse(readFileSync(path.join(dir, 'fixtures.json'), 'utf8'));
  const bin = readFileSync(path.join(dir, 'fixtures.bin'));
  const slice = (e) => bin.buffer.slice(bin.byteOffset + e.offset, bin.byteOffset + e.offset + e.bytes);
  const tensor = (name) => {
    const e = meta.tensors[name];
    if (!e) throw new Error(`fixture ${name} missing in ${dir}`);
    return e.dtype === 'int64'
      ? new ort.Tensor('int64', new BigInt64Array(slice(e)), e.dims)
      : new ort.Tensor('float32', new Float32Array(slice(e)), e.dims);
  };
  return { meta, tensor };
}

function maxAbs(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return a.length === b.length ? m : Infinity;
}

/** A block's inputs: the previous tokens, the timestep embedding if its graph takes one, its long skip if any. */
function feeds(block, hidden, temb, skipOf) {
  const timed = block.inputs.some((i) => i.name === 'temb');
  return {
    hidden,
    ...(timed ? { temb } : {}),
    ...(block.skipFrom === null ? {} : { skip: skipOf(block.skipFrom) }),
  };
}

/** Returns [{ name, error }] for every comparison made. */
export async function checkParity(modelDir, fixtureDir) {
  ort.env.logLevel = 'error';
  const manifest = JSON.parse(readFileSync(path.join(modelDir, 'manifest.json'), 'utf8'));
  const fx = fixtures(fixtureDir);
  const open = (spec) =>
    ort.InferenceSession.create(new Uint8Array(readFileSync(path.join(modelDir, spec.path))));
  const results = [];
  // the noisy images, timesteps and classes that both the embed and the monolithic graph take
  const imageInputs = () => ({
    x: fx.tensor('segments.x'),
    t: fx.tensor('segments.t'),
    ...(manifest.segments.embed.inputs.some((i) => i.name === 'y') ? { y: fx.tensor('segments.y') } : {}),
  });
  const compare = (name, got, want) => results.push({ name, error: maxAbs(got.data, fx.tensor(want).data) });

  const embed = await open(manifest.segments.embed);
  const e = await embed.run(imageInputs());
  compare('embed.hidden', e.hidden, 'segments.hidden');
  compare('embed.temb', e.temb, 'segments.temb');

  const head = await open(manifest.segments.head);
  // per segment: each block on PyTorch's inputs
  const blocks = manifest.segments.blocks;
  const sessions = [];
  for (let i = 0; i < blocks.length; i++) {
    const s = await open(blocks[i]);
    sessions.push(s);
    const hidden = fx.tensor(i === 0 ? 'segments.hidden' : `segments.block${i - 1}.hidden_out`);
    const skip = (j) => fx.tensor(`segments.block${j}.hidden_out`);
    const out = await s.run(feeds(blocks[i], hidden, fx.tensor('segments.temb'), skip));
    compare(`block${i}.hidden_out`, out.hidden_out, `segments.block${i}.hidden_out`);
    compare(`block${i}.uncertainty`, out.uncertainty, `segments.block${i}.uncertainty`);
    compare(`block${i}.exit`, (await head.run({ hidden: out.hidden_out })).eps, `segments.block${i}.eps`);
  }
  // chained: our own outputs feed the next block, as the runtime does
  let hidden = e.hidden;
  const outputs = [];
  for (let i = 0; i < blocks.length; i++) {
    hidden = (await sessions[i].run(feeds(blocks[i], hidden, e.temb, (j) => outputs[j]))).hidden_out;
    outputs.push(hidden);
  }
  compare('chained.eps', (await head.run({ hidden })).eps, 'segments.eps');
  const prefix = manifest.segments.prefix;
  if (prefix) {
    // the fused embed + first blocks: its outputs are the per-segment fixtures of those blocks
    const fused = await open(prefix);
    const out = await fused.run(imageInputs());
    const last = prefix.depth - 1;
    compare('prefix.hidden', out.hidden, `segments.block${last}.hidden_out`);
    compare('prefix.temb', out.temb, 'segments.temb');
    const batch = out.uncertainty.dims[0];
    for (let i = 0; i < prefix.depth; i++) {
      const column = Float32Array.from(
        { length: batch },
        (_, b) => out.uncertainty.data[b * prefix.depth + i],
      );
      compare(`prefix.uncertainty[${i}]`, { data: column }, `segments.block${i}.uncertainty`);
    }
    for (const o of prefix.outputs.filter((o) => /^hidden_\d+$/.test(o.name))) {
      compare(`prefix.${o.name}`, out[o.name], `segments.block${Number(o.name.slice(7))}.hidden_out`);
    }
    await fused.release();
  }
  if (manifest.baselines?.monolithic) {
    const mono = await open(manifest.baselines.monolithic);
    const out = await mono.run(imageInputs());
    compare('monolithic.eps', out.eps, 'segments.eps');
    await mono.release();
  }
  await Promise.all([embed, head, ...sessions].map((s) => s.release()));
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [modelDir, fixtureDir] = process.argv.slice(2);
  if (!modelDir || !fixtureDir) {
    console.error('usage: node test/parity/check.mjs MODEL_DIR FIXTURE_DIR');
    process.exit(2);
  }
  const results = await checkParity(modelDir, fixtureDir);
  const worst = results.reduce((a, b) => (b.error > a.error ? b : a));
  const failed = results.filter((r) => !(r.error <= TOLERANCE));
  for (const r of failed) console.error(`FAIL ${r.name}: max abs error ${r.error}`);
  console.log(
    `${results.length} comparisons, worst ${worst.name} ${worst.error.toExponential(2)} (tolerance ${TOLERANCE})`,
  );
  process.exit(failed.length ? 1 : 0);
}
