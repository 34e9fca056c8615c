"""experiments/predict.py: a checkpoint over real frames + detections, and over annotated
synthetic frames, writes PoseTrack predictions, overlays and the manifest the dashboard reads."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from test_dashboard import REAL_BOXES, REPO, SAMPLE_FRAMES, workbench  # noqa: F401  (fixture)

from tdmi.data.clips import ClipConfig
from tdmi.data.posetrack import load_posetrack
from tdmi.engine import save_checkpoint, seed_everything
from tdmi.eval.results import read_posetrack_results
from tdmi.models.presets import ABLATION_ORDER, preset_configs
from tdmi.models.tdmi import build_model
from tdmi.results.qualitative import predict_output_sample, videos_from_frames


def test_predict_on_real_frames(workbench: dict) -> None:  # noqa: F811
    out = workbench["predicted"]
    videos = videos_from_frames(SAMPLE_FRAMES)
    predictions = read_posetrack_results(out / "predictions", videos)
    assert [len(predictions[f.image_id]) for f in videos[0].frames] == [len(REAL_BOXES)] * 5
    assert all(np.isfinite(p.joints).all() and 0 <= p.score <= 1 for ps in predictions.values() for p in ps)
    overlays = sorted((out / "overlays" / SAMPLE_FRAMES.name).glob("*.jpg"))
    assert [p.name for p in overlays] == [f"{i:06d}.jpg" for i in range(5)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["boxes"] == "detections" and manifest["offsets"] == [-2, -1, 0, 1, 2] and manifest["people"] == 15
    assert not predict_output_sample(out).has_ground_truth


def test_predict_on_annotated_frames_equals_the_runs_validation(workbench: dict, tmp_path: Path) -> None:  # noqa: F811
    """Same checkpoint, same video, ground-truth boxes: the predictions training validated with."""
    video_file = sorted((workbench["synth_root"] / "annotations" / "val").glob("*.json"))[0]
    out = tmp_path / "synth"
    subprocess.run(
        [
            sys.executable,
            "experiments/predict.py",
            f"ckpt={workbench['result'].files['best']}",
            f"annotations={video_file}",
            f"out={out}",
            "overlays=false",
            "batch_size=8",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    videos = load_posetrack(video_file)
    ours = read_posetrack_results(out / "predictions", videos)
    validation = read_posetrack_results(workbench["result"].files["predictions"], videos)
    assert ours.keys() == validation.keys()
    for image_id, people in ours.items():
        for a, b in zip(people, validation[image_id], strict=True):
            np.testing.assert_allclose(
                a.joints, b.joints, atol=0.5
            )  # px: an untrained net's flat heatmaps make DARK float-sensitive
            assert a.score == pytest.approx(b.score, abs=1e-4)
    assert predict_output_sample(out).has_ground_truth and not (out / "overlays").exists()


def test_predict_needs_frames_or_annotations(workbench: dict, tmp_path: Path) -> None:  # noqa: F811
    done = subprocess.run(
        [sys.executable, "experiments/predict.py", f"ckpt={workbench['result'].files['best']}", f"out={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "give exactly one of frames=DIR or annotations=FILE_OR_DIR" in done.stderr


def test_predict_needs_no_pretrained_backbone_file(synth_root: Path, tmp_path: Path) -> None:
    """A checkpoint of the posetrack*_w48 recipe names the HRNet file it started from; the trained
    weights replace it, so predicting where that file is absent must work (it failed: predict.py
    rebuilt the model itself, pretrained path included)."""
    seed_everything(0)
    model_cfg, _ = preset_configs(ABLATION_ORDER[0], tiny_width=8, head_dilations=(3,))
    clip = ClipConfig(input_size=(48, 64))
    ckpt = save_checkpoint(
        {
            "model": build_model(model_cfg).state_dict(),
            "clip_config": asdict(clip),
            "model_config": {**asdict(model_cfg), "pretrained": str(tmp_path / "absent_hrnet_w48.pth")},
        },
        tmp_path / "best.pt",
    )
    video_file = sorted((synth_root / "annotations" / "val").glob("*.json"))[0]
    done = subprocess.run(
        [
            sys.executable,
            "experiments/predict.py",
            f"ckpt={ckpt}",
            f"annotations={video_file}",
            f"out={tmp_path / 'out'}",
            "overlays=false",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "predictions" / video_file.name).is_file()
