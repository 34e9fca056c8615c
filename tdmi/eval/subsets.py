"""PoseTrack mAP on a subset of the ground-truth joints (e.g. the degraded ones of a synthetic set).

The existing scorer (tdmi/eval/posetrack.py, poseval's rules) is reused unchanged on restricted
inputs: ground-truth joints outside the subset become (0, 0, 0), which poseval reads as "not
annotated", and the matching predicted joints become NaN ("not predicted"). Which predicted joint
"matches" is decided by poseval's own pose assignment on the *full* ground truth
(:func:`tdmi.eval.posetrack.assigned_people`) before anything is removed, so a prediction keeps
its person even when that person has few joints left in the subset. Our choice where nothing
fixes it: a prediction assigned to nobody keeps all its joints (false positives in every subset,
as in the full evaluation). With ground-truth boxes (the default) every prediction has a person.

The subsets come from the per-joint ``"degraded"`` bit masks of tdmi/data/synth.py
(:func:`tdmi.data.synth.read_degraded`): ``degraded`` keeps joints with any bit set, ``clean``
those with none. People without a mask count as clean. A joint with no ground truth left in the
subset scores NaN (poseval would give 0 for "no predictions"), so Mean averages the joints the
subset has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from tdmi.data.posetrack import Video
from tdmi.eval.posetrack import PoseTrackAP, assigned_people, evaluate_posetrack
from tdmi.eval.results import PosePrediction

SUBSETS = ("degraded", "clean")


def subset_masks(degraded: Mapping[int, np.ndarray], subset: str) -> dict[int, np.ndarray]:
    """Per annotation id, the joints (bool (17,)) of ``subset`` in ``SUBSETS``."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    return {ann_id: (bits != 0) == (subset == "degraded") for ann_id, bits in degraded.items()}


def restrict(
    videos: Sequence[Video],
    predictions: Mapping[int, Sequence[PosePrediction]],
    keep: Mapping[int, np.ndarray],
    default: bool = False,
) -> tuple[list[Video], dict[int, list[PosePrediction]]]:
    """Ground truth and predictions with only the joints ``keep[ann_id]`` (bool (17,)) left;
    a person missing from ``keep`` keeps all joints when ``default`` is True, none otherwise."""
    out_videos, out_preds = [], {}
    for video in videos:
        frames = []
        for frame in video.frames:
            preds = list(predictions.get(frame.image_id, ()))
            owner = assigned_people(frame, preds)
            masks = [
                np.broadcast_to(np.asarray(keep.get(p.ann_id, default), bool), len(p.joints)) for p in frame.people
            ]
            people = [
                dataclasses.replace(p, joints=np.where(m[:, None], p.joints, 0.0))
                for p, m in zip(frame.people, masks, strict=True)
            ]
            for k, g in enumerate(owner):
                if g >= 0:
                    joints = np.where(masks[g][:, None], preds[k].joints, np.nan)
                    preds[k] = dataclasses.replace(preds[k], joints=joints)
            frames.append(dataclasses.replace(frame, people=people))
            if preds:
                out_preds[frame.image_id] = preds
        out_videos.append(Video(video.name, frames))
    return out_videos, out_preds


def evaluate_subset(
    videos: Sequence[Video],
    predictions: Mapping[int, Sequence[PosePrediction]],
    degraded: Mapping[int, np.ndarray],
    subset: str,
) -> PoseTrackAP:
    """poseval's per-joint AP on the ``degraded`` or ``clean`` joints only."""
    keep = subset_masks(degraded, subset)
    result = evaluate_posetrack(*restrict(videos, predictions, keep, default=subset == "clean"))
    empty = {name for name, n in result.num_gt.items() if n == 0}

    def blank(values: dict[str, float]) -> dict[str, float]:
        return {name: float("nan") if name in empty else v for name, v in values.items()}

    return dataclasses.replace(
        result, ap=blank(result.ap), precision=blank(result.precision), recall=blank(result.recall)
    )
