"""Inference: a checkpoint over frames and person boxes -> PoseTrack-format predictions + overlays.

    python experiments/predict.py ckpt=checkpoints/synth-tdmi/best.pt \
        frames=../shared/data/posetrack18_sample/videos/000001_mpiinew_test detections=dets.json
    python experiments/predict.py ckpt=... annotations=data/synth/annotations/val

Writes to ``out`` (default outputs/predict/<name>): ``predictions/<video>.json`` in the PoseTrack18
result format (score with tdmi.eval.posetrack when there is ground truth), ``overlays/<video>/
<frame>.jpg`` and ``manifest.json``, which the dashboard's Qualitative page reads. Every frame is a
key frame with supporting frames at the checkpoint's clip offsets, clamped at the video's ends.
"""

from __future__ import annotations

import json

import hydra
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from tdmi.cli import entry_point
from tdmi.data.clips import PoseTrackClips
from tdmi.data.posetrack import iter_frames, load_detections, load_posetrack
from tdmi.engine.checkpoint import model_from_checkpoint
from tdmi.engine.predict import predict
from tdmi.eval.results import group_by_image, write_posetrack_results
from tdmi.results.qualitative import MANIFEST, full_frame_detections, overlay, videos_from_frames
from tdmi.utils.config import ConfigError, require
from tdmi.utils.paths import project_root, under_root


@hydra.main(config_path="conf", config_name="predict", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    require(
        (cfg.frames is None) != (cfg.annotations is None),
        "frames",
        cfg.frames,
        "give exactly one of frames=DIR or annotations=FILE_OR_DIR",
    )
    root = project_root(cfg.paths.root)
    model, clip_cfg, _ = model_from_checkpoint(under_root(cfg.ckpt, root), cfg.device)
    source = under_root(cfg.annotations or cfg.frames, root)
    videos = load_posetrack(source) if cfg.annotations else videos_from_frames(source)
    if cfg.detections:
        detections = load_detections(under_root(cfg.detections, root), videos)
    else:
        detections = None if cfg.annotations else full_frame_detections(videos)
    clips = PoseTrackClips(videos, clip_cfg, detections=detections)
    if not len(clips):
        raise ConfigError(
            "detections",
            cfg.detections,
            f"no person boxes to predict on {source} (all below score {clip_cfg.det_score_threshold}?)",
        )
    predictions = predict(model, DataLoader(clips, batch_size=cfg.batch_size), torch.device(cfg.device))
    out = under_root(cfg.out, root)
    write_posetrack_results(list(predictions.values()), videos, out / "predictions")
    if cfg.overlays:
        by_image = group_by_image(predictions.values())
        for frame in iter_frames(videos):
            if frame.image_id in by_image:
                path = out / "overlays" / frame.video / f"{frame.frame_index:06d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                overlay(frame, by_image[frame.image_id], ground_truth=bool(cfg.annotations)).save(path, quality=85)
    manifest = {
        "checkpoint": str(under_root(cfg.ckpt, root)),
        "frames": str(source) if cfg.frames else None,
        "annotations": str(source) if cfg.annotations else None,
        "detections": str(under_root(cfg.detections, root)) if cfg.detections else None,
        "boxes": "detections" if cfg.detections else "ground truth" if cfg.annotations else "whole frame",
        "offsets": list(clip_cfg.offsets),
        "people": len(predictions),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(predictions)} people on {len(videos)} video(s) -> {out}")


if __name__ == "__main__":
    main()
