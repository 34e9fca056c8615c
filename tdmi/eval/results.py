"""Prediction records and the files evaluation reads and writes.

A :class:`PosePrediction` is one predicted person in one frame. Predictions travel between tools
in the PoseTrack18 result format, the layout poseval reads: per video, one JSON file named like the
ground-truth file (``<video folder>.json``) holding ``images`` (every frame of the video),
``annotations`` (17 keypoints as x, y, score triplets, per-joint ``scores``, ``score``,
``track_id``) and ``categories``.

How a joint that was not predicted is written follows poseval (``convert.py``, ``Person.to_old``):
a keypoint triplet (0, 0, 0) is dropped as "not annotated". The records use NaN coordinates for it,
the writer turns them into (0, 0, 0) and the reader back into NaN. poseval takes joint scores only
from ``scores`` (never from the triplets' third value) and uses -9999 when ``scores`` is absent or
empty (``eval_helpers.MIN_SCORE``, ``assignGTmulti``); the reader does the same.

Metrics go to a JSON file and to a CSV with the paper's columns (Head ... Ankle, Mean), one row per
named result, so the dashboard can set them beside the paper's tables.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tdmi.data.joints import (
    JOINT_GROUPS,
    JOINT_NAMES,
    JOINT_SETS,
    NUM_JOINTS,
    joint_set_for,
    posetrack_category,
)
from tdmi.data.posetrack import (
    CHUNK,
    PoseTrackFormatError,
    Video,
    annotation_files,
    gc_paused,
    integer,
    iter_frames,
    read_json,
    require_field,
    stack_keypoints,
)

LOG = logging.getLogger(__name__)
MISSING_SCORE = -9999.0  # poseval's MIN_SCORE, the score of a joint whose file gives none
COLUMNS: tuple[str, ...] = (*JOINT_GROUPS, "Mean")  # the paper's per-joint columns, in order


@dataclass(frozen=True)
class PosePrediction:
    """One predicted person in one frame, in image pixels."""

    image_id: int
    joints: np.ndarray  # (17, 2) x, y; NaN where the joint is not predicted
    joint_scores: np.ndarray  # (17,)
    score: float  # the person's score (see tdmi.eval.decode.person_scores)
    track_id: int | None = None


def group_by_image(predictions: Iterable[PosePrediction]) -> dict[int, list[PosePrediction]]:
    """Predictions per image id, in the order given (poseval breaks ties by that order)."""
    out: dict[int, list[PosePrediction]] = defaultdict(list)
    for p in predictions:
        out[p.image_id].append(p)
    return dict(out)


def ground_truth_as_predictions(videos: Sequence[Video], score: float = 1.0) -> list[PosePrediction]:
    """The annotations as predictions (every labelled joint scored ``score``): the sanity check
    that must score 100 AP. A joint is labelled unless its triplet is (0, 0, 0), as in poseval."""
    out = []
    for frame in iter_frames(videos):
        for person in frame.people:
            joints = person.joints[:, :2].copy()
            joints[~np.any(person.joints != 0, axis=1)] = np.nan
            scores = np.full(len(person.joints), float(score))
            out.append(PosePrediction(frame.image_id, joints, scores, float(score), person.track_id))
    return out


def video_file_name(video: Video) -> str:
    """The per-video file name poseval pairs with the ground truth: ``<image folder>.json``."""
    folder = Path(video.frames[0].file_name).parent.name if video.frames else ""
    return f"{folder or video.name}.json"


def _annotation(p: PosePrediction, ann_id: int, track_id: int) -> dict:
    joints = np.asarray(p.joints, dtype=np.float64)
    scores = np.asarray(p.joint_scores, dtype=np.float64)
    if joints.ndim != 2 or joints.shape[1] != 2 or scores.shape != (len(joints),):
        raise ValueError(f"image {p.image_id}: joints must be (J, 2) and joint_scores (J,)")
    missing = ~np.all(np.isfinite(joints), axis=1)
    triplets = np.column_stack([joints, scores])
    triplets[missing] = 0.0
    return {
        "id": ann_id,
        "image_id": int(p.image_id),
        "category_id": 1,
        "track_id": int(track_id),
        "keypoints": triplets.ravel().tolist(),
        "scores": np.where(missing, 0.0, scores).tolist(),
        "score": float(p.score),
    }


def _result_document(videos: Sequence[Video], by_image: Mapping[int, Sequence[PosePrediction]]) -> dict:
    images, annotations = [], []
    for video in videos:
        for frame in video.frames:
            images.append(
                {
                    "id": frame.image_id,
                    "file_name": frame.file_name,
                    "vid_id": video.name,
                    "frame_id": frame.image_id,
                    "nframes": frame.nframes,
                    "is_labeled": frame.is_labeled,
                    "width": frame.width,
                    "height": frame.height,
                }
            )
            for k, p in enumerate(by_image.get(frame.image_id, ())):
                # poseval needs a track id unique in the frame; the person's index serves if none
                track = p.track_id if p.track_id is not None else k
                annotations.append(_annotation(p, frame.image_id * 100 + k, track))
    people = (p for video in videos for frame in video.frames for p in frame.people)
    first = next(people, None)  # the dataset's joint set (PoseTrack's 17, HiEve's 14) names them
    category = joint_set_for(len(first.joints)).category() if first else posetrack_category()
    return {"images": images, "annotations": annotations, "categories": [category]}


def write_posetrack_results(
    predictions: Iterable[PosePrediction],
    videos: Sequence[Video],
    out: str | Path,
    per_video: bool = True,
) -> list[Path]:
    """Write predictions in the PoseTrack18 result format; returns the files written.

    ``per_video``: ``out`` is a folder with one file per video named as poseval expects (see
    :func:`video_file_name`); otherwise ``out`` is one merged file. Every frame of ``videos`` is
    listed, with or without predictions, because poseval pairs prediction and ground-truth frames.
    """
    by_image = group_by_image(predictions)
    unknown = sorted(set(by_image) - {f.image_id for f in iter_frames(videos)})
    if unknown:
        raise ValueError(f"predictions for image ids in none of the videos, e.g. {unknown[:5]}")
    out = Path(out)
    if not per_video:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_result_document(videos, by_image)))
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for video in videos:
        files.append(out / video_file_name(video))
        files[-1].write_text(json.dumps(_result_document([video], by_image)))
    return files


def _finite(path: Path, where: str, value, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise PoseTrackFormatError(path, where, f"not numbers: {value!r}") from err
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise PoseTrackFormatError(path, where, f"expected {shape or 'one'} finite number(s), got {value!r}")
    return arr


def _joint_count(anns: list[dict]) -> int:
    """Joints per prediction, from the first one's keypoints: a known joint set's count (PoseTrack's
    17, HiEve's 14, tdmi.data.joints), else PoseTrack's, whose shape check then names the bad value."""
    first = anns[0].get("keypoints") if anns else None
    count = len(first) // 3 if isinstance(first, list) else 0
    return count if count in {s.num_joints for s in JOINT_SETS.values()} else NUM_JOINTS


def _joint_scores(places: list[tuple[Path, str]], anns: list[dict], num_joints: int = NUM_JOINTS) -> np.ndarray:
    """(N, J) ``scores`` of N annotations in one conversion; MISSING_SCORE where none is given."""
    scores = np.full((len(anns), num_joints), MISSING_SCORE)
    given = [k for k, ann in enumerate(anns) if ann.get("scores")]
    try:
        rows = np.array([anns[k]["scores"] for k in given], dtype=np.float64)
        ok = rows.shape == (len(given), num_joints) and np.isfinite(rows).all()
    except (TypeError, ValueError):
        ok = False
    if not ok:  # name the first bad one
        for k in given:
            path, where = places[k]
            _finite(path, f"{where}.scores", anns[k]["scores"], (num_joints,))
    if given:
        scores[given] = rows
    return scores


def _person_scores(
    places: list[tuple[Path, str]], anns: list[dict], joints: np.ndarray, scores: np.ndarray
) -> np.ndarray:
    """``score`` where given (poseval never reads it); else the mean over the predicted joints,
    the same bits as ``scores[k][present[k]].mean()``: rows with the same number of predicted
    joints are averaged together (one contiguous row each, so numpy sums them alike)."""
    present = np.isfinite(joints[..., 0])
    out = np.full(len(anns), MISSING_SCORE)
    counts = present.sum(axis=1)
    for count in np.unique(counts[counts > 0]).tolist():
        rows = np.flatnonzero(counts == count)
        out[rows] = scores[rows][present[rows]].reshape(len(rows), count).mean(axis=1)
    for k, ann in enumerate(anns):
        if "score" in ann:
            value = ann["score"]
            if type(value) in (int, float) and math.isfinite(value):
                out[k] = float(value)
            else:
                out[k] = float(_finite(places[k][0], f"{places[k][1]}.score", value, ()))
    return out


def _collect_predictions(file: Path, data, known: set[int] | None, seen: dict[int, Path], found: list) -> None:
    """Check one result document's frames; append (file, annotation index, image id, annotation)
    to ``found`` for each of its predictions (converted together by :func:`_convert`). The usual
    values pass inline; anything else goes through the checks that name it."""
    if not isinstance(data, dict):
        raise PoseTrackFormatError(file, "top level", "expected an object with 'images' and 'annotations'")
    _check_categories(file, data)
    images = require_field(file, "top level", data, "images")
    anns = data.get("annotations") or []
    if not isinstance(images, list) or not isinstance(anns, list):
        raise PoseTrackFormatError(file, "top level", "'images' and 'annotations' must be lists")
    listed = set()
    for i, image in enumerate(images):
        image_id = image.get("id") if type(image) is dict else None
        if type(image_id) is not int:
            image_id = integer(file, f"images[{i}].id", require_field(file, f"images[{i}]", image, "id"))
        if known is not None and image_id not in known:
            name = image.get("file_name", "?")
            raise PoseTrackFormatError(file, f"images[{i}].id", f"frame {image_id} ({name}) is in no ground-truth file")
        if image_id in seen:
            raise PoseTrackFormatError(file, f"images[{i}].id", f"frame {image_id} also in {seen[image_id]}")
        seen[image_id] = file
        listed.add(image_id)
    for i, ann in enumerate(anns):
        image_id = ann.get("image_id") if type(ann) is dict else None
        if type(image_id) is not int or image_id not in listed or "keypoints" not in ann:
            where = f"annotations[{i}]"
            image_id = integer(file, f"{where}.image_id", require_field(file, where, ann, "image_id"))
            if image_id not in listed:
                raise PoseTrackFormatError(file, f"{where}.image_id", f"image id {image_id} has no entry in 'images'")
            require_field(file, where, ann, "keypoints")
        found.append((file, i, image_id, ann))


@dataclass(frozen=True)
class PredictionTable:
    """Every predicted person of a result folder or file, one row each in reading order (files
    sorted by name, then annotations in file order): what evaluation reads, with no per-person
    record (:func:`read_posetrack_results` makes the records)."""

    image_ids: list[int]
    joints: np.ndarray  # (N, 17, 2) x, y; NaN where the joint is not predicted
    joint_scores: np.ndarray  # (N, 17)
    scores: np.ndarray  # (N,) the persons' scores
    track_ids: list[int | None]


def _convert(found: list) -> PredictionTable:
    """The collected annotations as a table, one array conversion per field for all of them."""
    places = [(file, f"annotations[{i}]") for file, i, _, _ in found]
    anns = [ann for _, _, _, ann in found]
    num_joints = _joint_count(anns)
    triplets = stack_keypoints(places, [ann["keypoints"] for ann in anns], num_joints)
    joints = triplets[..., :2].copy()
    joints[np.all(triplets == 0, axis=2)] = np.nan  # poseval: a (0, 0, 0) triplet is no joint
    scores = _joint_scores(places, anns, num_joints)
    person_scores = _person_scores(places, anns, joints, scores)
    tracks = [ann.get("track_id") for ann in anns]
    for k, track in enumerate(tracks):
        if track is not None and type(track) is not int:
            tracks[k] = integer(places[k][0], f"{places[k][1]}.track_id", track)
    return PredictionTable([image_id for _, _, image_id, _ in found], joints, scores, person_scores, tracks)


def _check_categories(path: Path, data: dict) -> None:
    categories = data.get("categories")
    known = {s.name: list(s.names) for s in JOINT_SETS.values()}
    if categories and list(categories[0].get("keypoints", JOINT_NAMES)) not in known.values():
        raise PoseTrackFormatError(
            path,
            "categories[0].keypoints",
            f"expected the joints of one joint set in order: {known}",
        )


def read_prediction_table(path: str | Path, videos: Sequence[Video] | None = None) -> PredictionTable:
    """Every prediction of a folder of per-video result files or one merged file, as a table.

    With ``videos`` (the ground truth), a frame listed in a prediction file but in no video is an
    error naming the file and the frame, and a video none of whose frames any prediction file
    lists (its file is missing) is named in a warning: its frames count as frames without
    predictions.
    """
    known = {f.image_id for f in iter_frames(videos)} if videos is not None else None
    seen: dict[int, Path] = {}
    found: list = []
    tables: list[PredictionTable] = []
    with gc_paused():
        for file in annotation_files(Path(path)):
            if len(found) >= CHUNK:
                tables.append(_convert(found))
                found.clear()
            _collect_predictions(file, read_json(file), known, seen, found)
        tables.append(_convert(found))
    missing = [v for v in videos or () if not any(f.image_id in seen for f in v.frames)]
    if missing:
        names = [video_file_name(v) for v in missing]
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        LOG.warning(
            "%d ground-truth video(s) in no prediction file, counted as without predictions: %s%s",
            len(names), ", ".join(names[:10]), more,
        )  # fmt: skip
    return PredictionTable(
        [i for t in tables for i in t.image_ids],
        np.concatenate([t.joints for t in tables]),
        np.concatenate([t.joint_scores for t in tables]),
        np.concatenate([t.scores for t in tables]),
        [i for t in tables for i in t.track_ids],
    )


def read_posetrack_results(path: str | Path, videos: Sequence[Video] | None = None) -> dict[int, list[PosePrediction]]:
    """Predictions per image id, in reading order, from :func:`read_prediction_table` (which
    says what is checked); frames without predictions have no entry."""
    table = read_prediction_table(path, videos)
    out: dict[int, list[PosePrediction]] = defaultdict(list)
    rows = zip(table.image_ids, table.joints, table.joint_scores, table.scores.tolist(), table.track_ids, strict=True)
    for image_id, joints, scores, score, track in rows:
        out[image_id].append(PosePrediction(image_id, joints, scores, score, track))
    return dict(out)


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN: poseval's NaN (a joint without ground truth) -> null
    return value


def write_metrics_json(metrics: Mapping, path: str | Path) -> Path:
    """Metrics as strict JSON (NaN written as null), for DVC metrics and MLflow artifacts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(metrics), indent=2, allow_nan=False) + "\n")
    return path


def write_per_joint_csv(rows: Mapping[str, Mapping[str, float]], path: str | Path) -> Path:
    """One row per named result (e.g. ``{"AP": result.columns()}``), columns in the paper's order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", *COLUMNS])
        for name, row in rows.items():
            missing = [c for c in COLUMNS if c not in row]
            if missing:
                raise KeyError(f"row {name!r} lacks columns {missing}")
            writer.writerow([name, *(float(row[c]) for c in COLUMNS)])
    return path
