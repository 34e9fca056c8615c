"""DVC stage `train`: config -> dataclasses -> tdmi.engine.fit, tracked as one MLflow run.

    python experiments/train.py [experiment=posetrack17_w48] [model=tde2] [train.epochs=3] ...
    torchrun --nproc_per_node=8 experiments/train.py experiment=posetrack17_w48 data.root=...

Writes (rank 0): `train_dir`/{last,best}.pt, predictions.json and per_joint.csv of the best epoch,
`metrics_dir`/train.json and `plots_dir`/learning_curve.csv. Returns the best val mAP, so a Hydra
sweeper can optimise it. A rerun with the same `train_dir` resumes (train.resume=false: start over),
logging to the same MLflow run: its id travels in the checkpoints.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from tdmi.data.clips import ClipConfig, PoseTrackClips
from tdmi.data.posetrack import load_posetrack
from tdmi.data.summary import fingerprint
from tdmi.engine import TrainConfig, fit, init_distributed, load_checkpoint, seed_everything
from tdmi.engine.tracking import MLflowTracker, write_csv_rows
from tdmi.engine.train import resolve_device
from tdmi.eval.results import write_metrics_json
from tdmi.losses import LossConfig, build_loss
from tdmi.models.presets import preset_configs
from tdmi.models.tdmi import ModelConfig, build_model


def dataclasses_from(cfg: DictConfig) -> tuple[ModelConfig, LossConfig, ClipConfig, TrainConfig]:
    """The composed config as the library's dataclasses; a wrong value fails here, before any work."""
    config = OmegaConf.to_container(cfg, resolve=True)
    model_cfg, loss_cfg = preset_configs(config["model"].pop("preset"), **config["model"])
    clip_cfg = ClipConfig(**config["train"].pop("clip"))
    if len(clip_cfg.offsets) != model_cfg.num_frames:
        raise ValueError(f"train.clip.offsets {clip_cfg.offsets} give {len(clip_cfg.offsets)} frames; model.num_frames is {model_cfg.num_frames}")
    return model_cfg, loss_cfg, clip_cfg, TrainConfig(seed=cfg.seed, **config["train"])


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    model_cfg, loss_cfg, clip_cfg, train_cfg = dataclasses_from(cfg)
    rank, _ = init_distributed()
    root = Path(to_absolute_path(cfg.data.root))
    train_set = PoseTrackClips(load_posetrack(root / "annotations" / "train"), clip_cfg, train=True)
    val_set = PoseTrackClips(load_posetrack(root / "annotations" / "val"), clip_cfg)
    seed_everything(cfg.seed)
    model = build_model(model_cfg)
    loss = build_loss(loss_cfg, model)
    extra = {"config": OmegaConf.to_container(cfg, resolve=True), "model_config": asdict(model_cfg),
             "loss_config": asdict(loss_cfg), "clip_config": asdict(clip_cfg)}
    out_dir = Path(to_absolute_path(cfg.train_dir))
    tracker, resumed = None, {}
    if rank == 0 and cfg.mlflow.enabled:
        if train_cfg.resume and (out_dir / "last.pt").exists():
            resumed = load_checkpoint(out_dir / "last.pt")
        tracker = MLflowTracker(cfg.mlflow.experiment, cfg.mlflow.tracking_uri, cfg.mlflow.run_name,
                                run_id=resumed.get("mlflow_run_id"))
    with tracker or contextlib.nullcontext():
        if tracker:
            extra["mlflow_run_id"] = tracker.run_id
            tracker.log_config(extra["config"])
            tracker.log_missing_epochs(resumed["progress"]["history"] if resumed else [])
            tracker.set_tags(fingerprint(root / "annotations"), str(resolve_device(train_cfg.device)), cfg.model.preset)
        result = fit(model, loss, train_set, val_set, train_cfg, out_dir, [tracker] if tracker else [], extra)
        if rank == 0:
            best = next((row for row in result.history if row["epoch"] == result.best_epoch), {})
            write_metrics_json({"best_epoch": result.best_epoch, "best_mAP": result.best_metric, "epochs": len(result.history),
                                "skipped_steps": result.skipped_steps, "best": best, "last": result.history[-1]},
                               Path(to_absolute_path(cfg.metrics_dir)) / "train.json")
            write_csv_rows(result.history, Path(to_absolute_path(cfg.plots_dir)) / "learning_curve.csv")
            if tracker:
                tracker.log_result(result)
    return result.best_metric


if __name__ == "__main__":
    main()
