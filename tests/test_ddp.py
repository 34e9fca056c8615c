"""Two processes under torchrun (gloo, CPU) train what one process trains with the same global batch.

Fair by construction: no augmentation (each process would draw its own), frozen BatchNorm (each
process would normalise with its own half batch) and a preset without MI terms (InfoNCE and vCLUB
take their negatives from the batch, so half batches give other estimates). The preset is "rdm",
whose noisy branch gets no gradient: DDP runs only because fit() finds that out by itself
(train.find_unused_parameters=null).

What remains differs only in the order of floating-point sums (the all-reduce adds two half-batch
means), hence the tolerances: after four AdamW steps the weights differ by about 1e-8 (weights ~1;
with per-process BatchNorm instead of frozen they differ by 1e-2), and val mAP is equal unless a
heatmap's maximum sits on a near-tie, which moves one joint (< 0.5 AP here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch

from tdmi.engine import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
FAIR = [
    "preset=rdm",
    "model.tiny_width=8",
    "model.head_dilations=[3]",
    "train.clip.input_size=[48,64]",
    "train.clip.scale_factor=0",
    "train.clip.rotation=0",
    "train.clip.flip=false",
    "train.bn=frozen",
    "train.batch_size=8",
    "train.steps_per_epoch=2",
    "train.epochs=2",
    "train.val_every=2",
    "train.num_workers=0",
    "train.progress=false",
    "train.deterministic=true",
    "mlflow.experiment=ddp-test",
]


def _train(launcher: list[str], out: Path, root: Path, *extra: str) -> subprocess.Popen:
    cmd = [
        *launcher,
        "experiments/train.py",
        *FAIR,
        f"data.root={root}",
        f"train_dir={out / 'ckpt'}",
        f"metrics_dir={out / 'metrics'}",
        f"plots_dir={out / 'plots'}",
        f"hydra.run.dir={out / 'hydra'}",
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _outputs(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for part in ("ckpt", "metrics", "plots") for p in (out / part).rglob("*"))


def test_two_processes_equal_one(synth_root: Path, tmp_path: Path) -> None:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    uri = f"sqlite:///{tmp_path / 'ddp' / 'mlruns.db'}"
    runs = {
        "ddp": _train(torchrun, tmp_path / "ddp", synth_root, f"mlflow.tracking_uri={uri}"),
        "one": _train(
            [sys.executable],
            tmp_path / "one",
            synth_root,
            f"mlflow.tracking_uri=sqlite:///{tmp_path / 'one' / 'mlruns.db'}",
        ),
    }
    for name, proc in runs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: {err}"

    ddp, one = (load_checkpoint(tmp_path / name / "ckpt" / "last.pt") for name in ("ddp", "one"))
    for key, value in one["model"].items():
        if value.is_floating_point():
            torch.testing.assert_close(ddp["model"][key], value, rtol=1e-5, atol=1e-6, msg=f"model.{key}")
    assert not one["model"]["backbone.stem.1.running_mean"].any(), "frozen BatchNorm kept its statistics"
    (row_ddp,), (row_one,) = ([r for r in c["progress"]["history"] if r["epoch"] == 2] for c in (ddp, one))
    assert row_ddp["train/heatmap"] == pytest.approx(row_one["train/heatmap"], rel=1e-4)
    assert row_ddp["val/mAP"] == pytest.approx(row_one["val/mAP"], abs=0.5)

    assert _outputs(tmp_path / "ddp") == _outputs(tmp_path / "one")  # rank 0 alone wrote, nothing twice
    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(experiment_names=["ddp-test"], output_format="list")
    assert [m.step for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "train/heatmap")] == [1, 2]
