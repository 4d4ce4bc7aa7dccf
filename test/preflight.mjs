/**
 * `npm test`'s first step: checks that what the tests need is installed, and if not says in one
 * line what is missing and how to install it, instead of failing half-way with a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CHROMIUM_PATH } from '../src/bench/chromium.mjs';

const PYTHON = '/usr/bin/python3';
const DATA = '/usr/share/datasets/fashion-mnist';
const missing = [];
if (!existsSync(CHROMIUM_PATH)) missing.push(['chromium', `no Chromium at ${CHROMIUM_PATH}`]);
if (!existsSync(PYTHON)) missing.push(['python3', `no ${PYTHON}`]);
else {
  for (const [pkg, mod] of [
    ['python3-torch', 'torch'],
    ['python3-onnx', 'onnx'],
    ['python3-pytest', 'pytest'],
    ['python3-numpy', 'numpy'],
  ]) {
    const r = spawnSync(PYTHON, ['-c', `import ${mod}`], { stdio: 'ignore' });
    if (r.status !== 0) missing.push([pkg, `${PYTHON} cannot import ${mod}`]);
  }
}
if (!existsSync(DATA)) missing.push(['dataset-fashion-mnist', `no data set at ${DATA}`]);

if (missing.length) {
  const pkgs = missing.map(([p]) => p).join(' ');
  console.error(
    `npm test needs what is not installed here (${missing.map(([, why]) => why).join('; ')}): ` +
      `apt-get install -y ${pkgs} libopenblas0-pthread (as root; .ci/run does it), then run npm test again.`,
  );
  process.exit(1);
}
console.log(
  'preflight: chromium, Debian PyTorch + onnx + pytest and the Fashion-MNIST data set are installed',
);
