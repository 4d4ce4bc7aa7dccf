/**
 * `npm test`'s first step: what the tests need beyond npm's packages (Debian's Chromium, PyTorch,
 * ONNX, pytest, Pillow and the Fashion-MNIST data set). Where it is missing on a Debian machine and
 * we are root, it installs it with apt-get and says so, which is how a fresh clone passes
 * `npm install && npm test` and how .ci/run sets a machine up; elsewhere it says in one line what
 * to install, instead of failing half-way with a stack trace. ADADIFF_NO_INSTALL=1 never installs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CHROMIUM_PATH } from '../src/bench/chromium.mjs';

const PYTHON = '/usr/bin/python3';
const DATA = '/usr/share/datasets/fashion-mnist';
// without it Debian's PyTorch falls back to reference BLAS, about 15× slower (tests time out)
const OPENBLAS = 'libopenblas0-pthread';

const pythonImports = (mod) =>
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;
const debianHas = (pkg) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('installed');

const NEEDS = [
  { pkg: 'chromium', why: `no Chromium at ${CHROMIUM_PATH}`, ok: () => existsSync(CHROMIUM_PATH) },
  { pkg: 'python3-torch', why: `${PYTHON} cannot import torch`, ok: () => pythonImports('torch') },
  { pkg: 'python3-onnx', why: `${PYTHON} cannot import onnx`, ok: () => pythonImports('onnx') },
  { pkg: 'python3-pytest', why: `${PYTHON} cannot import pytest`, ok: () => pythonImports('pytest') },
  { pkg: 'python3-numpy', why: `${PYTHON} cannot import numpy`, ok: () => pythonImports('numpy') },
  { pkg: 'python3-pil', why: `${PYTHON} cannot import PIL`, ok: () => pythonImports('PIL') },
  { pkg: 'dataset-fashion-mnist', why: `no data set at ${DATA}`, ok: () => existsSync(DATA) },
];
const missingNow = () => NEEDS.filter((n) => !n.ok());

const onDebian = existsSync('/usr/bin/apt-get') && existsSync('/usr/bin/dpkg-query');
const canInstall = onDebian && process.getuid?.() === 0 && process.env.ADADIFF_NO_INSTALL !== '1';

let missing = missingNow();
const extras = onDebian && !debianHas(OPENBLAS) ? [OPENBLAS] : [];
if ((missing.length || extras.length) && canInstall) {
  const pkgs = [...missing.map((n) => n.pkg), ...extras];
  console.log(
    `preflight: installing ${pkgs.join(' ')} with apt-get (root on Debian; ADADIFF_NO_INSTALL=1 stops this)`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status;
  if (apt(['update', '-q']) !== 0 || apt(['install', '-y', '-q', '--no-install-recommends', ...pkgs]) !== 0) {
    console.error(`preflight: apt-get could not install ${pkgs.join(' ')}; see its message above.`);
    process.exit(1);
  }
  missing = missingNow();
}
if (missing.length) {
  const pkgs = [...missing.map((n) => n.pkg), OPENBLAS].join(' ');
  console.error(
    `npm test needs what is not installed here (${missing.map((n) => n.why).join('; ')}): ` +
      `apt-get install -y ${pkgs} (as root on Debian, npm test does this itself), then run npm test again.`,
  );
  process.exit(1);
}
console.log(
  'preflight: Chromium, Debian PyTorch + ONNX + pytest + Pillow and the Fashion-MNIST data set are installed',
);
