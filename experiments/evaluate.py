"""DVC stage `evaluate`: a checkpoint -> predictions on the val split -> PoseTrack mAP and COCO OKS.

    python experiments/evaluate.py [ckpt=PATH] [data=posetrack18 data.root=...]
                                   [boxes=detections detections=FILE] [flip_test=true]

The model and its clip settings come from the checkpoint (experiments/train.py stores their
configs), so a checkpoint is evaluated as it was trained whatever `model=` says; the data, the
boxes and the device come from the config. Writes `metrics_dir`/eval.json (mAP in the paper's
columns Head ... Ankle, Mean, and COCO OKS AP/AR), `plots_dir`/per_joint_ap.csv (joint,ap: a bar
chart for `dvc plots`) and the predictions in `eval_dir`/predictions, one PoseTrack result file per
video: poseval's input, which `python -m tdmi.eval.posetrack --gt ... --pred ...` scores the same.
Returns the mAP.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig
from rich import print as rprint
from torch.utils.data import DataLoader

from tdmi.data.clips import PoseTrackClips
from tdmi.data.posetrack import load_detections, load_posetrack
from tdmi.engine import CheckpointError, evaluate, model_from_checkpoint, predict
from tdmi.engine.tracking import write_csv_rows
from tdmi.engine.train import autocast_for, resolve_device
from tdmi.eval.posetrack import print_table
from tdmi.eval.results import write_metrics_json, write_posetrack_results

BOXES = ("gt", "detections")


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    if cfg.boxes not in BOXES or (cfg.boxes == "detections" and not cfg.detections):
        raise SystemExit(f"error: boxes must be one of {BOXES} (detections needs detections=FILE), got boxes={cfg.boxes}")
    device = resolve_device(cfg.train.device)
    ckpt_path = Path(to_absolute_path(cfg.ckpt))
    try:
        model, clip_cfg, ckpt = model_from_checkpoint(ckpt_path, device)
    except CheckpointError as err:
        raise SystemExit(f"error: {err}") from None
    if cfg.det_score_threshold is not None:
        clip_cfg.det_score_threshold = float(cfg.det_score_threshold)
    videos = load_posetrack(Path(to_absolute_path(cfg.data.root)) / "annotations" / "val")
    detections = load_detections(to_absolute_path(cfg.detections), videos) if cfg.boxes == "detections" else None
    clips = PoseTrackClips(videos, clip_cfg, detections=detections)
    loader = DataLoader(clips, batch_size=cfg.train.val_batch_size or cfg.train.batch_size, num_workers=cfg.train.num_workers)
    predictions = list(predict(model, loader, device, cfg.flip_test, autocast_for(device, cfg.train.amp)).values())
    metrics, table = evaluate(videos, predictions)

    oks = {k.removeprefix("oks/"): v for k, v in metrics.items() if k.startswith("oks/")}
    write_metrics_json({"mAP": metrics["mAP"], "AP": table.columns(), "oks": oks, "checkpoint": str(ckpt_path),
                        "epoch": ckpt.get("progress", {}).get("epoch"), "boxes": cfg.boxes,
                        "flip_test": cfg.flip_test, "clips": len(clips)},
                       Path(to_absolute_path(cfg.metrics_dir)) / "eval.json")
    write_csv_rows([{"joint": joint, "ap": ap} for joint, ap in table.columns().items() if joint != "Mean"],
                   Path(to_absolute_path(cfg.plots_dir)) / "per_joint_ap.csv")
    out = Path(to_absolute_path(cfg.eval_dir)) / "predictions"
    for stale in out.glob("*.json"):  # files of videos an earlier evaluation had
        stale.unlink()
    write_posetrack_results(predictions, videos, out)
    print_table(table, f"PoseTrack AP: {ckpt_path.name}, {cfg.boxes} boxes, {len(clips)} clips")
    rprint("COCO OKS: " + ", ".join(f"{k} {v:.3f}" for k, v in oks.items()))
    return metrics["mAP"]


if __name__ == "__main__":
    main()
