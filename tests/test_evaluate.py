"""experiments/evaluate.py end to end on a tiny trained checkpoint, and its checkpoint errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from tdmi.data.clips import ClipConfig, PoseTrackClips
from tdmi.data.posetrack import load_posetrack
from tdmi.engine import (
    CheckpointError,
    TrainConfig,
    fit,
    model_from_checkpoint,
    save_checkpoint,
    seed_everything,
)
from tdmi.eval import posetrack
from tdmi.eval.results import COLUMNS
from tdmi.losses import build_loss
from tdmi.models.presets import preset_configs
from tdmi.models.tdmi import build_model

REPO = Path(__file__).resolve().parents[1]
CLIP = ClipConfig(input_size=(48, 64))


@pytest.fixture(scope="module")
def checkpoint(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of two steps of the tiny full model, saved as experiments/train.py saves it."""
    seed_everything(0)
    model_cfg, loss_cfg = preset_configs("tdmi", tiny_width=8, head_dilations=(3,), mi_hidden=16, mi_dim=8)
    model = build_model(model_cfg)
    train_set = PoseTrackClips(load_posetrack(synth_root / "annotations" / "train"), CLIP, train=True)
    extra = {"model_config": asdict(model_cfg), "loss_config": asdict(loss_cfg), "clip_config": asdict(CLIP)}
    out = tmp_path_factory.mktemp("ckpt")
    fit(
        model,
        build_loss(loss_cfg, model),
        train_set,
        None,
        TrainConfig(epochs=1, batch_size=4, steps_per_epoch=2, progress=False),
        out,
        extra=extra,
    )
    return out / "last.pt"


def _evaluate(tmp: Path, root: Path, ckpt: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "experiments/evaluate.py",
        f"ckpt={ckpt}",
        f"data.root={root}",
        f"eval_dir={tmp / 'eval'}",
        f"metrics_dir={tmp / 'metrics'}",
        f"plots_dir={tmp / 'plots'}",
        "train.num_workers=0",
        "train.batch_size=16",
        f"hydra.run.dir={tmp / 'hydra'}",
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_evaluate_writes_metrics_plot_and_predictions_poseval_rescores(
    synth_root: Path, checkpoint: Path, tmp_path: Path
) -> None:
    out = _evaluate(tmp_path, synth_root, checkpoint, f"paths.root={checkpoint.parent.parent}")
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert metrics["checkpoint"] == f"{checkpoint.parent.name}/last.pt"  # relative to paths.root: no machine's path
    assert list(metrics["AP"]) == list(COLUMNS) and metrics["mAP"] == metrics["AP"]["Mean"]
    assert {"AP", "AP50", "AR"} <= set(metrics["oks"]) and metrics["epoch"] == 1 and metrics["clips"] > 0
    with open(tmp_path / "plots" / "per_joint_ap.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["joint"] for r in rows] == list(COLUMNS[:-1]) and all(0 <= float(r["ap"]) <= 100 for r in rows)
    assert "PoseTrack AP" in out.stdout and "Ankle" in out.stdout

    predictions = tmp_path / "eval" / "predictions"
    assert sorted(p.name for p in predictions.iterdir()) == sorted(
        p.name for p in (synth_root / "annotations" / "val").iterdir()
    )
    assert (
        posetrack.main(
            [
                "--gt",
                str(synth_root / "annotations" / "val"),
                "--pred",
                str(predictions),
                "--json",
                str(tmp_path / "poseval.json"),
            ]
        )
        == 0
    )
    rescored = json.loads((tmp_path / "poseval.json").read_text())["AP"]
    assert rescored == pytest.approx(metrics["AP"], abs=1e-9)


def test_missing_or_corrupt_checkpoint_is_named(synth_root: Path, checkpoint: Path, tmp_path: Path) -> None:
    out = _evaluate(tmp_path, synth_root, tmp_path / "nope.pt")
    assert out.returncode != 0 and f"{tmp_path / 'nope.pt'}: no such checkpoint file" in out.stderr
    assert "Traceback" not in out.stderr
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=f"{corrupt}: not a readable checkpoint"):
        model_from_checkpoint(corrupt)
    bare = save_checkpoint({"model": torch.nn.Linear(1, 1).state_dict()}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match=r"bare.pt: lacks \['model_config', 'clip_config'\]"):
        model_from_checkpoint(bare)


def test_detected_boxes_below_the_threshold_are_dropped(synth_root: Path, checkpoint: Path, tmp_path: Path) -> None:
    """Ground-truth boxes posing as detections, every other one scored under the threshold."""
    frames = [f for video in load_posetrack(synth_root / "annotations" / "val") for f in video.frames if f.is_labeled]
    boxes = [
        {"image_id": f.image_id, "bbox": p.bbox.tolist(), "score": 0.9 if k % 2 else 0.3, "category_id": 1}
        for f in frames
        for k, p in enumerate(f.people)
    ]
    (tmp_path / "dets.json").write_text(json.dumps(boxes))
    out = _evaluate(
        tmp_path,
        synth_root,
        checkpoint,
        "boxes=detections",
        f"detections={tmp_path / 'dets.json'}",
        "train.clip.det_score_threshold=0.5",
        "train.flip_test=true",
    )
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert metrics["clips"] == sum(b["score"] > 0.5 for b in boxes) and metrics["boxes"] == "detections"
    assert metrics["flip_test"] is True
