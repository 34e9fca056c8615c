"""What a prepared dataset holds, and a fingerprint that changes when any annotation does.

The summary is the `prepare` stage's metrics file; the fingerprint tags every run trained on it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tdmi.data.posetrack import check_frames_exist, iter_frames, load_posetrack


def fingerprint(annotation_dir: str | Path) -> str:
    """sha256 over the annotation files' names and bytes, in sorted order (first 16 hex digits)."""
    digest = hashlib.sha256()
    root = Path(annotation_dir)
    for path in sorted(root.rglob("*.json")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def split_summary(annotations: str | Path, image_root: str | Path | None = None) -> dict:
    """Counts for one split; fails (naming the file) on any malformed annotation or missing frame."""
    videos = load_posetrack(annotations, image_root)
    check_frames_exist(videos)
    frames = list(iter_frames(videos))
    people = [p for f in frames for p in f.people]
    vis = np.concatenate([p.joints[:, 2] for p in people]) if people else np.zeros(0)
    labelled = vis > 0
    return {
        "videos": len(videos),
        "frames": len(frames),
        "labeled_frames": sum(f.is_labeled for f in frames),
        "people": len(people),
        "tracks": len({(f.video, p.track_id) for f in frames for p in f.people}),
        "labeled_joints": int(labelled.sum()),
        "occluded_joint_fraction": round(float((vis == 1).sum() / max(labelled.sum(), 1)), 4),
    }


def dataset_summary(root: str | Path, splits: tuple[str, ...] = ("train", "val")) -> dict:
    """Per-split counts of a PoseTrack-layout folder plus the annotations' fingerprint."""
    root = Path(root)
    out = {split: split_summary(root / "annotations" / split, root) for split in splits}
    out["fingerprint"] = fingerprint(root / "annotations")
    return out
