"""Inference on frames: a checkpoint over one source of frames and person boxes -> PoseTrack-format
predictions, overlays and a manifest. ``experiments/predict.py`` composes the config and calls
:func:`predict_frames` with a :class:`PredictSpec`, as ``experiments/train.py`` does with
tdmi/run.py.

The source is either a folder of one video's consecutive frames (``frames``) or PoseTrack
annotations (``annotations``: frames, ground truth and its boxes). Boxes: ``detections`` when given,
else the annotations' ground-truth boxes, else one whole-frame box per frame (no detector ships
here). Every frame is a key frame with supporting frames at the checkpoint's clip offsets, clamped
at the video's ends. Writes under ``out_dir``: ``predictions/<video>.json`` in the PoseTrack18
result format (score it with tdmi.eval.posetrack when there is ground truth),
``overlays/<video>/<frame>.jpg`` (ground truth green, prediction red) and ``manifest.json``, which
the dashboard's Qualitative page reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from tdmi.data.clips import PoseTrackClips
from tdmi.data.posetrack import iter_frames, load_detections, load_posetrack
from tdmi.engine.checkpoint import model_from_checkpoint
from tdmi.engine.predict import predict
from tdmi.eval.results import group_by_image, write_posetrack_results
from tdmi.results.qualitative import MANIFEST, full_frame_detections, overlay, videos_from_frames
from tdmi.utils.config import ConfigError, require
from tdmi.utils.paths import project_root, under_root


@dataclass
class PredictSpec:
    """What one inference run needs; paths are absolute (under the project root)."""

    checkpoint: Path
    source: Path  # a frame folder, or PoseTrack annotations when ``annotated``
    annotated: bool
    out_dir: Path
    detections: Path | None = None
    device: str = "cpu"
    batch_size: int = 16
    overlays: bool = True

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], root: str | Path | None = None) -> PredictSpec:
        """experiments/conf/predict.yaml composed (keys ``ckpt``, ``frames`` or ``annotations``,
        ``detections``, ``out``, ``device``, ``batch_size``, ``overlays``); ConfigError naming the
        first bad key."""
        ckpt = config.get("ckpt")
        require(
            isinstance(ckpt, str) and ckpt != "???",
            "ckpt",
            ckpt,
            "must be a checkpoint path (a training run's best.pt or last.pt)",
        )
        frames, annotations = config.get("frames"), config.get("annotations")
        require(
            (frames is None) != (annotations is None),
            "frames",
            frames,
            "give exactly one of frames=DIR or annotations=FILE_OR_DIR",
        )
        batch_size = config.get("batch_size", 16)
        require(
            isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1,
            "batch_size",
            batch_size,
            "must be an integer >= 1",
        )
        overlays = config.get("overlays", True)
        require(isinstance(overlays, bool), "overlays", overlays, "must be true or false")
        root = project_root(root)
        detections = config.get("detections")
        return cls(
            checkpoint=under_root(ckpt, root),
            source=under_root(annotations or frames, root),
            annotated=annotations is not None,
            out_dir=under_root(config["out"], root),
            detections=under_root(detections, root) if detections else None,
            device=str(config.get("device", "cpu")),
            batch_size=batch_size,
            overlays=overlays,
        )


def predict_frames(spec: PredictSpec) -> dict[str, Any]:
    """Predict every person of ``spec.source`` and write the files of the module docstring; returns
    the manifest. ConfigError when no box is left to predict on."""
    model, clip_cfg, _ = model_from_checkpoint(spec.checkpoint, spec.device)
    videos = load_posetrack(spec.source) if spec.annotated else videos_from_frames(spec.source)
    if spec.detections is not None:
        detections = load_detections(spec.detections, videos)
    else:
        detections = None if spec.annotated else full_frame_detections(videos)
    clips = PoseTrackClips(videos, clip_cfg, detections=detections)
    if not len(clips):
        raise ConfigError(
            "detections",
            str(spec.detections),
            f"no person boxes to predict on {spec.source} (all below score {clip_cfg.det_score_threshold}?)",
        )
    predictions = predict(model, DataLoader(clips, batch_size=spec.batch_size), torch.device(spec.device))
    write_posetrack_results(list(predictions.values()), videos, spec.out_dir / "predictions")
    if spec.overlays:
        by_image = group_by_image(predictions.values())
        for frame in iter_frames(videos):
            if frame.image_id in by_image:
                path = spec.out_dir / "overlays" / frame.video / f"{frame.frame_index:06d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                overlay(frame, by_image[frame.image_id], ground_truth=spec.annotated).save(path, quality=85)
    boxes = "detections" if spec.detections else "ground truth" if spec.annotated else "whole frame"
    manifest = {
        "checkpoint": str(spec.checkpoint),
        "frames": None if spec.annotated else str(spec.source),
        "annotations": str(spec.source) if spec.annotated else None,
        "detections": str(spec.detections) if spec.detections else None,
        "boxes": boxes,
        "offsets": list(clip_cfg.offsets),
        "people": len(predictions),
        "videos": len(videos),
    }
    (spec.out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
