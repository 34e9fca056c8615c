"""PoseTrack multi-person pose estimation AP, computed by the official evaluation's (poseval's) rules.

Each step mirrors github.com/leonid-pishchulin/poseval (``py/`` and the ``poseval/`` package; the
function named in brackets). Where poseval has a quirk, it is reproduced and marked QUIRK.

1. Joints [convert.py ``POSETRACK18_LM_NAMES``, ``Person.from_new``]. The 17 PoseTrack18 keypoints
   become poseval's 15: the ears are dropped, ``head_bottom`` plays poseval's "neck". A keypoint
   exists unless its triplet is exactly (0, 0, 0) [``Person.to_old``]. QUIRK: a ground-truth joint
   with visibility 0 but non-zero coordinates counts as annotated.
2. Scores [``Person.from_new``, eval_helpers ``assignGTmulti``]. A predicted joint's score is
   ``scores[j]`` of its annotation; without a non-empty ``scores`` list it is -9999 (``MIN_SCORE``).
   QUIRK: the triplets' third value is never read as a score. The person score plays no part.
3. Frames [eval_helpers ``cleanupData``]. Only ground-truth frames with at least one annotated
   person are evaluated (``is_labeled`` is not read); predictions on other frames are dropped.
   A person with no annotated joint still makes the frame count.
4. Ignore regions [eval_helpers ``removeIgnoredPoints``, ``removeIgnoredPointsRects``]. In frames
   with ignore regions, every ground-truth and predicted joint strictly inside a region's polygon
   (shapely ``Polygon.contains``; a point on the border stays) is removed, and so is a person left
   without joints. Regions with fewer than 3 points are skipped by the loader (poseval crashes).
   QUIRK: done after step 3, so a frame whose ground-truth people are all removed stays evaluated
   and every prediction there is a false positive.
5. Distances [``assignGTmulti``, ``getHeadSize``]. For a ground-truth person with head box
   (x1, y1, x2, y2), head size = 0.6 * ||(x2 - x1, y2 - y1)||; the normalised distance of a joint
   is ||gt - pred|| / head size, and a joint matches when both exist and the distance <= 0.5.
6. Assignment [``assignGTmulti``]. QUIRK: not greedy by score. For predicted person p and
   ground-truth person g, pck[p, g] = matched joints / annotated joints of g. Each prediction keeps
   only its best ground truth (argmax, first on ties); each ground truth then takes the prediction
   with the highest kept pck (argmax, first prediction on ties), none if that pck is 0. A predicted
   joint of an assigned prediction is a true positive when it matches its ground truth's joint;
   every other predicted joint is a false positive. The number of positives of a joint is the
   number of annotated ground-truth joints left after step 4.
7. AP [eval_helpers ``computeRPC``, ``VOCap``; evaluateAP ``computeMetrics``]. Per joint, all
   predicted joints of all frames, concatenated frame by frame in file order, are sorted by
   ``argsort(scores)[::-1]`` (so among equal scores the later one comes first); precision and
   recall follow; AP is the area under the precision envelope at the points where recall changes
   (VOC style), times 100. QUIRK: a joint without predictions gets AP 0; a joint with predictions
   but no ground truth gets NaN (recall 0/0). Precision and recall are reported at the last point.
8. Columns [eval_helpers ``getCum``]. Head = mean(head_top, head_bottom, nose); Shoulder ...
   Ankle = mean of left and right (NaN propagates). Mean is poseval's "Total": the mean over the
   15 joints of the non-NaN APs, QUIRK: not the mean of the 7 columns.

When the numbers equal poseval's. Ground truth and predictions are paired by image id; poseval
pairs each ground-truth file with the prediction file of the same name, then the two files' frames
by position, and orders tied scores by the order ``glob`` lists the files (directory order). So our
numbers equal poseval's exactly when (1) each file lists its frames in frame order, (2) each
prediction file pairs with the ground-truth file of the same name and lists the same frames, and
(3) files are read in sorted order (on tied scores across videos: we sort file names, poseval
takes the directory's order). Outside these, ours is the defensible reading, not poseval's:
frames listed out of order or missing from a prediction file are still compared with their own
ground truth (poseval would compare frame k with frame k, or refuse unequal frame counts), and
ties are ordered the same on every machine. Further deliberate differences: a merged file may hold
many videos (poseval reads only the first video of a file); a ground-truth video that no
prediction file lists is a warning naming it, and its frames count as frames without predictions
(poseval stops); track ids are not checked (poseval refuses duplicate track ids in a frame, which
only tracking needs); prediction files must list the keypoints in the PoseTrack18 order (poseval
maps them by name); a non-integer ``image_id`` is an error naming the file (poseval silently drops
every such prediction); a ground-truth person needs no ``bbox`` (neither poseval nor AP reads it).

Verified: poseval's AP path (convert.py ``Video/Person/Image.from_new``, ``to_old``; eval_helpers
``load_data_dir`` ... ``assignGTmulti``, ``computeRPC``, ``VOCap``; evaluateAP ``computeMetrics``),
transcribed line by line, scored 300 random sets of per-video files (ignore regions with points on
their borders, missing and v=0 joints, people without joints, tied and missing scores, false
positives) exactly as this module does (largest difference 3e-14); ``benchmarks/eval_speed.py``
runs poseval's own code beside ours on the same files and prints the largest difference.

Speed: steps 4 to 6 run on all frames at once (one row per (prediction, person) pair of a frame,
prediction-major, so "first on ties" is poseval's order; ignore regions in one vectorised shapely
call, polygons made only for regions a point falls in the bounding box of), and the loaders
convert annotations in blocks; no Python loop runs per frame or per pair. The command reads both
sides as tables (:func:`tdmi.data.posetrack.load_posetrack_table`,
:func:`tdmi.eval.results.read_prediction_table`): no record per person, the same numbers.

Command line, with poseval's inputs (a folder of per-video files or one merged file each)::

    python -m tdmi.eval.posetrack --gt GT --pred PRED [--json OUT] [--csv OUT]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import shapely

from tdmi.data.joints import EVALUATED_JOINTS, JOINT_NAMES, NUM_JOINTS, POSETRACK, JointSet
from tdmi.data.posetrack import (
    Frame,
    PeopleTable,
    PoseTrackFormatError,
    Video,
    iter_frames,
    load_posetrack_table,
)
from tdmi.eval.results import (
    COLUMNS,
    PosePrediction,
    PredictionTable,
    read_prediction_table,
    write_metrics_json,
    write_per_joint_csv,
)

PCKH_THRESHOLD = 0.5
HEAD_SIZE_FACTOR = 0.6
PAIR_BLOCK = 1 << 15  # (prediction, person) pairs whose distances are computed at once
POSEVAL_JOINTS = EVALUATED_JOINTS  # the 15 joints poseval keeps, indices into the 17


def inside_ignore_regions(points: np.ndarray, regions: Sequence[np.ndarray]) -> np.ndarray:
    """(..., 2) points -> bool mask, True strictly inside any polygon (shapely ``contains``)."""
    points = np.asarray(points, dtype=np.float64)
    flat = points.reshape(-1, 1, 2)
    inside = _inside_regions(flat, np.zeros(len(flat), dtype=np.int64), _polygons([regions]))
    return inside.reshape(points.shape[:-1])


@dataclass(frozen=True)
class _Regions:
    """Every frame's ignore regions: their points, frame and bounds; a shapely polygon is made
    only for a region some point falls in the bounding box of (few do), when first needed."""

    coords: list[np.ndarray]  # (n, 2) each
    frame: np.ndarray  # (K,) the frame of each region
    bounds: np.ndarray  # (K, 4) x min, y min, x max, y max: shapely.bounds of the polygon
    shapes: np.ndarray  # (K,) object: the polygons made so far, None for the others

    def polygons(self, which: np.ndarray) -> np.ndarray:
        """The shapely polygons of regions ``which`` (rings of one length made in one call)."""
        todo = np.unique(which[np.equal(self.shapes[which], None)])
        lengths = np.array([len(self.coords[k]) for k in todo], dtype=np.int64)
        for n in np.unique(lengths):
            same = todo[lengths == n]
            self.shapes[same] = shapely.polygons(np.stack([self.coords[k] for k in same]))
        return self.shapes[which]


def _polygons(regions: Sequence[Sequence[np.ndarray]]) -> _Regions:
    """The :class:`_Regions` of every frame's ``regions``, frames numbered in order."""
    coords = [r for rs in regions for r in rs]
    frame = np.array([f for f, rs in enumerate(regions) for _ in rs], dtype=np.int64)
    bounds = np.empty((len(coords), 4))
    lengths = np.array([len(c) for c in coords], dtype=np.int64)
    for n in np.unique(lengths):
        same = np.flatnonzero(lengths == n)
        points = np.stack([coords[k] for k in same])
        bounds[same] = np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1)
    return _Regions(coords, frame, bounds, np.full(len(coords), None, dtype=object))


