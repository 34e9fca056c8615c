"""Evaluate a checkpoint on a dataset's val split: the `evaluate` stage as a library call.

The model and its clip settings come from the checkpoint (:func:`model_from_checkpoint`), so a
checkpoint is evaluated as it was trained; the data, the boxes (ground truth or a detector's), the
flip test, the detection score threshold and the device come from the spec. Outputs: the metrics
JSON (the checkpoint named relative to the project root, so the committed file holds no machine's
absolute path), the per-joint AP CSV for `dvc plots`, and one PoseTrack result file per video.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import print as rprint
from torch.utils.data import DataLoader

from tdmi.data.clips import PoseTrackClips
from tdmi.data.datasets import load_dataset
from tdmi.data.joints import joint_set
from tdmi.data.posetrack import load_detections
from tdmi.engine.checkpoint import model_from_checkpoint
from tdmi.engine.predict import evaluate, predict
from tdmi.engine.train import autocast_for, resolve_device
from tdmi.eval.hieve import DEFAULT_METRIC, HiEveMetric, write_submission
from tdmi.eval.posetrack import print_table
from tdmi.eval.results import write_metrics_json, write_posetrack_results
from tdmi.utils.config import require
from tdmi.utils.io import write_csv_rows
from tdmi.utils.paths import project_root, relative_to_root, under_root

BOXES = ("gt", "detections")


@dataclass
class EvaluationSpec:
    ckpt: Path
    data_root: Path
    eval_dir: Path  # predictions/: one PoseTrack result file per video
    metrics_file: Path  # eval.json
    plot_file: Path  # per_joint_ap.csv
    root: Path  # the project root: paths in eval.json are relative to it
    dataset: str = "posetrack"
    boxes: str = "gt"
    detections: Path | None = None
    flip_test: bool = False
    det_score_threshold: float | None = None  # None: the checkpoint's clip config
    device: str = "auto"
    batch_size: int = 16
    num_workers: int = 0
    amp: str = "none"
    hieve: HiEveMetric = DEFAULT_METRIC  # HiEve's metric options (config hieve_metric)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], root: str | Path | None = None) -> EvaluationSpec:
        """The composed config (``ckpt``, ``boxes``, ``detections``, ``eval_dir``, ``metrics_dir``,
        ``plots_dir``, ``data``, ``train``, ``hieve_metric``); a ConfigError names a bad key."""
        root = project_root(root)
        boxes, detections = config["boxes"], config.get("detections")
        require(boxes in BOXES, "boxes", boxes, f"must be one of {BOXES}")
        require(boxes == "gt" or bool(detections), "detections", detections, "boxes=detections needs detections=FILE")
        train = config["train"]
        return cls(
            ckpt=under_root(config["ckpt"], root),
            data_root=under_root(config["data"]["root"], root),
            eval_dir=under_root(config["eval_dir"], root),
            metrics_file=under_root(config["metrics_dir"], root) / "eval.json",
            plot_file=under_root(config["plots_dir"], root) / "per_joint_ap.csv",
            root=root,
            dataset=config["data"].get("loader") or "posetrack",
            boxes=boxes,
            detections=under_root(detections, root) if boxes == "detections" else None,
            flip_test=train["flip_test"],
            det_score_threshold=train.get("clip", {}).get("det_score_threshold"),
            device=train["device"],
            batch_size=train["val_batch_size"] or train["batch_size"],
            num_workers=train["num_workers"],
            amp=train["amp"],
            hieve=HiEveMetric.from_dict(config.get("hieve_metric")),
        )


def evaluate_checkpoint(spec: EvaluationSpec, show: bool = True) -> dict[str, float]:
    """Predict, score and write the outputs (module docstring); the flat metrics."""
    device = resolve_device(spec.device)
    model, clip_cfg, ckpt = model_from_checkpoint(spec.ckpt, device)
    if spec.det_score_threshold is not None:
        clip_cfg.det_score_threshold = float(spec.det_score_threshold)
    videos = load_dataset(spec.dataset, spec.data_root, "val")
    detections = load_detections(spec.detections, videos) if spec.detections else None
    clips = PoseTrackClips(videos, clip_cfg, detections=detections, joints=joint_set(spec.dataset))
    loader = DataLoader(clips, batch_size=spec.batch_size, num_workers=spec.num_workers)
    predictions = list(predict(model, loader, device, spec.flip_test, autocast_for(device, spec.amp)).values())
    metrics, table = evaluate(videos, predictions, spec.hieve)

    oks = {k.removeprefix("oks/"): v for k, v in metrics.items() if k.startswith("oks/")}
    hieve = {k.removeprefix("hieve/"): v for k, v in metrics.items() if k.startswith("hieve/")}
    write_metrics_json(
        {
            "mAP": metrics["mAP"],
            "AP": table.columns(),
            "oks": oks,
            "checkpoint": relative_to_root(spec.ckpt, spec.root),
            "epoch": ckpt.get("progress", {}).get("epoch"),
            "boxes": spec.boxes,
            "flip_test": spec.flip_test,
            "clips": len(clips),
            **({"hieve": hieve} if hieve else {}),
        },
        spec.metrics_file,
    )
    write_csv_rows(
        [{"joint": joint, "ap": ap} for joint, ap in table.columns().items() if joint != "Mean"], spec.plot_file
    )
    out = spec.eval_dir / "predictions"
    for stale in out.glob("*.json"):  # files of videos an earlier evaluation had
        stale.unlink()
    write_posetrack_results(predictions, videos, out)
    if spec.dataset == "hieve":  # the evaluation server's files: one JSON per sequence
        write_submission(predictions, videos, spec.eval_dir / "submission")
    if show:
        print_table(table, f"PoseTrack AP: {spec.ckpt.name}, {spec.boxes} boxes, {len(clips)} clips")
        rprint("COCO OKS: " + ", ".join(f"{k} {v:.3f}" for k, v in oks.items()))
    return metrics
