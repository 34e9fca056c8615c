"""Heatmaps -> keypoints in image pixels: arg-max, sub-pixel refinement, flip test, person scores.

Typical use: ``decode_heatmaps(flip_average(h, h_of_mirror), inv_affine, (W, H))``, then
``person_scores`` of the joint scores (times the detector's box score).

Coordinates. A heatmap pixel (u, v) sits at input pixel (u * sx, v * sy) with stride
sx = W / w, sy = H / h (HRNet's convention, the one the training targets use: a joint at input x
is drawn at x / stride). The clip's ``inv_affine`` (2, 3) then maps input pixels to image pixels.

Refinement (``refine``):
- ``"dark"`` (default): DARK, Zhang et al., "Distribution-Aware Coordinate Representation for Human
  Pose Estimation", CVPR 2020. The heatmap is smoothed with a Gaussian (``blur_sigma``, zero
  border, 11 taps for sigma 2 as in the authors' kernel 11), its log is expanded to second order at
  the arg-max, and the maximum of that quadratic, -H^-1 g, is the offset. It recovers the centre
  of a Gaussian peak almost exactly; it needs two pixels of margin and an invertible Hessian, else
  the arg-max stays.
- ``"quarter"``: HRNet's rule, a quarter pixel towards the higher neighbour on each axis (when
  both neighbours exist).
- ``None``: the integer arg-max.
The joint score is the heatmap's maximum value (before smoothing), as in HRNet and DCPose.

Joint sets: the flip test's left/right swap and the joints a person score averages come from the
dataset's :class:`~tdmi.data.joints.JointSet`; left out, it is the one whose joint count equals
the heatmaps' channels (17 PoseTrack, 14 HiEve).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from tdmi.data.joints import JointSet, joint_set_for

Array = np.ndarray | torch.Tensor


def _numpy(x: Array) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _argmax(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, h, w) -> integer x, y and the maximum value of each map."""
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, h * w)
    idx = flat.argmax(axis=1)
    return idx % w, idx // w, flat[np.arange(k), idx]


def _dark_offsets(heatmaps: np.ndarray, x: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    """(K, 2) DARK offsets from the second-order expansion of the smoothed log-heatmap."""
    k, h, w = heatmaps.shape
    smooth = gaussian_filter(heatmaps.astype(np.float64), sigma=(0, sigma, sigma), mode="constant", truncate=2.5)
    logs = np.log(np.maximum(smooth, 1e-10))
    offsets = np.zeros((k, 2))
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    if not ok.any():
        return offsets
    i, xs, ys = np.flatnonzero(ok), x[ok], y[ok]

    def at(dx: int, dy: int) -> np.ndarray:
        return logs[i, ys + dy, xs + dx]

    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    hxx = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    hyy = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    good = det != 0
    safe = np.where(good, det, 1.0)
    # -H^-1 g with H = [[hxx, hxy], [hxy, hyy]]
    dx = -(hyy * gx - hxy * gy) / safe
    dy = -(-hxy * gx + hxx * gy) / safe
    offsets[i] = np.where(good[:, None], np.column_stack([dx, dy]), 0.0)
    return offsets


def _quarter_offsets(heatmaps: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    k, h, w = heatmaps.shape
    i = np.arange(k)
    offsets = np.zeros((k, 2))
    ok = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    xs, ys = np.clip(x, 1, w - 2), np.clip(y, 1, h - 2)
    diff = np.column_stack(
        [
            heatmaps[i, ys, xs + 1] - heatmaps[i, ys, xs - 1],
            heatmaps[i, ys + 1, xs] - heatmaps[i, ys - 1, xs],
        ]
    )
    offsets[ok] = 0.25 * np.sign(diff[ok])
    return offsets


def decode_heatmaps(
    heatmaps: Array,
    inv_affine: Array,
    input_size: tuple[int, int],
    refine: str | None = "dark",
    blur_sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, h, w) heatmaps -> (N, J, 2) image-pixel coordinates and (N, J) joint scores.

    ``inv_affine`` (N, 2, 3) maps network-input pixels to image pixels; ``input_size`` is (W, H).
    """
    maps = _numpy(heatmaps)
    n, j, h, w = maps.shape
    flat = maps.reshape(n * j, h, w)
    x, y, scores = _argmax(flat)
    coords = np.column_stack([x, y]).astype(np.float64)
    if refine == "dark":
        coords += _dark_offsets(flat, x, y, blur_sigma)
    elif refine == "quarter":
        coords += _quarter_offsets(flat, x, y)
    elif refine is not None:
        raise ValueError(f"refine must be 'dark', 'quarter' or None, got {refine!r}")
    stride = np.array([input_size[0] / w, input_size[1] / h])
    inputs = (coords * stride).reshape(n, j, 2)
    affine = _numpy(inv_affine).astype(np.float64).reshape(n, 2, 3)
    image = np.einsum("nab,njb->nja", affine[:, :, :2], inputs) + affine[:, None, :, 2]
    return image, scores.reshape(n, j).astype(np.float64)


def flip_back(heatmaps_of_flipped_input: Array, shift: bool = True, joints: JointSet | None = None) -> Array:
    """Heatmaps predicted for the mirrored input -> heatmaps of the original input (same type).

    Mirrors the width axis and swaps left/right joints. ``shift`` moves the result one heatmap
    pixel right, as HRNet's SHIFT_HEATMAP: the input mirror maps input x to W - 1 - x, which lands
    at heatmap x/s - 1 + 1/s after mirroring back (0.75 px left of the truth for stride 4); the
    shift leaves +0.25 px instead. Column 0 keeps its value, as in HRNet.
    """
    maps = torch.as_tensor(heatmaps_of_flipped_input)
    joints = joints or joint_set_for(maps.shape[1])
    out = maps.flip(-1)[:, joints.flip_permutation()]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out if isinstance(heatmaps_of_flipped_input, torch.Tensor) else out.numpy()


def flip_average(
    heatmaps: Array,
    heatmaps_of_flipped_input: Array,
    shift: bool = True,
    joints: JointSet | None = None,
) -> Array:
    """The flip test: the mean of the heatmaps of the input and, flipped back, of its mirror."""
    return (heatmaps + flip_back(heatmaps_of_flipped_input, shift, joints)) * 0.5


def person_scores(
    joint_scores: Array,
    box_scores: Array | None = None,
    threshold: float = 0.2,
    joints: Sequence[int] | None = None,
) -> np.ndarray:
    """(N, J) joint scores -> (N,) person scores: the mean of the joint scores above ``threshold``
    (0 when none is), times the detection box score when given.

    HRNet and DCPose rescore people this way before OKS-NMS (``in_vis_thre`` 0.2). Only the joints
    the dataset annotates count (``joints``, by default the joint set's evaluated joints): PoseTrack's
    ears have no ground truth, so their heatmaps are untrained.
    """
    scores = _numpy(joint_scores).astype(np.float64)
    if joints is None:
        joints = joint_set_for(scores.shape[1]).evaluated
    scores = scores[:, list(joints)]
    above = scores > threshold
    mean = np.where(above.any(axis=1), (scores * above).sum(axis=1) / np.maximum(above.sum(axis=1), 1), 0.0)
    return mean if box_scores is None else mean * _numpy(box_scores).astype(np.float64)
