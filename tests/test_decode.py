"""Heatmap decoding with known answers: sub-pixel peaks, affine round trip, flip test, person scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tdmi.data.joints import HIEVE, flip_permutation
from tdmi.eval.decode import decode_heatmaps, flip_average, flip_back, person_scores

IDENTITY = np.array([[[1.0, 0, 0], [0, 1, 0]]])


def _gaussian(centres: np.ndarray, h: int = 64, w: int = 48, sigma: float = 2.0) -> np.ndarray:
    """(N, J, 2) heatmap-pixel centres -> (N, J, h, w) unit-peak Gaussians."""
    ys, xs = np.mgrid[0:h, 0:w]
    dx = xs - centres[..., 0, None, None]
    dy = ys - centres[..., 1, None, None]
    return np.exp(-(dx**2 + dy**2) / (2 * sigma**2))


@pytest.mark.parametrize(("refine", "tolerance"), [("dark", 0.1), ("quarter", 0.26), (None, 0.51)])
def test_subpixel_gaussian_peak(refine, tolerance):
    rng = np.random.default_rng(0)
    centres = rng.uniform([4, 4], [44, 60], (3, 17, 2))
    coords, scores = decode_heatmaps(_gaussian(centres), np.repeat(IDENTITY, 3, 0), (48, 64), refine=refine)
    assert np.abs(coords - centres).max() < tolerance
    assert scores.shape == (3, 17) and np.all((scores > 0.7) & (scores <= 1))


def test_quarter_offset_moves_towards_the_higher_neighbour():
    coords, _ = decode_heatmaps(_gaussian(np.array([[[20.3, 30.7]]])), IDENTITY, (48, 64), refine="quarter")
    np.testing.assert_allclose(coords[0, 0], [20.25, 30.75])


def test_round_trip_through_the_clip_affine():
    # image -> input: scale 0.5, rotate 30 degrees, translate; the dataset hands us its inverse.
    angle = np.deg2rad(30)
    rot = 0.5 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = np.column_stack([rot, [40.0, -20.0]])
    inverse = np.column_stack([np.linalg.inv(rot), -np.linalg.inv(rot) @ forward[:, 2]])
    image_points = np.array([[[300.0, 200.0], [260.5, 251.25], [330.0, 180.0]]])
    input_points = image_points @ rot.T + forward[:, 2]
    stride = 4  # 192 x 256 input, 48 x 64 heatmaps
    heatmaps = _gaussian(input_points / stride)
    coords, _ = decode_heatmaps(torch.from_numpy(heatmaps), inverse[None], (192, 256))
    np.testing.assert_allclose(coords, image_points, atol=0.1)


def _mirror(heatmaps: np.ndarray) -> np.ndarray:
    """What the network would give for the mirrored input: mirrored maps, left/right swapped."""
    return heatmaps[..., ::-1][:, flip_permutation()]


def test_flip_back_of_a_flipped_heatmap_is_the_original():
    heatmaps = np.random.default_rng(0).random((2, 17, 8, 6))
    np.testing.assert_array_equal(flip_back(_mirror(heatmaps), shift=False), heatmaps)
    tensor = torch.from_numpy(heatmaps)
    assert torch.equal(flip_back(torch.from_numpy(_mirror(heatmaps).copy()), shift=False), tensor)


def test_flip_back_shift_moves_one_pixel_right_as_hrnet():
    heatmaps = np.random.default_rng(1).random((1, 17, 4, 5))
    shifted = flip_back(_mirror(heatmaps), shift=True)
    np.testing.assert_array_equal(shifted[..., 1:], heatmaps[..., :-1])
    np.testing.assert_array_equal(shifted[..., 0], heatmaps[..., 0])
    np.testing.assert_array_equal(flip_average(heatmaps, _mirror(heatmaps), shift=False), heatmaps)


def test_person_score_is_the_mean_of_joint_scores_above_threshold_times_box_score():
    scores = np.full((2, 17), 0.1)
    scores[0, [0, 5, 6]] = [0.9, 0.6, 0.3]
    scores[0, 3] = 1.0  # an ear: never annotated, so never counted
    np.testing.assert_allclose(person_scores(scores), [0.6, 0.0])
    np.testing.assert_allclose(person_scores(scores, box_scores=np.array([0.5, 1.0])), [0.3, 0.0])


def test_hieve_heatmaps_flip_with_hieves_pairs():
    # 14 channels are HiEve's joints: right_shoulder (2) <-> left_shoulder (5), chest (1) stays
    heatmaps = np.random.default_rng(2).random((2, 14, 8, 6))
    mirrored = heatmaps[..., ::-1][:, HIEVE.flip_permutation()]
    np.testing.assert_array_equal(mirrored[:, 2], heatmaps[:, 5, :, ::-1])
    np.testing.assert_array_equal(flip_back(mirrored, shift=False), heatmaps)
    np.testing.assert_array_equal(flip_back(mirrored, shift=False, joints=HIEVE), heatmaps)
    with pytest.raises(ValueError, match="5 joints match 0 joint sets"):
        flip_back(heatmaps[:, :5])


def test_hieve_person_scores_count_every_joint():
    scores = np.full((1, 14), 0.1)
    scores[0, [0, 1, 13]] = [0.9, 0.6, 0.3]  # nose, chest, left ankle: all annotated in HiEve
    np.testing.assert_allclose(person_scores(scores), [0.6])
