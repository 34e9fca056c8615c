"""COCO OKS AP/AR through pycocotools on PoseTrack predictions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import SAMPLE

from tdmi.data.joints import JOINT_NAMES
from tdmi.data.posetrack import load_posetrack
from tdmi.eval.coco import POSETRACK_SIGMAS, STAT_NAMES, coco_oks
from tdmi.eval.results import ground_truth_as_predictions, group_by_image


@pytest.fixture(scope="module")
def videos():
    return load_posetrack(SAMPLE / "annotations/val")


def test_sigmas_are_cocos_with_the_eyes_values_for_the_head_joints():
    assert POSETRACK_SIGMAS.shape == (len(JOINT_NAMES),)
    assert (
        POSETRACK_SIGMAS[JOINT_NAMES.index("head_bottom")] == POSETRACK_SIGMAS[JOINT_NAMES.index("head_top")] == 0.025
    )


def test_ground_truth_as_predictions_gives_ap_1(videos):
    stats = coco_oks(videos, group_by_image(ground_truth_as_predictions(videos)))
    assert stats["AP"] == 1.0 and stats["AR"] == 1.0


def test_jittered_predictions_score_lower(videos):
    rng = np.random.default_rng(0)
    preds = [
        dataclasses.replace(p, joints=p.joints + rng.normal(0, 15, (17, 2)))
        for p in ground_truth_as_predictions(videos)
    ]
    stats = coco_oks(videos, group_by_image(preds))
    assert 0.0 < stats["AP"] < 1.0 and set(stats) == set(STAT_NAMES)


def test_no_predictions_gives_zeros(videos):
    assert coco_oks(videos, {}) == dict.fromkeys(STAT_NAMES, 0.0)
