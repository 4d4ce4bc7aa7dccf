"""Writes test/fixtures/models/uncond-rgb-tiny: a tiny unconditional colour model for the browser
tests (the page and the widget with no class control). Its weights are 30 steps of training on
synthetic shapes, enough for a manifest, a real graph and an image; quality is not the point.

    /usr/bin/python3 -m tools.export.tests.make_fixture_models
"""

import os
import shutil
import subprocess
import sys
import tempfile

from .conftest import ROOT, shapes, write_pngs

OUT = os.path.join(ROOT, "test", "fixtures", "models", "uncond-rgb-tiny")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        images, _ = shapes(30, 3, 28, 3, 3)
        data = os.path.join(tmp, "uncond-rgb-tiny")
        write_pngs(data, images, [f"img{k:02d}.png" for k in range(len(images))])
        run_dir = os.path.join(tmp, "run")
        tool = [sys.executable, "-m", "tools.export"]
        config = os.path.join(ROOT, "tools", "export", "configs", "tiny.json")
        subprocess.run([*tool, "train", "--config", config, "--data", data, "--out", run_dir, "--steps", "30",
                        "--threads", "1"], cwd=ROOT, check=True)
        shutil.rmtree(OUT, ignore_errors=True)
        subprocess.run([*tool, "export", "--checkpoint", os.path.join(run_dir, "weights.pt"), "--out", OUT,
                        "--threshold", "0.5", "--storage", "int8"], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