def _inside_regions(points: np.ndarray, frame: np.ndarray, regions: _Regions) -> np.ndarray:
    """(N, J, 2) points, row n in frame ``frame[n]`` -> (N, J) True strictly inside one of that
    frame's ``regions`` (from :func:`_polygons`): every frame in one vectorised shapely call,
    and only for points strictly inside a polygon's bounding box (no other point can be inside)."""
    polygon_frame, bounds = regions.frame, regions.bounds
    inside = np.zeros(points.shape[:2], dtype=bool)
    if not len(polygon_frame) or not len(points):
        return inside
    # every (polygon, row of its frame) pair: rows sorted by frame, then counted per frame
    rows_by_frame = np.argsort(frame, kind="stable")
    per_frame = np.bincount(frame, minlength=polygon_frame.max() + 1)
    first_row = np.cumsum(per_frame) - per_frame
    n_rows = per_frame[polygon_frame]
    polygon = np.repeat(np.arange(len(polygon_frame)), n_rows)
    offset = np.arange(n_rows.sum()) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    row = rows_by_frame[first_row[polygon_frame[polygon]] + offset]
    x, y = points[row, :, 0], points[row, :, 1]  # (pairs, J)
    lo_x, lo_y, hi_x, hi_y = (bounds[polygon, k, None] for k in range(4))
    pair, joint = np.nonzero((x > lo_x) & (x < hi_x) & (y > lo_y) & (y < hi_y))
    hit = shapely.contains_xy(regions.polygons(polygon[pair]), x[pair, joint], y[pair, joint])
    inside[row[pair[hit]], joint[hit]] = True
    return inside


