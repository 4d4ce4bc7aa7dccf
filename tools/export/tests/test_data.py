"""The data interface: folders, IDX files and presets, what each bad input says, and colour and
unconditional models from a folder of images through training, export and the runtime."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from tools.export.core import data
from tools.export.core.errors import UserError
from tools.export.core.images import Options, group_key, split_groups

from .conftest import ROOT, shapes, write_pngs
from .test_train_export import TINY, assert_clear_error, run


def test_a_class_folder_set_keeps_its_held_out_split_apart(rgb_folder):
    train = data.load(rgb_folder, "train", Options())
    held = data.load(rgb_folder, "heldout", Options())
    assert train.classes == held.classes == ["circle", "square", "star"]
    assert train.images.shape[1:] == (3, 28, 28) and train.images.dtype == np.uint8
    assert len(train.images) + len(held.images) == 36
    assert train.split == held.split == {"rule": train.split["rule"], "train": len(train.images),
                                         "heldout": len(held.images)}
    # a tenth of each class's 12 images, rounded, and at least one
    assert np.bincount(held.labels).tolist() == [1, 1, 1]
    # no held-out image is also a training image
    flat = {a.tobytes() for a in train.images}
    assert not any(a.tobytes() in flat for a in held.images)
    assert data.load(rgb_folder, "heldout", Options()).images.tobytes() == held.images.tobytes()  # fixed


def test_files_sharing_a_stem_share_a_split():
    assert group_key("Flags/1f1e6.google.png") == group_key("Flags/1f1e6.twitter.png") == "Flags/1f1e6"
    keys = [f"c/{k}" for k in range(40)]
    held = split_groups(keys, 0.1)
    assert len(held) == 4 and split_groups(keys + ["c/new"], 0.1) >= held - {"c/new"}  # adding one moves none


def test_an_unconditional_folder_has_no_classes(unconditional_folder):
    ds = data.load(unconditional_folder, "train", Options())
    assert ds.classes == [] and set(ds.labels.tolist()) == {0}
    assert len(ds.images) == 27  # 30, a tenth held out


def test_an_empty_folder_says_so(tmp_path):
    with pytest.raises(UserError, match="has no images"):
        data.load(str(tmp_path), "train", Options())


def test_a_class_with_one_image_is_refused(tmp_path):
    images, _ = shapes(5, 1, 16, 3, 0)
    write_pngs(str(tmp_path / "many"), images[:4], [f"{k}.png" for k in range(4)])
    write_pngs(str(tmp_path / "lonely"), images[4:], ["0.png"])
    with pytest.raises(UserError, match="class folder 'lonely' has only one image"):
        data.load(str(tmp_path), "train", Options())


def test_mixed_sizes_are_resized_by_the_rule_and_counted(tmp_path):
    from PIL import Image

    images, _ = shapes(6, 1, 16, 3, 0)
    write_pngs(str(tmp_path), images, [f"{k}.png" for k in range(6)])
    Image.new("RGB", (40, 20), (10, 200, 30)).save(tmp_path / "wide.png")
    with pytest.raises(UserError, match="come in 2 sizes"):
        data.load(str(tmp_path), "train", Options())  # no size set: the images must agree
    crop = {split: data.load(str(tmp_path), split, Options(size=16)) for split in ("train", "heldout")}
    notes = crop["train"].notes + crop["heldout"].notes
    assert any("resized 1 image(s) of 1 size(s) (40×20) to 16×16 by center-crop" in n for n in notes), notes
    split = next(k for k, ds in crop.items() if ds.notes)
    assert crop[split].images.shape[1:] == (3, 16, 16)
    # the wide image's central square is all green; padded to a square it gains the white background
    pad = data.load(str(tmp_path), split, Options(size=16, resize="pad"))
    assert not np.array_equal(crop[split].images, pad.images)
    assert (crop[split].images == np.array([10, 200, 30], np.uint8)[:, None, None]).all(axis=(1, 2, 3)).any()


def test_a_file_that_is_not_an_image(tmp_path):
    images, _ = shapes(4, 1, 16, 3, 0)
    write_pngs(str(tmp_path), images, [f"{k}.png" for k in range(4)])
    (tmp_path / "notes.txt").write_text("not a picture")
    ds = data.load(str(tmp_path), "train", Options())
    assert any("skipped 1 file(s) that are not images by their extension: notes.txt" in n for n in ds.notes)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(UserError, match="could not be read as images: broken.png"):
        data.load(str(tmp_path), "train", Options())


def test_a_grey_image_in_a_colour_set_is_converted_and_counted(tmp_path):
    from PIL import Image

    images, _ = shapes(6, 1, 16, 3, 0)
    write_pngs(str(tmp_path), images, [f"{k}.png" for k in range(6)])
    Image.new("L", (16, 16), 128).save(tmp_path / "grey.png")
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    train, held = (data.load(str(tmp_path), s, Options()) for s in ("train", "heldout"))
    notes = train.notes + held.notes
    assert train.channels == 3
    assert any("repeated 1 grey image(s) to RGB" in n for n in notes), notes
    assert any("composited 1 image(s) with transparency onto background rgb(255, 255, 255)" in n for n in notes)
    everything = np.concatenate([train.images, held.images])
    assert any((a == 255).all() for a in everything)  # the transparent image became the white background


def test_class_folders_beside_loose_images_are_ambiguous(rgb_folder, tmp_path):
    shutil.copytree(rgb_folder, tmp_path / "set")
    shutil.copy(tmp_path / "set" / "star" / "img00.png", tmp_path / "set" / "stray.png")
    with pytest.raises(UserError, match="holds both class subfolders"):
        data.load(str(tmp_path / "set"), "train", Options())


def test_an_unknown_preset_or_missing_folder(tmp_path):
    with pytest.raises(UserError, match="no such folder, and not a preset"):
        data.load("cifar-10", "train", Options())


def test_idx_files_and_their_class_names(idx_dir):
    ds = data.load(idx_dir, "train", Options())
    assert ds.classes == [str(k) for k in range(10)] and ds.images.shape == (300, 1, 28, 28)
    assert ds.split == {"rule": "the set's own train and t10k files", "train": 300, "heldout": 100}
    rgb = data.load(idx_dir, "heldout", Options(channels=3))
    assert rgb.images.shape == (100, 3, 28, 28) and (rgb.images[:, 0] == rgb.images[:, 2]).all()


def train_export_and_run(folder, tmp_path, extra_args=()):
    """Train TINY briefly on a folder, export with fixtures, and check the runtime against PyTorch."""
    run_dir, model_dir, fixture_dir = (str(tmp_path / n) for n in ("run", "model", "fixtures"))
    run("tools.export", "train", "--config", TINY, "--data", folder, "--out", run_dir, "--steps", "30",
        "--threads", "1")
    run("tools.export", "export", "--checkpoint", os.path.join(run_dir, "weights.pt"), "--out", model_dir,
        "--fixtures", fixture_dir, *extra_args)
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    node = shutil.which("node")
    assert node is not None, "the parity checks need Node.js"
    segments = subprocess.run([node, "test/parity/check.mjs", model_dir, fixture_dir], cwd=ROOT, capture_output=True,
                              text=True)
    assert segments.returncode == 0, segments.stdout + segments.stderr
    tsx = os.path.join(ROOT, "node_modules", ".bin", "tsx")
    sampling = subprocess.run([tsx, "test/parity/sampling.ts", model_dir, fixture_dir], cwd=ROOT,
                              capture_output=True, text=True)
    assert sampling.returncode == 0, sampling.stdout + sampling.stderr
    assert sampling.stdout.count("exits equal") == 2, sampling.stdout
    return run_dir, manifest


def test_a_colour_class_folder_trains_exports_and_runs_with_parity(rgb_folder, tmp_path):
    run_dir, manifest = train_export_and_run(rgb_folder, tmp_path)
    assert manifest["image"]["channels"] == 3
    assert manifest["classes"] == ["circle", "square", "star"] and manifest["nullClass"] == 3
    assert manifest["data"]["split"]["heldout"] == 3 and manifest["data"]["name"] == os.path.basename(rgb_folder)
    assert [i["name"] for i in manifest["segments"]["embed"]["inputs"]] == ["x", "t", "y"]
    assert manifest["name"].endswith(f"({os.path.basename(rgb_folder)})")


def test_an_unconditional_folder_trains_exports_runs_and_calibrates_without_a_judge(unconditional_folder, tmp_path):
    run_dir, manifest = train_export_and_run(unconditional_folder, tmp_path)
    assert manifest["classes"] == [] and "nullClass" not in manifest
    assert [i["name"] for i in manifest["segments"]["embed"]["inputs"]] == ["x", "t"]
    assert [i["name"] for i in manifest["baselines"]["monolithic"]["inputs"]] == ["x", "t"]
    assert manifest["defaults"]["guidance"] == 1.0
    # no judge: θ is held to the full-depth samples of the same seeds, by PSNR
    report = str(tmp_path / "eval.json")
    run("tools.export", "evaluate", "--checkpoint", os.path.join(run_dir, "weights.pt"), "--per-class", "3",
        "--thresholds", "0.3,0.9", "--threads", "1", "--out", report)
    r = json.load(open(report))
    assert r["judge"].startswith("none: mean PSNR") and "agreement" not in r["full"]
    assert [row["threshold"] for row in r["calibration"]] == [0.0, 0.3, 0.9]
    assert all("psnr" in row for row in r["calibration"][1:]) and r["calibration"][0]["samples"] == 3
    picked = run("tools.export", "choose-default", report, "--out", str(tmp_path / "chosen.json"))
    assert "PSNR to the full-depth samples" in picked.stdout
    # an unconditional model cannot be asked for guidance
    p = run("tools.export", "evaluate", "--checkpoint", os.path.join(run_dir, "weights.pt"), "--judge", "x.pt",
            "--real-floor", "--per-class", "1", "--full-only", check=False)
    assert_clear_error(p, "--real-floor needs a judge")


def test_evaluate_reports_the_floor_and_memorisation_with_a_judge(rgb_folder, tmp_path):
    run_dir = str(tmp_path / "run")
    run("tools.export", "train", "--config", TINY, "--data", rgb_folder, "--out", run_dir, "--steps", "5",
        "--threads", "1")
    judge_dir = str(tmp_path / "judge")
    run("tools.export", "classifier", "--data", rgb_folder, "--out", judge_dir, "--steps", "10", "--threads", "1")
    info = json.load(open(os.path.join(judge_dir, "classifier.json")))
    assert info["classes"] == ["circle", "square", "star"] and info["input"]["dims"] == ["batch", 3, 28, 28]
    report, grid = str(tmp_path / "eval.json"), str(tmp_path / "nn.png")
    run("tools.export", "evaluate", "--checkpoint", os.path.join(run_dir, "weights.pt"), "--judge",
        os.path.join(judge_dir, "classifier.pt"), "--per-class", "2", "--full-only", "--real-floor", "--memorisation",
        "--nn-grid", grid, "--threads", "1", "--out", report)
    r = json.load(open(report))
    assert r["realFloor"]["samples"] == 6 and r["realFloor"]["images"] == "training split"
    # full depth: every image runs every block of both passes at each of the 4 steps, the same for all
    depth = r["full"]["blocksPerImage"]
    assert (depth["min"], depth["max"], depth["withinClassStd"], len(depth["byClass"])) == (24, 24, 0.0, 3)
    memo = r["memorisation"]
    assert memo["samples"]["count"] == 6 and memo["heldOut"]["count"] == 3
    assert 0 <= memo["samplesNearerThanHeldOutQ05"] <= 1
    assert os.path.getsize(grid) > 0
