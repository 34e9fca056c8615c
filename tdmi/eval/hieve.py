"""HiEve evaluation: crowd-weighted challenge AP, PoseTrack-style per-joint AP, OKS AP, submission.

What the organisers publish, as far as we could find it (searched: humaninevents.org, the HiEve
paper arXiv 2005.04490 through its arXiv-vanity and deepai copies, GitHub code and issues that
read HiEve): the keypoint order and annotation format, and that submissions are one JSON file per
sequence (humaninevents.org/format.html); the paper says pose estimation is scored on an online
server. The pose track's formula, its thresholds and how it weights crowded frames are NOT in any
source we could read (searched again, 2026-11: the HiEve paper's arXiv-vanity/deepai/graviti pages,
the Track 3 2nd-place report arXiv 2010.10007, code and issues for HiEve/HIE evaluation). The one
HiEve keypoint evaluator found is unofficial: github.com/Zepyhrus/hie (hie/hieval.py, "an
unofficial re-implementation of COCO-api"): COCO's OKS AP with 14 sigmas ``[79, 79, 71, 72, 62,
79, 72, 62, 107, 87, 89, 107, 87, 89] / 1000`` (nose 0.079 where we take COCO's 0.026, right
shoulder 0.071 where we take 0.079), up to 256 predictions per frame and no crowd weighting. So the
challenge metric below is our choice, every part an argument:

- **w_AP / AP** (``weighted_oks_ap``): COCO's keypoint AP (greedy matching by score, OKS with
  HiEve's sigmas from :mod:`tdmi.eval.coco`, 101-point interpolated precision, at most 20
  predictions per frame (``max_detections``: pycocotools' keypoint maxDets; a HiEve frame can hold
  more people, so 256 as the unofficial evaluator above is an option), ground truth without
  labelled joints ignored), exactly as pycocotools
  computes it, at OKS thresholds 0.50:0.05:0.95, reported at 0.5, 0.75 and their mean, in percent,
  under COCO's names (AP50, AP75, AP: MLflow refuses '@' in a metric name). In w_AP every ground
  truth and every prediction of a frame counts with the frame's weight in the recall and precision
  sums; in AP all weights are 1 (and AP equals pycocotools').
- **Crowd weight** (``weighting="crowd_index"``): 1 + the frame's Crowd Index, the crowdedness
  measure of CrowdPose (Li et al., CVPR 2019, Eq. 1; from the same university as HiEve): the mean
  over the frame's people of (labelled joints of *other* people inside the person's box) /
  (the person's labelled joints). A frame of isolated people weighs 1; ``"none"`` weighs all 1.

**PoseTrack-style per-joint AP** on HiEve's 14 joints (``evaluate_hieve_ap``): poseval's matching
and AP (:mod:`tdmi.eval.posetrack`, PCKh@0.5) with the paper's columns (Head = nose and chest).
HiEve has no head box, so the head size is our choice (``head``):

- ``"nose_chest"`` (default): 1.0 x the nose-to-chest distance when both are labelled, else the
  ``"box"`` rule. On the vendored PoseTrack18 sample, poseval's head size (0.6 x head-box
  diagonal) over the nose-to-shoulder-midpoint distance (our synthetic Chest, see
  :mod:`tdmi.data.hieve`) has median 1.05 (13 people, quartiles 0.86 and 1.21).
- ``"box"``: 0.15 x the person box height; the same sample gives a median ratio of 0.148 (14
  people with at least 10 labelled joints, quartiles 0.12 and 0.19).

**Options** (:class:`HiEveMetric`, config key ``hieve_metric`` of ``experiments/conf/evaluate``):
``head``, ``weighting`` and ``max_detections`` above, for the evaluate stage; training's validation
uses the defaults.

**OKS AP/AR** through pycocotools: :func:`tdmi.eval.coco.coco_oks` with HiEve's sigmas.

**Submission** (``write_submission``): the page shows only the file structure (``<sequence>.json``
in the zip's root). We write the layout the challenge's track 2/3 label files have in public code
that reads them (github.com/yxxxqqq/MultiPose-HigherHRNet, lib/dataset/HIEDataProcess.py
``recreate_json``): ``annolist[].image[0].name`` and ``annorect[]`` with ``x1, y1, x2, y2,
score, track_id`` and ``annopoints[0].point[]`` of ``id, x, y, score``, every value a one-element
list (the PoseTrack17/MPII convention); joint ids are HiEve's indices 0..13; a predicted person's
box is the extent of its predicted joints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tdmi.data.joints import HIEVE, JointSet
from tdmi.data.posetrack import Frame, Person, Video, iter_frames
from tdmi.eval.coco import HIEVE_SIGMAS, coco_oks
from tdmi.eval.posetrack import PoseTrackAP, per_joint_ap, true_positives
from tdmi.eval.results import PosePrediction, group_by_image
from tdmi.utils.config import check_fields, require

HEAD_RULES = ("nose_chest", "box")
NOSE_CHEST_FACTOR = 1.0
BOX_HEIGHT_FACTOR = 0.15
WEIGHTINGS = ("crowd_index", "none")
OKS_THRESHOLDS = tuple(np.linspace(0.5, 0.95, 10))  # pycocotools' iouThrs, bit for bit
MAX_DETECTIONS = 20  # pycocotools' maxDets for keypoints
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
NOSE, CHEST = HIEVE.names.index("nose"), HIEVE.names.index("chest")


@dataclass(frozen=True)
class HiEveMetric:
    """The metric's choices where HiEve is silent (module docstring), as the config sets them."""

    head: str = "nose_chest"  # HEAD_RULES: the PCKh head size
    weighting: str = "crowd_index"  # WEIGHTINGS: each frame's weight in w_AP
    max_detections: int = MAX_DETECTIONS  # predictions kept per frame (highest scores) in w_AP/AP

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, prefix: str = "hieve_metric.") -> HiEveMetric:
        """From the config's ``hieve_metric`` mapping (missing keys: the defaults); a ConfigError
        names a bad key and the allowed values."""
        values = dict(values or {})
        check_fields(cls, values, prefix)
        metric = cls(**values)
        require(metric.head in HEAD_RULES, f"{prefix}head", metric.head, f"must be one of {list(HEAD_RULES)}")
        require(
            metric.weighting in WEIGHTINGS, f"{prefix}weighting", metric.weighting, f"must be one of {list(WEIGHTINGS)}"
        )
        require(metric.max_detections >= 1, f"{prefix}max_detections", metric.max_detections, "must be at least 1")
        return metric