def _ground_truth(frames: Sequence[Frame]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joints (G, 15, 2), annotated mask (G, 15), head sizes (G,) of the frames' people, in order."""
    people = [p for frame in frames for p in frame.people]
    heads = [p.head_box if p.head_box is not None else [np.nan] * 4 for p in people]
    table = PeopleTable(
        [frame for frame in frames for _ in frame.people],
        np.array([p.joints for p in people], dtype=np.float64).reshape(-1, NUM_JOINTS, 3),
        np.array(heads, dtype=np.float64).reshape(-1, 4),
        [p.ann_id for p in people],
    )
    return _ground_truth_rows(table)


def _ground_truth_rows(people: PeopleTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_ground_truth` of a table's rows."""
    joints = people.joints[:, POSEVAL_JOINTS]
    has = np.any(joints != 0, axis=2)
    boxes = people.head_boxes
    lacking = np.flatnonzero(np.isnan(boxes[:, 0]) & has.any(axis=1))
    if lacking.size:
        frame = people.frames[lacking[0]]
        raise PoseTrackFormatError(
            frame.source or frame.file_name or frame.video,
            f"annotation {people.ann_ids[lacking[0]]}.bbox_head",
            "missing: PCKh needs the head box",
        )
    corner = boxes[:, :2] + boxes[:, 2:]  # poseval's x2 = x1 + w, y2 = y1 + h
    heads = HEAD_SIZE_FACTOR * np.linalg.norm(corner - boxes[:, :2], axis=1)
    return joints[..., :2], has, heads


def _frames_with_people(videos: Sequence[Video], people: PeopleTable | None) -> tuple[list[Frame], np.ndarray, tuple]:
    """The frames with an annotated person, in video order; their number of people; and
    :func:`_ground_truth` of those people frame by frame (file order within a frame), from the
    frames' records or from ``people`` (:func:`tdmi.data.posetrack.load_posetrack_table`)."""
    if people is None:
        frames = [f for f in iter_frames(videos) if f.people]
        return frames, np.array([len(f.people) for f in frames], dtype=np.int64), _ground_truth(frames)
    every = list(iter_frames(videos))
    position = {id(f): k for k, f in enumerate(every)}
    frame = np.fromiter((position[id(f)] for f in people.frames), np.int64, len(people.frames))
    rows = np.argsort(frame, kind="stable")
    count = np.bincount(frame, minlength=len(every))
    ordered = PeopleTable(
        [people.frames[k] for k in rows.tolist()],
        people.joints[rows],
        people.head_boxes[rows],
        [people.ann_ids[k] for k in rows.tolist()],
    )
    frames = [f for f, n in zip(every, count.tolist(), strict=True) if n]
    return frames, count[count > 0], _ground_truth_rows(ordered)


def _predicted(preds: Sequence[PosePrediction]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joints (P, 15, 2), predicted mask (P, 15), scores (P, 15); a NaN joint is not predicted."""
    joints = np.array([p.joints for p in preds], dtype=np.float64).reshape(-1, NUM_JOINTS, 2)
    scores = np.array([p.joint_scores for p in preds], dtype=np.float64).reshape(-1, NUM_JOINTS)
    return _poseval_joints(joints, scores)


def _poseval_joints(joints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P, 17, 2) joints and (P, 17) scores -> poseval's 15 joints, their mask, their scores."""
    joints, scores = joints[:, POSEVAL_JOINTS], scores[:, POSEVAL_JOINTS]
    return joints, np.all(np.isfinite(joints), axis=2), scores


def _table_rows(frames: Sequence[Frame], table: PredictionTable) -> tuple[np.ndarray, ...]:
    """The table's predictions on ``frames``, frame by frame (reading order within a frame, as
    :func:`read_posetrack_results` lists them): joints, mask, scores as :func:`_predicted`, and
    the number of predictions of each frame."""
    position = {f.image_id: k for k, f in enumerate(frames)}
    frame = np.fromiter((position.get(i, -1) for i in table.image_ids), np.int64, len(table.image_ids))
    kept = np.flatnonzero(frame >= 0)  # predictions on frames without people are dropped
    rows = kept[np.argsort(frame[kept], kind="stable")]
    return (
        *_poseval_joints(table.joints[rows], table.joint_scores[rows]),
        np.bincount(frame[kept], minlength=len(frames)),
    )


def _assign_frames(
    gt: np.ndarray,
    gt_has: np.ndarray,
    heads: np.ndarray,
    gt_count: np.ndarray,
    pr: np.ndarray,
    pr_has: np.ndarray,
    pr_count: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 6 for many frames at once, with no Python loop over frames.

    Frame f owns the next ``gt_count[f]`` rows of the ground-truth arrays and the next
    ``pr_count[f]`` rows of the predicted ones. Every (prediction, person) pair of a frame is one
    row of the pair arrays, prediction-major, so the first-on-ties rules are poseval's. Returns
    the joint matches of each prediction with its frame's people, (P, G_f, 15) flattened to
    (sum P_f G_f, 15), and per prediction its assigned person's row (-1: none).
    """
    n_pr = len(pr)
    pairs = pr_count * gt_count
    frame = np.repeat(np.arange(len(pairs)), pairs)
    offset = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    per_gt = gt_count[frame]
    p = np.repeat(np.cumsum(pr_count) - pr_count, pairs) + offset // np.maximum(per_gt, 1)
    g = np.repeat(np.cumsum(gt_count) - gt_count, pairs) + offset % np.maximum(per_gt, 1)
    match = np.empty((len(p), pr_has.shape[1]), dtype=bool)
    for lo in range(0, len(p), PAIR_BLOCK):  # blocks of pairs bound the temporaries' memory
        gb, pb = g[lo : lo + PAIR_BLOCK], p[lo : lo + PAIR_BLOCK]
        dx, dy = gt[gb, :, 0] - pr[pb, :, 0], gt[gb, :, 1] - pr[pb, :, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.sqrt(dx**2 + dy**2) / heads[gb, None]
        match[lo : lo + PAIR_BLOCK] = (dist <= PCKH_THRESHOLD) & pr_has[pb] & gt_has[gb]
    n_annotated = gt_has.sum(axis=1)[g]
    pck = match.sum(axis=1).astype(np.float64)
    pck = np.where(n_annotated > 0, pck / np.maximum(n_annotated, 1), pck)
    assigned = np.full(n_pr, -1)
    if not len(pck):
        return match, assigned
    # each prediction keeps its best person (first on ties): pairs run by p, then g
    order = np.lexsort((g, -pck, p))
    first = order[np.flatnonzero(np.r_[True, p[order][1:] != p[order][:-1]])]
    kept = first[pck[first] > 0]
    if not len(kept):  # no prediction matches anyone: np.r_[True, ...] below needs one pair
        return match, assigned
    # each person takes the kept prediction of highest pck (first prediction on ties), if > 0
    order = kept[np.lexsort((p[kept], -pck[kept], g[kept]))]
    winners = order[np.flatnonzero(np.r_[True, g[order][1:] != g[order][:-1]])]
    assigned[p[winners]] = g[winners]
    return match, assigned


def _assign(
    gt: np.ndarray, gt_has: np.ndarray, heads: np.ndarray, pr: np.ndarray, pr_has: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One frame: joint matches (P, G, 15) and, per prediction, its ground-truth person (-1: none)."""
    match, assigned = _assign_frames(gt, gt_has, heads, np.array([len(gt)]), pr, pr_has, np.array([len(pr)]))
    return match.reshape(len(pr), len(gt), pr_has.shape[1]), assigned


def true_positives(
    gt: np.ndarray, gt_has: np.ndarray, heads: np.ndarray, pr: np.ndarray, pr_has: np.ndarray
) -> np.ndarray:
    """One frame, (P, J) True where a predicted joint matches the joint of the person its pose is
    assigned to (poseval's matching for any joint set: tdmi.eval.hieve scores HiEve's 14 with it)."""
    match, assigned = _assign(gt, gt_has, heads, pr, pr_has)
    tp = np.zeros(pr_has.shape, dtype=bool)
    rows = np.flatnonzero(assigned >= 0)
    tp[rows] = match[rows, assigned[rows]]
    return tp


def assigned_people(frame: Frame, preds: Sequence[PosePrediction]) -> np.ndarray:
    """Per prediction of ``frame``, the index of the person poseval assigns it to (-1: none)."""
    if not frame.people:
        return np.full(len(preds), -1)
    gt, gt_has, heads = _ground_truth([frame])
    pr, pr_has, _ = _predicted(preds)
    if frame.ignore_regions:
        gt_has &= ~inside_ignore_regions(gt, frame.ignore_regions)
        pr_has &= ~inside_ignore_regions(pr, frame.ignore_regions)
    return _assign(gt, gt_has, heads, pr, pr_has)[1]


def _average_precision(scores: np.ndarray, labels: np.ndarray, n_gt: int) -> tuple[float, float, float]:
    """AP, final precision, final recall (percent) of one joint: poseval's computeRPC + VOCap."""
    if scores.size == 0:
        return 0.0, 0.0, 0.0
    order = np.argsort(scores)[::-1]
    tp = np.cumsum(labels[order])
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / np.float64(n_gt)
    precision = tp / np.arange(1, tp.size + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    ap = np.sum((mrec[i] - mrec[i - 1]) * mpre[i])
    return float(ap * 100), float(precision[-1] * 100), float(recall[-1] * 100)


@dataclass(frozen=True)
class PoseTrackAP:
    """Per joint (poseval's 15, by name): AP, final precision and recall in percent, positives."""

    ap: dict[str, float]
    precision: dict[str, float]
    recall: dict[str, float]
    num_gt: dict[str, int]
    num_frames: int
    joints: ClassVar[JointSet] = POSETRACK  # whose names and groups make the columns

    def columns(self, kind: str = "ap") -> dict[str, float]:
        """The paper's columns Head ... Ankle, Mean for ``kind`` in ap / precision / recall."""
        values: dict[str, float] = getattr(self, kind)
        out = {g: float(np.mean([values[self.joints.names[j]] for j in js])) for g, js in self.joints.groups.items()}
        finite = [v for v in values.values() if not np.isnan(v)]
        out["Mean"] = float(np.mean(finite)) if finite else float("nan")
        return out

    def to_dict(self) -> dict:
        return {
            "AP": self.columns("ap"),
            "precision": self.columns("precision"),
            "recall": self.columns("recall"),
            "per_joint": {
                name: {
                    "ap": self.ap[name],
                    "precision": self.precision[name],
                    "recall": self.recall[name],
                    "num_gt": self.num_gt[name],
                }
                for name in self.ap
            },
            "num_frames": self.num_frames,
        }


def evaluate_posetrack(
    videos: Sequence[Video],
    predictions: Mapping[int, Sequence[PosePrediction]] | PredictionTable,
    people: PeopleTable | None = None,
) -> PoseTrackAP:
    """poseval's per-joint AP of ``predictions`` (per image id, or a table of them) against the
    ground-truth ``videos`` (their people: the frames' records, or ``people`` when given). The
    tables give the same numbers with no record per person: the command's path."""
    frames, gt_count, (gt, gt_has, heads) = _frames_with_people(videos, people)
    if isinstance(predictions, PredictionTable):
        pr, pr_has, scores, pr_count = _table_rows(frames, predictions)
    else:
        preds = [predictions.get(f.image_id, ()) for f in frames]
        pr, pr_has, scores = _predicted([p for frame_preds in preds for p in frame_preds])
        pr_count = np.array([len(frame_preds) for frame_preds in preds], dtype=np.int64)
    gt_start, pr_start = np.cumsum(gt_count) - gt_count, np.cumsum(pr_count) - pr_count
    polygons = _polygons([f.ignore_regions for f in frames])
    gt_has &= ~_inside_regions(gt, np.repeat(np.arange(len(frames)), gt_count), polygons)
    pr_has &= ~_inside_regions(pr, np.repeat(np.arange(len(frames)), pr_count), polygons)
    match, assigned = _assign_frames(gt, gt_has, heads, gt_count, pr, pr_has, pr_count)
    labels = np.zeros(pr_has.shape, dtype=bool)
    rows = np.flatnonzero(assigned >= 0)
    if rows.size:  # the pair (p, assigned[p]) in the pair arrays
        frame_of = np.repeat(np.arange(len(frames)), pr_count)[rows]
        pair_start = np.cumsum(pr_count * gt_count) - pr_count * gt_count
        pair = (
            pair_start[frame_of]
            + (rows - pr_start[frame_of]) * gt_count[frame_of]
            + assigned[rows] - gt_start[frame_of]
        )  # fmt: skip
        labels[rows] = match[pair]
    num_gt = gt_has.sum(axis=0)
    names = [JOINT_NAMES[j] for j in POSEVAL_JOINTS]
    result = per_joint_ap(names, scores, labels, pr_has, num_gt)
    return PoseTrackAP(**result, num_frames=len(frames))


def per_joint_ap(
    names: Sequence[str], scores: np.ndarray, labels: np.ndarray, has: np.ndarray, num_gt: np.ndarray
) -> dict[str, dict]:
    """Step 7 for every joint: column k of the (N, K) predicted-joint arrays is joint ``names[k]``
    with ``num_gt[k]`` positives; returns {"ap", "precision", "recall", "num_gt"} by name."""
    result: dict[str, dict] = {"ap": {}, "precision": {}, "recall": {}, "num_gt": {}}
    for k, name in enumerate(names):
        column = has[:, k]
        ap, pre, rec = _average_precision(scores[column, k], labels[column, k], int(num_gt[k]))
        result["ap"][name], result["precision"][name], result["recall"][name] = ap, pre, rec
        result["num_gt"][name] = int(num_gt[k])
    return result


def print_table(result: PoseTrackAP, title: str = "PoseTrack AP (poseval)") -> None:
    """The paper's columns, two decimals (poseval prints one)."""
    from rich import box  # imported here: a fifth of the command's start-up, and only the table needs it
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE, pad_edge=False, collapse_padding=True)
    table.add_column("", no_wrap=True)
    for column in COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    for kind, label in (("ap", "AP"), ("precision", "Pre"), ("recall", "Rec")):
        table.add_row(label, *(f"{v:.2f}" for v in result.columns(kind).values()))
    Console().print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tdmi.eval.posetrack",
        description="PoseTrack AP by poseval's rules (see the module docstring for when equal).",
    )
    parser.add_argument("--gt", required=True, help="folder of per-video PoseTrack files, or one merged file")
    parser.add_argument("--pred", required=True, help="predictions in the PoseTrack result format, same layouts")
    parser.add_argument("--json", help="write the metrics JSON here")
    parser.add_argument("--csv", help="write the per-joint CSV (AP, precision, recall rows) here")
    args = parser.parse_args(argv)
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    try:
        videos, people = load_posetrack_table(args.gt)
        result = evaluate_posetrack(videos, read_prediction_table(args.pred, videos), people)
    except PoseTrackFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_table(result)
    if args.json:
        write_metrics_json(result.to_dict(), args.json)
    if args.csv:
        write_per_joint_csv({kind: result.columns(kind) for kind in ("ap", "precision", "recall")}, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
