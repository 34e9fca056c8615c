"""One training run from the library's configs, tracked in MLflow: the unit both a sweep trial
and an ablation cell repeat. Data loading, model and loss are rebuilt per run because a study may
change any of them (input size, stages, MI weights)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow

from tdmi.data.clips import ClipConfig, PoseTrackClips
from tdmi.data.posetrack import load_posetrack
from tdmi.data.summary import fingerprint
from tdmi.engine import FitResult, TrainConfig, fit, load_checkpoint, seed_everything
from tdmi.engine.tracking import MLflowTracker
from tdmi.engine.train import Callback, resolve_device
from tdmi.losses import LossConfig, build_loss
from tdmi.models.tdmi import ModelConfig, build_model


@dataclass
class RunSpec:
    model: ModelConfig
    loss: LossConfig
    clip: ClipConfig
    train: TrainConfig
    preset: str
    data_root: Path  # holds annotations/{train,val}
    out_dir: Path  # fit()'s checkpoints
    config: Mapping[str, Any]  # the composed config: MLflow params and checkpoint "extra"


def interrupted(spec: RunSpec) -> dict[str, Any]:
    """The checkpoint an interrupted run of ``spec`` left, which fit() will resume from (empty when
    none or ``resume`` is off); its ``mlflow_run_id`` reopens that run so its curve stays whole."""
    last = spec.out_dir / "last.pt"
    return load_checkpoint(last) if spec.train.resume and last.exists() else {}


def train_run(spec: RunSpec, tracker: MLflowTracker, callbacks: Sequence[Callback] = (), **tags: str) -> FitResult:
    """Train ``spec`` inside ``tracker``'s active run: config as params, the usual tags plus
    ``tags``, per-epoch metrics, and at the end the artifacts and ``best/*`` summary metrics.

    The checkpoints carry the configs and the run id as experiments/train.py's do, so evaluation
    and resume treat them alike. ``best/AP/<joint group>`` (the epoch of best mAP) sits beside
    ``best/mAP`` so that a table over many runs is one ``mlflow.search_runs`` query.
    """
    annotations = spec.data_root / "annotations"
    train_set = PoseTrackClips(load_posetrack(annotations / "train"), spec.clip, train=True)
    val_set = PoseTrackClips(load_posetrack(annotations / "val"), spec.clip)
    seed_everything(spec.train.seed)
    model = build_model(spec.model)
    loss = build_loss(spec.loss, model)
    tracker.log_config(spec.config)
    tracker.set_tags(fingerprint(annotations), str(resolve_device(spec.train.device)), spec.preset, **tags)
    extra = {"config": dict(spec.config), "model_config": asdict(spec.model), "loss_config": asdict(spec.loss),
             "clip_config": asdict(spec.clip), "mlflow_run_id": tracker.run_id}  # as experiments/train.py writes them
    result = fit(model, loss, train_set, val_set, spec.train, spec.out_dir, [tracker, *callbacks], extra)
    tracker.log_result(result)
    best = next((row for row in result.history if row["epoch"] == result.best_epoch), {})
    mlflow.log_metrics({f"best/{k.removeprefix('val/')}": v for k, v in best.items() if k.startswith("val/AP/") and math.isfinite(v)})
    return result
