"""What a prepared dataset holds, and a fingerprint that changes when any annotation does.

The summary is the `prepare` stage's metrics file; the fingerprint tags every run trained on it.
Where the annotations carry the synthetic generator's per-joint ``"degraded"`` masks
(tdmi/data/synth.py), it also says how much a temporal model could win: the fraction of labelled
key-frame joints that are degraded there, and of those that are degraded there but labelled and
clean in a frame of the same track within the clip window (+-2 frames, ClipConfig's offsets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tdmi.data.posetrack import Video, check_frames_exist, iter_frames, load_posetrack
from tdmi.data.synth import read_degraded

CLIP_WINDOW = 2  # frames either side of the key frame a clip sees (ClipConfig.offsets -2..2)


def fingerprint(annotation_dir: str | Path) -> str:
    """sha256 over the annotation files' names and bytes, in sorted order (first 16 hex digits)."""
    digest = hashlib.sha256()
    root = Path(annotation_dir)
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".json", ".xml")):  # .xml: HiEve
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def recoverable_joints(videos: Sequence[Video], degraded: Mapping[int, np.ndarray], window: int = CLIP_WINDOW) -> dict:
    """Fractions of labelled key-frame joints that are degraded, and degraded but clean nearby.

    A joint is recoverable when the same track labels it (v > 0) without a degradation bit in a
    frame at most ``window`` frames away; people without a mask count as clean."""
    labelled = bad = recoverable = 0
    for video in videos:
        clean: dict[tuple[int, int], np.ndarray] = {}  # (track, frame index) -> clean labelled joints
        for frame in video.frames:
            for p in frame.people:
                clean[p.track_id, frame.frame_index] = (p.joints[:, 2] > 0) & (degraded.get(p.ann_id, 0) == 0)
        for frame in video.labeled_frames:
            for p in frame.people:
                hit = (p.joints[:, 2] > 0) & (degraded.get(p.ann_id, 0) != 0)
                near = np.zeros(len(hit), bool)
                for d in (d for d in range(-window, window + 1) if d):
                    near |= clean.get((p.track_id, frame.frame_index + d), False)
                labelled += int((p.joints[:, 2] > 0).sum())
                bad += int(hit.sum())
                recoverable += int((hit & near).sum())
    return {
        "degraded_joint_fraction": round(bad / max(labelled, 1), 4),
        "recoverable_joint_fraction": round(recoverable / max(labelled, 1), 4),
    }


def split_summary(
    annotations: str | Path, image_root: str | Path | None = None, videos: list[Video] | None = None
) -> dict:
    """Counts for one split; fails (naming the file) on any malformed annotation or missing frame.
    ``videos``: the split as another dataset's loader read it (no PoseTrack files to read)."""
    posetrack_files = videos is None
    videos = load_posetrack(annotations, image_root) if posetrack_files else videos
    check_frames_exist(videos)
    frames = list(iter_frames(videos))
    people = [p for f in frames for p in f.people]
    vis = np.concatenate([p.joints[:, 2] for p in people]) if people else np.zeros(0)
    labelled = vis > 0
    degraded = read_degraded(annotations) if posetrack_files else {}
    return {
        "videos": len(videos),
        "frames": len(frames),
        "labeled_frames": sum(f.is_labeled for f in frames),
        "people": len(people),
        "tracks": len({(f.video, p.track_id) for f in frames for p in f.people}),
        "labeled_joints": int(labelled.sum()),
        "occluded_joint_fraction": round(float((vis == 1).sum() / max(labelled.sum(), 1)), 4),
        **(recoverable_joints(videos, degraded) if degraded else {}),
    }


def dataset_summary(root: str | Path, splits: tuple[str, ...] = ("train", "val"), loader: str = "posetrack") -> dict:
    """Per-split counts of a dataset (``loader``: tdmi.data.datasets) plus the annotations'
    fingerprint."""
    from tdmi.data.datasets import load_dataset

    root = Path(root)
    loaded = {s: load_dataset(loader, root, s) for s in splits} if loader != "posetrack" else {}
    out = {s: split_summary(root / "annotations" / s, root, loaded.get(s)) for s in splits}
    out["fingerprint"] = fingerprint(root / "annotations")
    return out
