"""Person-centred clips: a key frame and its supporting frames, all cropped with one affine.

One sample = one person in one labelled frame. The crop box comes from the ground truth (training)
or from a detection above a score threshold (evaluation); its aspect ratio is fixed to the input's
and it is enlarged by ``box_pad`` (1.25, as in HRNet/DCPose). Every supporting frame (offsets
-2..+2 by default; clamped to the first/last frame of the video) goes through the *same* affine as
the key frame, so motion inside the crop is the person's motion. Augmentation (scale, rotation,
horizontal flip with the dataset's flip pairs) is folded into that one affine, and its inverse is
returned so predictions map back to image coordinates exactly. Clips leave the dataset as uint8;
:func:`normalize_clips` turns a batch into the model's float input.

The joint count and flip pairs come from the dataset's :class:`~tdmi.data.joints.JointSet`
(PoseTrack's 17 by default, HiEve's 14 with ``joints=HIEVE``); a person with another count is an
error naming the frame.

Frames are decoded once per worker and kept in a small LRU cache (neighbouring key frames share
supporting frames); when the crop shrinks the image by 2x or more, JPEG's reduced decode is used.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from tdmi.data.joints import POSETRACK, JointSet
from tdmi.data.posetrack import Detection, Frame, Video

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


@dataclass
class ClipConfig:
    """How clips are cut; sizes are (width, height) in pixels."""

    input_size: tuple[int, int] = (96, 128)
    heatmap_stride: int = 4
    offsets: tuple[int, ...] = (-2, -1, 0, 1, 2)
    sigma: float = 2.0  # Gaussian target, heatmap pixels
    box_pad: float = 1.25
    det_score_threshold: float = 0.2
    scale_factor: float = 0.25  # training: box scale drawn from 1 +- this (clipped at 2 sigma)
    rotation: float = 30.0  # training: degrees, drawn with probability rotation_prob
    rotation_prob: float = 0.6
    flip: bool = True
    reduced_decode: bool = True
    cache_frames: int = 48  # decoded frames kept per worker

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)
        self.offsets = tuple(int(v) for v in self.offsets)
        if 0 not in self.offsets:
            raise ValueError(f"ClipConfig.offsets must contain 0 (the key frame), got {self.offsets}")
        w, h = self.input_size
        if w % self.heatmap_stride or h % self.heatmap_stride:
            raise ValueError(
                f"ClipConfig.input_size {self.input_size} must be divisible by heatmap_stride {self.heatmap_stride}"
            )

    @property
    def heatmap_size(self) -> tuple[int, int]:
        return self.input_size[0] // self.heatmap_stride, self.input_size[1] // self.heatmap_stride

    @property
    def key_index(self) -> int:
        return self.offsets.index(0)


def box_to_center_scale(box: np.ndarray, aspect: float, pad: float) -> tuple[np.ndarray, np.ndarray]:
    """[x, y, w, h] -> centre and (w, h) of a box with the input's aspect ratio, enlarged by pad."""
    x, y, w, h = (float(v) for v in box)
    center = np.array([x + w / 2, y + h / 2])
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return center, np.array([w, h]) * pad