DEFAULT_METRIC = HiEveMetric()


def head_size(person: Person, head: str = "nose_chest") -> float:
    """The PCKh normaliser of one HiEve person (see the module docstring)."""
    if head not in HEAD_RULES:
        raise ValueError(f"head must be one of {HEAD_RULES}, got {head!r}")
    nose, chest = person.joints[NOSE], person.joints[CHEST]
    if head == "nose_chest" and nose[2] > 0 and chest[2] > 0:
        return NOSE_CHEST_FACTOR * float(np.linalg.norm(nose[:2] - chest[:2]))
    return BOX_HEIGHT_FACTOR * float(person.bbox[3])


@dataclass(frozen=True)
class HiEveAP(PoseTrackAP):
    """poseval's per-joint AP on HiEve's 14 joints; columns by HiEve's joint groups."""

    joints: ClassVar[JointSet] = HIEVE


def _predicted(preds: Sequence[PosePrediction]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    joints = np.array([p.joints for p in preds], dtype=np.float64).reshape(-1, HIEVE.num_joints, 2)
    scores = np.array([p.joint_scores for p in preds], dtype=np.float64)
    return joints, np.all(np.isfinite(joints), axis=2), scores.reshape(-1, HIEVE.num_joints)


def evaluate_hieve_ap(
    videos: Sequence[Video],
    predictions: Mapping[int, Sequence[PosePrediction]],
    head: str = "nose_chest",
) -> HiEveAP:
    """poseval's per-joint AP (PCKh@0.5, head size by ``head``) on HiEve's 14 joints."""
    frames = [f for f in iter_frames(videos) if f.people]
    width = HIEVE.num_joints
    scores, labels, has = (
        [np.zeros((0, width))],
        [np.zeros((0, width), bool)],
        [np.zeros((0, width), bool)],
    )
    num_gt = np.zeros(width, dtype=np.int64)
    for frame in frames:
        gt = np.stack([p.joints for p in frame.people])
        gt_has = gt[..., 2] > 0
        heads = np.array([head_size(p, head) for p in frame.people])
        pr, pr_has, pr_scores = _predicted(predictions.get(frame.image_id, ()))
        num_gt += gt_has.sum(axis=0)
        scores.append(pr_scores)
        labels.append(true_positives(gt[..., :2], gt_has, heads, pr, pr_has))
        has.append(pr_has)
    scores_all, labels_all, has_all = (
        np.concatenate(scores),
        np.concatenate(labels),
        np.concatenate(has),
    )
    result = per_joint_ap(HIEVE.names, scores_all, labels_all, has_all, num_gt)
    return HiEveAP(**result, num_frames=len(frames))


def crowd_index(frame: Frame) -> float:
    """CrowdPose's Crowd Index of a frame: mean over people of N_b / N_a (labelled joints only)."""
    ratios = []
    for i, person in enumerate(frame.people):
        own = int(np.count_nonzero(person.joints[:, 2] > 0))
        if own == 0:
            continue
        x, y, w, h = person.bbox
        others = [p.joints[p.joints[:, 2] > 0, :2] for k, p in enumerate(frame.people) if k != i]
        pts = np.concatenate(others) if others else np.zeros((0, 2))
        inside = (pts[:, 0] >= x) & (pts[:, 0] <= x + w) & (pts[:, 1] >= y) & (pts[:, 1] <= y + h)
        ratios.append(np.count_nonzero(inside) / own)
    return float(np.mean(ratios)) if ratios else 0.0


def frame_weight(frame: Frame, weighting: str = "crowd_index") -> float:
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return 1.0 + crowd_index(frame) if weighting == "crowd_index" else 1.0


def oks(gt: Person, joints: np.ndarray, sigmas: np.ndarray = HIEVE_SIGMAS) -> float:
    """pycocotools' ``computeOks`` of predicted (J, 2) ``joints`` against one ground truth."""
    variances = (2 * sigmas) ** 2
    xg, yg, vg = gt.joints.T
    x, y, w, h = gt.bbox
    if np.any(vg > 0):
        dx, dy = joints[:, 0] - xg, joints[:, 1] - yg
    else:  # no labelled joint: distance to the box enlarged by its size on each side
        dx = np.maximum(0, (x - w) - joints[:, 0]) + np.maximum(0, joints[:, 0] - (x + 2 * w))
        dy = np.maximum(0, (y - h) - joints[:, 1]) + np.maximum(0, joints[:, 1] - (y + 2 * h))
    e = (dx**2 + dy**2) / variances / (w * h + np.spacing(1)) / 2
    if np.any(vg > 0):
        e = e[vg > 0]
    return float(np.sum(np.exp(-e)) / e.shape[0])


def _match(ious: np.ndarray, ignored: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' ``evaluateImg`` matching: (D,) matched flags and (D,) ignored flags of the
    detections (sorted by score) against ground truths sorted with the ignored ones last."""
    matched_gt = np.zeros(ious.shape[1], dtype=bool)
    tp, dt_ignored = np.zeros(ious.shape[0], dtype=bool), np.zeros(ious.shape[0], dtype=bool)
    for d in range(ious.shape[0]):
        best, m = min(threshold, 1 - 1e-10), -1
        for g in range(ious.shape[1]):
            if matched_gt[g]:
                continue
            if m > -1 and not ignored[m] and ignored[g]:
                break
            if ious[d, g] < best:
                continue
            best, m = ious[d, g], g
        if m > -1:
            matched_gt[m], tp[d], dt_ignored[d] = True, True, ignored[m]
    return tp, dt_ignored


def _interpolated_ap(scores: np.ndarray, tp: np.ndarray, weights: np.ndarray, positives: float) -> float:
    """pycocotools' ``accumulate`` for one threshold, each detection counting with its weight."""
    if positives == 0:
        return float("nan")
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    tps = np.cumsum(np.where(tp[order], weights[order], 0.0))
    fps = np.cumsum(np.where(tp[order], 0.0, weights[order]))
    recall = tps / positives
    precision = tps / (tps + fps + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0)
    return float(np.mean(sampled))


def _name(threshold: float) -> str:
    """COCO's name of the AP at one OKS threshold: 0.5 -> "AP50"."""
    return f"AP{round(100 * threshold)}"


def weighted_oks_ap(
    videos: Sequence[Video],
    predictions: Mapping[int, Sequence[PosePrediction]],
    weighting: str = "crowd_index",
    thresholds: Sequence[float] = OKS_THRESHOLDS,
    sigmas: np.ndarray = HIEVE_SIGMAS,
    max_detections: int = MAX_DETECTIONS,
) -> dict[str, float]:
    """{"AP50": ..., "AP55": ..., "AP": mean over ``thresholds``} in percent (COCO's names), each
    frame counting with its crowd weight and keeping its ``max_detections`` best-scored predictions."""
    frames = [f for f in iter_frames(videos) if f.people]
    scores, weights, per_threshold = [], [], {t: ([], []) for t in thresholds}
    positives = 0.0
    for frame in frames:
        weight = frame_weight(frame, weighting)
        ignored = np.array([not np.any(p.joints[:, 2] > 0) for p in frame.people])
        gts = [frame.people[g] for g in np.argsort(ignored, kind="stable")]
        ignored = np.sort(ignored, kind="stable")
        positives += weight * np.count_nonzero(~ignored)
        preds = [p for p in predictions.get(frame.image_id, ()) if np.any(np.isfinite(p.joints))]
        preds = sorted(preds, key=lambda p: -p.score)[:max_detections]
        ious = np.array([[oks(g, np.nan_to_num(np.asarray(p.joints, float)), sigmas) for g in gts] for p in preds])
        ious = ious.reshape(len(preds), len(gts))
        scores.append(np.array([p.score for p in preds], dtype=np.float64))
        weights.append(np.full(len(preds), weight))
        for t in thresholds:
            tp, dt_ignored = _match(ious, ignored, t)
            per_threshold[t][0].append(tp)
            per_threshold[t][1].append(dt_ignored)
    score_all = np.concatenate(scores) if scores else np.zeros(0)
    weight_all = np.concatenate(weights) if weights else np.zeros(0)
    out = {}
    for t in thresholds:
        tp = np.concatenate(per_threshold[t][0]) if frames else np.zeros(0, bool)
        keep = ~(np.concatenate(per_threshold[t][1]) if frames else np.zeros(0, bool))
        out[_name(t)] = 100 * _interpolated_ap(score_all[keep], tp[keep], weight_all[keep], positives)
    out["AP"] = float(np.mean([out[_name(t)] for t in thresholds]))
    return out


def challenge_metrics(
    videos: Sequence[Video],
    predictions: Mapping[int, Sequence[PosePrediction]],
    weighting: str = "crowd_index",
    max_detections: int = MAX_DETECTIONS,
) -> dict[str, float]:
    """w_AP and AP at 0.5, 0.75 and avg (percent): our reading of the pose track's metric."""
    weighted = weighted_oks_ap(videos, predictions, weighting, max_detections=max_detections)
    plain = weighted_oks_ap(videos, predictions, "none", max_detections=max_detections)
    keys = ("AP50", "AP75", "AP")
    return {**{f"w_{k}": weighted[k] for k in keys}, **{k: plain[k] for k in keys}}


def evaluate_hieve(
    videos: Sequence[Video],
    predictions: Iterable[PosePrediction],
    metric: HiEveMetric = DEFAULT_METRIC,
) -> tuple[dict[str, float], HiEveAP]:
    """Flat metrics as :func:`tdmi.engine.predict.evaluate` gives them ("mAP", "AP/<column>",
    "oks/<stat>") plus "hieve/<w_AP|w_AP50|w_AP75|AP|AP50|AP75>", and the per-joint table."""
    by_image = group_by_image(predictions)
    table = evaluate_hieve_ap(videos, by_image, metric.head)
    metrics = {"mAP": table.columns()["Mean"]}
    metrics.update({f"AP/{k}": v for k, v in table.columns().items()})
    metrics.update({f"oks/{k}": v for k, v in coco_oks(videos, by_image, HIEVE).items()})
    challenge = challenge_metrics(videos, by_image, metric.weighting, metric.max_detections)
    metrics.update({f"hieve/{k}": v for k, v in challenge.items()})
    return metrics, table


def _rect(p: PosePrediction, track: int) -> dict:
    joints = np.asarray(p.joints, dtype=np.float64)
    present = np.all(np.isfinite(joints), axis=1)
    (x0, y0), (x1, y1) = (joints[present].min(0), joints[present].max(0)) if present.any() else ((0, 0), (0, 0))
    points = [
        {
            "id": [int(j)],
            "x": [float(joints[j, 0])],
            "y": [float(joints[j, 1])],
            "score": [float(p.joint_scores[j])],
        }
        for j in np.flatnonzero(present)
    ]
    return {
        "x1": [float(x0)], "y1": [float(y0)], "x2": [float(x1)], "y2": [float(y1)],
        "score": [float(p.score)], "track_id": [int(track)], "annopoints": [{"point": points}],
    }  # fmt: skip


def write_submission(predictions: Iterable[PosePrediction], videos: Sequence[Video], out: str | Path) -> list[Path]:
    """HiEve's submission: ``out/<sequence>.json`` per video, every frame listed."""
    by_image = group_by_image(predictions)
    unknown = sorted(set(by_image) - {f.image_id for f in iter_frames(videos)})
    if unknown:
        raise ValueError(f"predictions for image ids in none of the videos, e.g. {unknown[:5]}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for video in videos:
        annolist = []
        for frame in video.frames:
            preds = by_image.get(frame.image_id, ())
            rects = [_rect(p, p.track_id if p.track_id is not None else k) for k, p in enumerate(preds)]
            image = [{"name": Path(frame.file_name).name}]
            annolist.append({"image": image, "imgnum": [frame.frame_index], "annorect": rects})
        files.append(out / f"{video.name}.json")
        files[-1].write_text(json.dumps({"annolist": annolist}))
    return files
