"""PoseTrack mAP on the degraded / clean joints only: known answers on a hand-made frame."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tdmi.data.joints import JOINT_NAMES, NUM_JOINTS
from tdmi.data.posetrack import Frame, Person, Video
from tdmi.eval.posetrack import evaluate_posetrack
from tdmi.eval.results import PosePrediction
from tdmi.eval.subsets import evaluate_subset, restrict, subset_masks

WRIST = JOINT_NAMES.index("left_wrist")


def _person(x0: float, ann_id: int) -> Person:
    joints = np.zeros((NUM_JOINTS, 3))
    joints[:, 0] = x0 + np.arange(NUM_JOINTS) * 3.0
    joints[:, 1] = 50.0 + np.arange(NUM_JOINTS) * 5.0
    joints[:, 2] = 2.0
    joints[[3, 4]] = 0.0  # ears, never annotated
    head = np.array([x0, 20.0, 20.0, 20.0])  # head size 0.6 * sqrt(800) = 17.0: PCKh radius 8.5 px
    return Person(joints, np.array([x0, 20.0, 60.0, 150.0]), head, track_id=ann_id, ann_id=ann_id)


@pytest.fixture()
def scene() -> tuple[list[Video], dict[int, list[PosePrediction]], dict[int, np.ndarray]]:
    """Two people, predicted exactly except person 1's left wrist (40 px off); both left wrists
    are degraded, every other joint is clean. Person 0's joints score 0.9, person 1's 0.8."""
    people = [_person(10.0, 1), _person(200.0, 2)]
    frame = Frame(1, "v", 0, Path("0.jpg"), 320, 240, 1, True, people=people)
    preds = []
    for p, score in zip(people, (0.9, 0.8), strict=True):
        joints = p.joints[:, :2].copy()
        joints[[3, 4]] = np.nan
        preds.append(PosePrediction(1, joints, np.full(NUM_JOINTS, score), score))
    preds[1].joints[WRIST, 0] += 40.0
    bits = {1: np.zeros(NUM_JOINTS, np.int64), 2: np.zeros(NUM_JOINTS, np.int64)}
    bits[1][WRIST] = bits[2][WRIST] = 4
    return [Video("v", [frame])], {1: preds}, bits


def test_known_answers(scene) -> None:
    videos, preds, bits = scene
    full = evaluate_posetrack(videos, preds)
    # left wrist: the 0.9 prediction is right, the 0.8 one wrong -> precision 1 at recall 1/2: AP 50
    assert full.ap["left_wrist"] == pytest.approx(50.0)
    assert full.columns()["Mean"] == pytest.approx((14 * 100 + 50) / 15)
    degraded = evaluate_subset(videos, preds, bits, "degraded")
    assert degraded.ap["left_wrist"] == pytest.approx(50.0) and degraded.num_gt["left_wrist"] == 2
    assert sum(degraded.num_gt.values()) == 2
    assert math.isnan(degraded.ap["nose"]), "a joint with no ground truth in the subset is left out"
    assert degraded.columns()["Mean"] == pytest.approx(50.0)
    clean = evaluate_subset(videos, preds, bits, "clean")
    assert math.isnan(clean.ap["left_wrist"]) and clean.num_gt["left_wrist"] == 0
    assert clean.columns()["Mean"] == pytest.approx(100.0)
    assert sum(clean.num_gt.values()) == 28


def test_restriction_keeps_predictions_on_their_person(scene) -> None:
    """Predicted joints outside the subset are dropped, not turned into false positives."""
    videos, preds, bits = scene
    gt, kept = restrict(videos, preds, subset_masks(bits, "degraded"))
    for person, pred in zip(gt[0].frames[0].people, kept[1], strict=True):
        assert np.count_nonzero(np.any(person.joints != 0, axis=1)) == 1
        assert np.count_nonzero(np.all(np.isfinite(pred.joints), axis=1)) == 1
    assert np.isfinite(preds[1][0].joints[0]).all(), "the caller's predictions are left unchanged"


def test_unknown_subset_is_refused() -> None:
    with pytest.raises(ValueError, match="subset must be one of"):
        subset_masks({}, "blurred")
