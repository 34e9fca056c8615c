"""Predicted and ground-truth skeletons over the frames, for a key frame and its supporting frames.

Two sources give the same :class:`Sample` (videos + predictions per image id + clip offsets):
- a training run's validation predictions (MLflow artifact ``predictions/predictions.json``, the
  PoseTrack result format) over the run's dataset (param ``data.root``), ground truth included;
- an ``experiments/predict.py`` output folder (``manifest.json`` beside ``predictions/``), over a
  PoseTrack annotation file or a bare folder of consecutive frames (no ground truth then).
The run's dataset is read by its loader (param ``data.loader``: PoseTrack's or HiEve's files), and
each skeleton is drawn with the joint set of its joint count (tdmi.data.joints: PoseTrack's 17,
HiEve's 14); joints without a prediction (NaN) or without a label ((0, 0, 0)) are not drawn.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from tdmi.data.datasets import load_dataset
from tdmi.data.joints import joint_set_for
from tdmi.data.posetrack import Detection, Frame, Video, load_posetrack, make_frame_id
from tdmi.eval.results import PosePrediction, ground_truth_as_predictions, read_posetrack_results

PREDICTED, GROUND_TRUTH = (255, 64, 32), (40, 220, 90)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MANIFEST = "manifest.json"


@dataclass
class Sample:
    videos: list[Video]
    predictions: dict[int, list[PosePrediction]]
    offsets: tuple[int, ...]
    has_ground_truth: bool


def videos_from_frames(folder: Path) -> list[Video]:
    """A folder of consecutive frames as one unlabelled video. Image ids follow PoseTrack's
    ``1 VVVVVV FFFF`` scheme from the folder's leading digits (``000001_mpiinew_test`` -> video 1),
    so a detections file can name frames the way PoseTrack's do. ``is_labeled`` is set on every
    frame: here it means "predict this frame" (PoseTrackClips only cuts labelled frames)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder}: no {'/'.join(IMAGE_SUFFIXES)} frames")
    number = int(re.match(r"\d*", folder.name).group() or 0)
    frames = []
    for index, path in enumerate(files):
        with Image.open(path) as image:
            width, height = image.size
        frames.append(
            Frame(
                make_frame_id(number, index),
                folder.name,
                index,
                path.resolve(),
                width,
                height,
                len(files),
                True,
                file_name=f"{folder.name}/{path.name}",
            )
        )
    return [Video(folder.name, frames)]


def full_frame_detections(videos: list[Video]) -> dict[int, list[Detection]]:
    """One whole-frame box per frame: the fallback when no person detections are given."""
    return {
        f.image_id: [Detection(f.image_id, np.array([0.0, 0.0, f.width, f.height]), 1.0)]
        for v in videos
        for f in v.frames
    }


def clip_frames(video: Video, position: int, offsets: tuple[int, ...]) -> list[tuple[int, Frame]]:
    """(offset, frame) of the clip around ``position``, clamped at the video's ends as the
    clips the model saw (tdmi.data.clips)."""
    last = len(video.frames) - 1
    return [(o, video.frames[min(max(position + o, 0), last)]) for o in offsets]


def draw_people(image: Image.Image, people: list[np.ndarray], color: tuple[int, int, int], scale: float = 1.0) -> None:
    """Skeletons ((J, 2) pixel coordinates, NaN = absent) drawn in place, bones then joints; the
    bones are those of the joint set with J joints."""
    draw = ImageDraw.Draw(image)
    width = max(2, round(3 * min(scale, 1.0)))  # lines stay thin on an enlarged frame
    for joints in people:
        pts = np.asarray(joints, float)[:, :2] * scale
        ok = np.all(np.isfinite(pts), axis=1)
        for a, b in joint_set_for(len(pts)).skeleton:
            if ok[a] and ok[b]:
                draw.line([tuple(pts[a]), tuple(pts[b])], fill=color, width=width)
        for j in np.flatnonzero(ok):
            x, y = pts[j]
            draw.ellipse([x - width, y - width, x + width, y + width], fill=color)


def overlay(
    frame: Frame, predictions: list[PosePrediction], ground_truth: bool = True, width: int | None = None
) -> Image.Image:
    """The frame (at its native size, or scaled to ``width``: small synthetic frames are worth
    enlarging) with ground truth (green) under predictions (red)."""
    with Image.open(frame.path) as raw:
        image = raw.convert("RGB")
    scale = width / image.width if width else 1.0
    if scale != 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    if ground_truth:
        truth = ground_truth_as_predictions([Video(frame.video, [frame])])  # unlabelled joints -> NaN
        draw_people(image, [p.joints for p in truth], GROUND_TRUTH, scale)
    draw_people(image, [p.joints for p in predictions], PREDICTED, scale)
    return image


def confident(predictions: list[PosePrediction], threshold: float) -> list[PosePrediction]:
    """The people whose score reaches ``threshold`` (the skeletons worth drawing)."""
    return [p for p in predictions if p.score >= threshold]


def people_table(predictions: list[PosePrediction]) -> pd.DataFrame:
    """Per predicted person: its score, mean joint score and joints above 0.2 (evaluated joints)."""
    rows = []
    for k, p in enumerate(predictions):
        scores = np.asarray(p.joint_scores, float)
        scores = scores[list(joint_set_for(len(scores)).evaluated)]
        rows.append(
            {
                "person": k,
                "score": p.score,
                "mean joint score": float(scores.mean()),
                "joints > 0.2": int((scores > 0.2).sum()),
                "track": p.track_id,
            }
        )
    return pd.DataFrame(rows, columns=["person", "score", "mean joint score", "joints > 0.2", "track"])


def run_sample(predictions_file: Path, data_root: Path, offsets: tuple[int, ...], loader: str = "posetrack") -> Sample:
    """A training run's validation predictions over its dataset's val annotations (read by ``loader``)."""
    videos = load_dataset(loader, data_root, "val")
    return Sample(videos, read_posetrack_results(predictions_file, videos), offsets, True)


def list_predict_outputs(project_dir: Path) -> list[Path]:
    """experiments/predict.py output folders under <project>/outputs/predict, newest first."""
    root = project_dir / "outputs" / "predict"
    found = [p.parent for p in root.rglob(MANIFEST)] if root.is_dir() else []
    return sorted(found, key=lambda p: (p / MANIFEST).stat().st_mtime, reverse=True)


def predict_output_sample(folder: Path) -> Sample:
    """An experiments/predict.py output folder, read back through the manifest it wrote."""
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("annotations"):
        videos, truth = load_posetrack(manifest["annotations"]), True
    else:
        videos, truth = videos_from_frames(Path(manifest["frames"])), False
    predictions = read_posetrack_results(folder / "predictions", videos)
    return Sample(videos, predictions, tuple(manifest["offsets"]), truth)
