"""Clips: one affine for all frames, exact inverse, flips, Gaussian targets, clamping at video ends."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tdmi.data.clips import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipConfig,
    PoseTrackClips,
    apply_affine,
    box_to_center_scale,
    crop_affine,
    gaussian_heatmaps,
    invert_affine,
    normalize_clips,
)
from tdmi.data.joints import flip_permutation
from tdmi.data.posetrack import load_detections, load_posetrack


@pytest.mark.parametrize(("rot", "flip"), [(0.0, False), (25.0, False), (-40.0, True)])
def test_affine_round_trip(rot: float, flip: bool) -> None:
    pts = np.random.default_rng(0).uniform(0, 500, (20, 2))
    m = crop_affine(np.array([250.0, 200.0]), np.array([120.0, 160.0]), rot, (96, 128), flip)
    np.testing.assert_allclose(apply_affine(apply_affine(pts, m), invert_affine(m)), pts, atol=1e-9)


def test_box_fills_the_crop() -> None:
    center, size = box_to_center_scale(np.array([100, 50, 40, 100]), 96 / 128, 1.25)
    np.testing.assert_allclose(center, [120, 100])
    np.testing.assert_allclose(size, np.array([75, 100]) * 1.25)
    m = crop_affine(center, size, 0.0, (96, 128))
    corners = apply_affine(np.array([center - size / 2, center + size / 2]), m)
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [95.5, 127.5]], atol=1e-9)


def test_flipping_twice_is_the_identity() -> None:
    m = crop_affine(np.array([60.0, 70.0]), np.array([48.0, 64.0]), 10.0, (96, 128))
    flip = crop_affine(np.array([47.5, 63.5]), np.array([96.0, 128.0]), 0.0, (96, 128), flip=True)
    twice = flip @ np.vstack([flip @ np.vstack([m, [0, 0, 1]]), [0, 0, 1]])
    np.testing.assert_allclose(twice, m, atol=1e-9)
    perm = flip_permutation()
    assert [perm[p] for p in perm] == list(range(17))


def test_heatmap_argmax_is_at_the_joint() -> None:
    joints = np.array([[5.0, 7.0], [10.3, 2.6], [30.0, 4.0]])
    heat, weight = gaussian_heatmaps(joints, np.array([2, 1, 2]), (24, 32), 2.0)
    assert weight.tolist() == [1.0, 1.0, 0.0]  # the third lies outside the 24-wide map
    for j in range(2):
        y, x = np.unravel_index(heat[j].argmax(), heat[j].shape)
        assert (x, y) == (round(joints[j, 0]), round(joints[j, 1]))
    assert heat[0].max() == pytest.approx(1.0) and heat[2].max() == 0.0


def test_training_sample_targets_follow_the_joints(synth_root: Path) -> None:
    videos = load_posetrack(synth_root / "annotations" / "train")
    cfg = ClipConfig()
    torch.manual_seed(0)
    ds = PoseTrackClips(videos, cfg, train=True)
    for i in range(0, len(ds), max(1, len(ds) // 10)):
        s = ds[i]
        assert s["clip"].shape == (5, 3, 128, 96) and s["target"].shape == (17, 32, 24)
        for j in torch.nonzero(s["target_weight"]).flatten().tolist():
            y, x = np.unravel_index(int(s["target"][j].argmax()), (32, 24))
            hx, hy = s["joints"][j, :2].numpy() / 4  # input pixel -> heatmap pixel (HRNet's convention)
            assert abs(x - hx) <= 0.51 and abs(y - hy) <= 0.51


def test_key_frame_is_the_frame_warped_and_joints_map_back(synth_root: Path) -> None:
    videos = load_posetrack(synth_root / "annotations" / "train")
    ds = PoseTrackClips(videos, ClipConfig(reduced_decode=False), train=False)
    s, frame = ds[3], ds.frame(3)
    person = frame.people[ds.items[3].person]
    center, size = box_to_center_scale(person.bbox, 96 / 128, 1.25)
    expect = cv2.warpAffine(cv2.imread(str(frame.path)), crop_affine(center, size, 0.0, (96, 128)), (96, 128))
    assert s["clip"].dtype == torch.uint8
    np.testing.assert_array_equal(s["clip"][2].permute(1, 2, 0).numpy()[..., ::-1], expect)
    norm = normalize_clips(s["clip"][None])
    assert norm.shape == (1, 5, 3, 128, 96) and norm.dtype == torch.float32
    np.testing.assert_allclose(
        norm[0, 2, :, 0, 0].numpy(), (expect[0, 0, ::-1] / 255 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-5
    )
    lab = person.joints[:, 2] > 0
    back = apply_affine(s["joints"][:, :2].numpy().astype(np.float64), s["inv_affine"].numpy().astype(np.float64))
    np.testing.assert_allclose(back[lab], person.joints[lab, :2], atol=1e-2)


def test_flipped_sample_swaps_left_and_right(synth_root: Path) -> None:
    videos = load_posetrack(synth_root / "annotations" / "train")
    cfg = ClipConfig(scale_factor=0.0, rotation=0.0)
    plain = PoseTrackClips(videos, cfg, train=False)[0]
    ds = PoseTrackClips(videos, cfg, train=True)
    for seed in range(20):
        torch.manual_seed(seed)
        s = ds[0]
        if not torch.equal(s["clip"], plain["clip"]):
            break
    # OpenCV's fixed-point bilinear weights may round a mirrored position one grey level apart
    diff = np.abs(s["clip"].numpy().astype(int) - plain["clip"].numpy()[..., ::-1].astype(int))
    assert diff.max() <= 1 and np.count_nonzero(diff) < 1e-3 * diff.size
    perm = flip_permutation()
    lab = plain["joints"][:, 2] > 0
    np.testing.assert_allclose(s["joints"][perm, 0][lab], 95 - plain["joints"][lab, 0], atol=1e-4)


def test_supporting_frames_clamp_at_video_ends(synth_root: Path) -> None:
    videos = load_posetrack(synth_root / "annotations" / "train")
    ds = PoseTrackClips(videos, ClipConfig(), train=False)
    first = next(i for i, it in enumerate(ds.items) if it.position == 0)
    last = next(i for i, it in enumerate(ds.items) if it.position == len(videos[it.video].frames) - 1)
    c = ds[first]["clip"]
    assert torch.equal(c[0], c[2]) and torch.equal(c[1], c[2]) and not torch.equal(c[2], c[3])
    c = ds[last]["clip"]
    assert torch.equal(c[4], c[2]) and torch.equal(c[3], c[2]) and not torch.equal(c[1], c[2])


def test_missing_frame_is_named(synth_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(synth_root, root)
    videos = load_posetrack(root / "annotations" / "val")
    victim = videos[0].frames[1]
    victim.path.unlink()
    ds = PoseTrackClips(videos, ClipConfig(), train=False)
    with pytest.raises(FileNotFoundError, match=rf"{victim.path.name}.*video {videos[0].name} frame 1"):
        for i in range(len(ds)):
            ds[i]


def test_detection_clips_on_the_real_sample(sample_dir: Path) -> None:
    videos = load_posetrack(sample_dir / "annotations" / "val")
    dets = load_detections(sample_dir / "annotations" / "test_posetrack18_human_detections.json", videos)
    cfg = ClipConfig(input_size=(192, 256), det_score_threshold=0.5)
    ds = PoseTrackClips(videos, cfg, detections=dets)
    assert len(ds) == sum(d.score >= 0.5 for ds_ in dets.values() for d in ds_)
    s = ds[0]
    det = dets[s["image_id"]][0]
    centre = apply_affine(np.array([[95.5, 127.5]]), s["inv_affine"].numpy().astype(np.float64))[0]
    np.testing.assert_allclose(centre, det.bbox[:2] + det.bbox[2:] / 2, atol=1e-2)
    assert s["box_score"] == pytest.approx(det.score)


@pytest.fixture(scope="module")
def hieve_root(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic set in HiEve's layout (14 joints)."""
    import shutil

    from tdmi.data.hieve import posetrack_to_hieve

    root = tmp_path_factory.mktemp("hieve") / "set"
    shutil.copytree(synth_root, root)
    posetrack_to_hieve(root, ("train",))
    return root


def test_hieve_clips_have_14_joints_and_flip_with_hieves_pairs(hieve_root: Path) -> None:
    from tdmi.data.datasets import load_dataset
    from tdmi.data.joints import HIEVE

    videos = load_dataset("hieve", hieve_root, "train")
    cfg = ClipConfig(scale_factor=0.0, rotation=0.0)
    plain = PoseTrackClips(videos, cfg, train=False, joints=HIEVE)[0]
    assert plain["target"].shape == (14, 32, 24) and plain["joints"].shape == (14, 3)
    ds = PoseTrackClips(videos, cfg, train=True, joints=HIEVE)
    for seed in range(20):
        torch.manual_seed(seed)
        s = ds[0]
        if not torch.equal(s["clip"], plain["clip"]):
            break
    perm = HIEVE.flip_permutation()
    lab = plain["joints"][:, 2] > 0
    np.testing.assert_allclose(s["joints"][perm, 0][lab], 95 - plain["joints"][lab, 0], atol=1e-4)
    with pytest.raises(ValueError, match=r"000000\.xml: video .* has 14 joints, the posetrack joint set 17"):
        PoseTrackClips(videos, cfg)
