"""COCO-style OKS AP/AR of PoseTrack (or HiEve) predictions, through pycocotools' COCOeval.

The same frames and predictions as the PoseTrack AP (tdmi.eval.posetrack): frames with annotated
people only, and a predicted person counts only if it keeps a predicted joint outside the ignore
regions (poseval drops the others). Ignore regions are a PoseTrack notion: COCO sees the remaining
people whole. A joint that was not predicted (NaN) is placed at (0, 0).

Sigmas: COCO's, with PoseTrack's head_bottom and head_top taking the eyes' 0.025, as mmpose does
for PoseTrack18 (open-mmlab/mmpose, configs/_base_/datasets/posetrack18.py, ``sigmas``). The ears
keep COCO's 0.035 but are never annotated, so they never count. PoseTrack has no segmentation: a
ground-truth person's area is its box area (w * h), and a person without annotated joints is
ignored, as COCO ignores ``num_keypoints == 0``.

HiEve's 14 joints (the joint set is the one whose count the ground truth has): COCO's sigmas for
the 12 joints COCO has (nose 0.026, shoulders 0.079, elbows 0.072, wrists 0.062, hips 0.107,
knees 0.087, ankles 0.089); HiEve's Chest, which COCO lacks, takes 0.079, the value CrowdPose's
14-joint evaluation gives its neck (open-mmlab/mmpose, configs/_base_/datasets/crowdpose.py,
``sigmas``: top_head and neck 0.079), the nearest annotated point to a chest in any COCO-style set.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tdmi.data.joints import HIEVE, POSETRACK, JointSet, joint_set_for
from tdmi.data.posetrack import Video, iter_frames
from tdmi.eval.posetrack import inside_ignore_regions
from tdmi.eval.results import PosePrediction

POSETRACK_SIGMAS = np.array(
    [
        0.026,
        0.025,
        0.025,
        0.035,
        0.035,
        0.079,
        0.079,
        0.072,
        0.072,
        0.062,
        0.062,
        0.107,
        0.107,
        0.087,
        0.087,
        0.089,
        0.089,
    ]
)
CHEST_SIGMA = 0.079  # CrowdPose's neck (see the module docstring)
HIEVE_SIGMAS = np.array(
    [CHEST_SIGMA if n == "chest" else POSETRACK_SIGMAS[POSETRACK.names.index(n)] for n in HIEVE.names]
)
SIGMAS: dict[str, np.ndarray] = {POSETRACK.name: POSETRACK_SIGMAS, HIEVE.name: HIEVE_SIGMAS}
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def _coco_ground_truth(frames: list, joints: JointSet) -> dict:
    images, annotations = [], []
    for frame in frames:
        images.append(
            {
                "id": frame.image_id,
                "width": frame.width,
                "height": frame.height,
                "file_name": frame.file_name,
            }
        )
        for person in frame.people:
            x, y, w, h = person.bbox
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame.image_id,
                    "category_id": 1,
                    "keypoints": person.joints.ravel().tolist(),
                    "num_keypoints": int(np.count_nonzero(person.joints[:, 2] > 0)),
                    "bbox": [float(x), float(y), float(w), float(h)],
                    "area": float(w * h),
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": [joints.category()]}


def _coco_results(frames: list, predictions: Mapping[int, Sequence[PosePrediction]]) -> list[dict]:
    results = []
    for frame in frames:
        for p in predictions.get(frame.image_id, ()):
            joints = np.asarray(p.joints, dtype=np.float64)
            present = np.all(np.isfinite(joints), axis=1)
            present &= ~inside_ignore_regions(np.nan_to_num(joints), frame.ignore_regions)
            if not present.any():
                continue
            triplets = np.column_stack([np.nan_to_num(joints), np.asarray(p.joint_scores, dtype=np.float64)])
            results.append(
                {
                    "image_id": frame.image_id,
                    "category_id": 1,
                    "keypoints": triplets.ravel().tolist(),
                    "score": float(p.score),
                }
            )
    return results


def coco_oks(
    videos: Sequence[Video],
    predictions: Mapping[int, Sequence[PosePrediction]],
    joints: JointSet | None = None,
) -> dict[str, float]:
    """COCO keypoint AP/AR (fractions in [0, 1]; pycocotools' -1 where undefined) with the sigmas
    of ``joints`` (by default the joint set whose count the ground truth has)."""
    frames = [f for f in iter_frames(videos) if f.people]
    if joints is None:
        joints = joint_set_for(frames[0].people[0].joints.shape[0]) if frames else POSETRACK
    results = _coco_results(frames, predictions)
    if not results:  # pycocotools cannot load an empty result list
        return dict.fromkeys(STAT_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = COCO()
        gt.dataset = _coco_ground_truth(frames, joints)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = SIGMAS[joints.name]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats, strict=True)}