def crop_affine(
    center: np.ndarray, size: np.ndarray, rotation: float, out_size: tuple[int, int], flip: bool = False
) -> np.ndarray:
    """2x3 affine from image pixels to crop pixels: the box ``size`` at ``center`` fills the output.

    Rotation is in degrees (counter-clockwise in the image); a flip mirrors the output horizontally.
    """
    out_w, out_h = out_size
    s = out_w / size[0]
    a = math.radians(rotation)
    cos, sin = math.cos(a) * s, math.sin(a) * s
    m = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    m[:, 2] = np.array([(out_w - 1) / 2, (out_h - 1) / 2]) - m[:, :2] @ center
    if flip:
        m = np.array([[-1.0, 0.0, out_w - 1], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    return m


def apply_affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 2x3 affine."""
    return points @ m[:, :2].T + m[:, 2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m.astype(np.float64))


def gaussian_heatmaps(
    joints: np.ndarray, visible: np.ndarray, size: tuple[int, int], sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised Gaussians centred at sub-pixel joint positions (heatmap pixels) + target weights."""
    w, h = size
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    inside = (joints[:, 0] >= -0.5) & (joints[:, 0] <= w - 0.5) & (joints[:, 1] >= -0.5) & (joints[:, 1] <= h - 0.5)
    weight = (visible > 0) & inside
    gx = np.exp(-((xs[None, :] - joints[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((ys[None, :] - joints[:, 1:2]) ** 2) / (2 * sigma**2))
    heat = gy[:, :, None] * gx[:, None, :] * weight[:, None, None]
    return heat.astype(np.float32), weight.astype(np.float32)


def normalize_clips(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) RGB -> float ImageNet-normalised, on the clips' device.

    Samples stay uint8 until here: a quarter of the bytes through worker queues and collation, and
    the arithmetic runs batched (on the GPU when there is one) instead of per sample in workers.
    """
    shape = (3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, device=clips.device).view(shape) * 255
    std = torch.tensor(IMAGENET_STD, device=clips.device).view(shape) * 255
    return clips.float().sub_(mean).div_(std)


class FrameCache:
    """Decoded frames by (path, reduction), least recently used evicted first."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def get(self, path: Path, reduction: int, where: str) -> np.ndarray:
        key = (str(path), reduction)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        image = cv2.imread(str(path), _REDUCED[reduction])
        if image is None:
            raise FileNotFoundError(f"{path}: {where}: frame file is missing or not a readable image")
        if self.capacity > 0:
            self._items[key] = image
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return image


@dataclass(frozen=True)
class _Item:
    video: int
    position: int  # index into the video's frames
    box: np.ndarray
    score: float
    person: int  # index into the frame's people, -1 for a detection


class PoseTrackClips(Dataset):
    """Clips of one person each, from GT boxes (``detections=None``) or detections."""

    def __init__(
        self,
        videos: list[Video],
        cfg: ClipConfig,
        train: bool = False,
        detections: dict[int, list[Detection]] | None = None,
        joints: JointSet = POSETRACK,
    ):
        self.videos, self.cfg, self.train, self.joints = videos, cfg, train, joints
        self.aspect = cfg.input_size[0] / cfg.input_size[1]
        self.items: list[_Item] = []
        self._cache = FrameCache(cfg.cache_frames)
        self._flip_perm = joints.flip_permutation()
        for v, video in enumerate(videos):
            for pos, frame in enumerate(video.frames):
                if not frame.is_labeled:
                    continue
                counts = {len(person.joints) for person in frame.people} - {joints.num_joints}
                if counts:
                    raise ValueError(
                        f"{frame.source or frame.path}: video {video.name} frame {frame.frame_index}: a person has "
                        f"{counts.pop()} joints, the {joints.name} joint set {joints.num_joints}"
                    )
                if detections is None:
                    for k, person in enumerate(frame.people):
                        if np.any(person.joints[:, 2] > 0) and person.bbox[2] > 1 and person.bbox[3] > 1:
                            self.items.append(_Item(v, pos, person.bbox, 1.0, k))
                else:
                    for det in detections.get(frame.image_id, []):
                        if det.score >= cfg.det_score_threshold and det.bbox[2] > 1 and det.bbox[3] > 1:
                            self.items.append(_Item(v, pos, det.bbox, det.score, -1))

    def __len__(self) -> int:
        return len(self.items)

    def frame(self, index: int) -> Frame:
        item = self.items[index]
        return self.videos[item.video].frames[item.position]

    def _augment(self, rng: np.random.Generator) -> tuple[float, float, bool]:
        if not self.train:
            return 1.0, 0.0, False
        c = self.cfg
        scale = (
            float(np.clip(rng.normal(1.0, c.scale_factor), 1 - 2 * c.scale_factor, 1 + 2 * c.scale_factor))
            if c.scale_factor
            else 1.0
        )
        rot = (
            float(np.clip(rng.normal(0.0, c.rotation), -2 * c.rotation, 2 * c.rotation))
            if rng.random() < c.rotation_prob
            else 0.0
        )
        return scale, rot, bool(c.flip and rng.random() < 0.5)

    def __getitem__(self, index: int) -> dict:
        c, item = self.cfg, self.items[index]
        video = self.videos[item.video]
        scale, rot, flip = self._augment(
            np.random.default_rng(torch.randint(0, 2**31, ()).item()) if self.train else None
        )
        center, size = box_to_center_scale(item.box, self.aspect, c.box_pad)
        m = crop_affine(center, size * scale, rot, c.input_size, flip)
        reduction = 1
        if c.reduced_decode:  # decode at 1/2, 1/4, 1/8 while the crop still shrinks the frame
            while reduction < 8 and c.input_size[0] / (size[0] * scale) <= 1 / (2 * reduction):
                reduction *= 2
        m_read = m @ np.diag([reduction, reduction, 1.0])
        frames = []
        for off in c.offsets:
            pos = min(max(item.position + off, 0), len(video.frames) - 1)
            f = video.frames[pos]
            img = self._cache.get(f.path, reduction, f"video {video.name} frame {f.frame_index}")
            frames.append(cv2.warpAffine(img, m_read, c.input_size, flags=cv2.INTER_LINEAR))
        clip = np.ascontiguousarray(np.stack(frames)[..., ::-1].transpose(0, 3, 1, 2))  # (T, 3, H, W) RGB
        key = video.frames[item.position]
        joints = np.zeros((self.joints.num_joints, 3), np.float32)
        if item.person >= 0:
            gt = key.people[item.person].joints
            joints[:, :2] = apply_affine(gt[:, :2], m)
            joints[:, 2] = gt[:, 2]
            if flip:
                joints = joints[self._flip_perm]
        hm_size = c.heatmap_size
        # heatmap pixel i <-> input pixel i * stride, HRNet's convention (tdmi.eval.decode inverts it)
        target, weight = gaussian_heatmaps(joints[:, :2] / c.heatmap_stride, joints[:, 2], hm_size, c.sigma)
        return {
            "clip": torch.from_numpy(clip),
            "target": torch.from_numpy(target),
            "target_weight": torch.from_numpy(weight),
            "joints": torch.from_numpy(joints),
            "inv_affine": torch.from_numpy(invert_affine(m).astype(np.float32)),
            "image_id": key.image_id,
            "box_score": float(item.score),
            "index": index,
        }
