"""PoseTrack18/21 annotations and person detections -> typed records.

Reads the official layout: either a folder of per-video JSON files (``annotations/val/*.json``) or
one merged COCO-style file. Both hold ``images`` (with ``vid_id``, ``frame_id``, ``nframes``,
``is_labeled``, ``ignore_regions_x/y``) and ``annotations`` (17 keypoints as x, y, v triplets,
``bbox``, ``bbox_head``, ``track_id``). PoseTrack17 reaches the same records through
``python -m tdmi.data.posetrack17`` (see that module).

Every check that fails raises :class:`PoseTrackFormatError` naming the file and the field, so a
corrupt annotation is found where it is, never silently dropped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tdmi.data.joints import JOINT_NAMES, NUM_JOINTS


class PoseTrackFormatError(ValueError):
    """A PoseTrack file that does not hold what the format promises."""

    def __init__(self, path: Path | str, where: str, problem: str):
        super().__init__(f"{path}: {where}: {problem}")
        self.path, self.where, self.problem = str(path), where, problem


@dataclass(frozen=True)
class Person:
    """One annotated (or predicted) person in one frame; boxes are [x, y, w, h] in pixels."""

    joints: np.ndarray  # (17, 3): x, y, visibility (0 = not labelled, >0 = labelled)
    bbox: np.ndarray  # (4,)
    head_box: np.ndarray | None  # (4,), None when the file has no head box
    track_id: int
    ann_id: int


@dataclass
class Frame:
    """One frame of a video; ``people`` is empty for unlabelled frames."""

    image_id: int
    video: str
    frame_index: int
    path: Path
    width: int
    height: int
    nframes: int
    is_labeled: bool
    ignore_regions: list[np.ndarray] = field(default_factory=list)  # polygons, each (N, 2)
    people: list[Person] = field(default_factory=list)
    file_name: str = ""  # as written in the JSON, relative to the dataset root
    source: Path | None = None  # the annotation file this frame was read from, for error messages


@dataclass
class Video:
    name: str
    frames: list[Frame]  # sorted by frame_index

    @property
    def labeled_frames(self) -> list[Frame]:
        return [f for f in self.frames if f.is_labeled]


@dataclass(frozen=True)
class Detection:
    """A person box from a detector, used for test-time crops."""

    image_id: int
    bbox: np.ndarray  # (4,) [x, y, w, h]
    score: float


def frame_index_from_id(frame_id: int) -> int:
    """PoseTrack frame ids are ``1 VVVVVV FFFF``: the last four digits are the frame in the video."""
    return int(frame_id) % 10000


def make_frame_id(video_number: int, frame_index: int) -> int:
    """Inverse of :func:`frame_index_from_id`, as the official files build ids."""
    return 10000000000 + int(video_number) * 10000 + int(frame_index)


def read_json(path: Path) -> dict | list:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise PoseTrackFormatError(path, f"line {err.lineno} column {err.colno}", f"malformed JSON ({err.msg})") from err
    except OSError as err:
        raise PoseTrackFormatError(path, "file", f"cannot be read ({err.strerror})") from err


def require_field(path: Path, where: str, obj: dict, key: str):
    if not isinstance(obj, dict) or key not in obj:
        raise PoseTrackFormatError(path, where, f"missing field '{key}'")
    return obj[key]


def _box(path: Path, where: str, value, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64) if value is not None else None
    if arr is None or arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise PoseTrackFormatError(path, f"{where}.{name}", f"expected 4 finite numbers [x, y, w, h], got {value!r}")
    return arr


def parse_keypoints(path: Path, where: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise PoseTrackFormatError(path, f"{where}.keypoints", "not a list of numbers") from err
    if arr.shape != (NUM_JOINTS * 3,):
        raise PoseTrackFormatError(
            path, f"{where}.keypoints", f"expected {NUM_JOINTS * 3} numbers (17 x, y, v triplets), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise PoseTrackFormatError(path, f"{where}.keypoints", "holds NaN or infinity")
    return arr.reshape(NUM_JOINTS, 3)


def _ignore_regions(path: Path, where: str, image: dict) -> list[np.ndarray]:
    xs, ys = image.get("ignore_regions_x") or [], image.get("ignore_regions_y") or []
    if len(xs) != len(ys):
        raise PoseTrackFormatError(path, f"{where}.ignore_regions_x/y", f"{len(xs)} x lists but {len(ys)} y lists")
    regions = []
    for k, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if len(x) != len(y):
            raise PoseTrackFormatError(path, f"{where}.ignore_regions_x[{k}]", f"{len(x)} x but {len(y)} y coordinates")
        if len(x) >= 3:  # fewer points enclose nothing (poseval would crash on them)
            regions.append(np.stack([np.asarray(x, float), np.asarray(y, float)], axis=1))
    return regions


def parse_posetrack(data: dict, path: Path, image_root: Path) -> list[Frame]:
    """Records of one PoseTrack18/21 JSON document (per-video or merged)."""
    if not isinstance(data, dict):
        raise PoseTrackFormatError(path, "top level", "expected an object with 'images' and 'annotations'")
    images = require_field(path, "top level", data, "images")
    for c, category in enumerate(data.get("categories") or []):
        names = category.get("keypoints") if isinstance(category, dict) else None
        if names is not None and tuple(names) != JOINT_NAMES:
            raise PoseTrackFormatError(path, f"categories[{c}].keypoints", f"expected PoseTrack18's 17 joints in order {list(JOINT_NAMES)}")
    annotations = data.get("annotations") or []
    frames: dict[int, Frame] = {}
    for i, image in enumerate(images):
        where = f"images[{i}]"
        image_id = int(require_field(path, where, image, "id"))
        file_name = str(require_field(path, where, image, "file_name"))
        vid = str(image.get("vid_id", Path(file_name).parent.name.split("_")[0]))
        frame_id = image.get("frame_id", image_id)
        if image_id in frames:
            raise PoseTrackFormatError(path, f"{where}.id", f"duplicate image id {image_id}")
        frames[image_id] = Frame(
            image_id=image_id,
            video=vid,
            frame_index=frame_index_from_id(frame_id),
            path=image_root / file_name,
            width=int(image.get("width", 0)),
            height=int(image.get("height", 0)),
            nframes=int(image.get("nframes", 0)),
            is_labeled=bool(image.get("is_labeled", False)),
            ignore_regions=_ignore_regions(path, where, image),
            file_name=file_name,
            source=path,
        )
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        image_id = int(require_field(path, where, ann, "image_id"))
        if image_id not in frames:
            raise PoseTrackFormatError(path, f"{where}.image_id", f"image id {image_id} has no entry in 'images'")
        if "keypoints" not in ann:  # PoseTrack21 also lists people with only a box: not pose ground truth
            continue
        joints = parse_keypoints(path, where, ann["keypoints"])
        bbox = _box(path, where, require_field(path, where, ann, "bbox"), "bbox")
        head = ann.get("bbox_head")
        frames[image_id].people.append(
            Person(
                joints=joints,
                bbox=bbox,
                head_box=_box(path, where, head, "bbox_head") if head is not None else None,
                track_id=int(ann.get("track_id", -1)),
                ann_id=int(ann.get("id", i)),
            )
        )
    return list(frames.values())


def annotation_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise PoseTrackFormatError(path, "folder", "holds no *.json annotation files")
        return files
    if not path.exists():
        raise PoseTrackFormatError(path, "file", "does not exist")
    return [path]


def guess_image_root(ann_path: Path) -> Path:
    """The dataset root that ``file_name`` is relative to: the first ancestor holding ``images/``."""
    for parent in [ann_path, *ann_path.parents]:
        if (parent / "images").is_dir():
            return parent
    return ann_path.parent if ann_path.is_file() else ann_path


def load_posetrack(path: str | Path, image_root: str | Path | None = None) -> list[Video]:
    """Videos from a folder of per-video PoseTrack files or one merged file, frames sorted."""
    path = Path(path)
    root = Path(image_root) if image_root is not None else guess_image_root(path)
    by_video: dict[str, list[Frame]] = defaultdict(list)
    seen: dict[int, Path] = {}
    for file in annotation_files(path):
        for frame in parse_posetrack(read_json(file), file, root):
            if frame.image_id in seen:
                raise PoseTrackFormatError(file, "images.id", f"image id {frame.image_id} also in {seen[frame.image_id]}")
            seen[frame.image_id] = file
            by_video[frame.video].append(frame)
    return [Video(name, sorted(frames, key=lambda f: f.frame_index)) for name, frames in sorted(by_video.items())]


def iter_frames(videos: Iterable[Video]) -> Iterator[Frame]:
    for video in videos:
        yield from video.frames


def load_detections(path: str | Path, videos: list[Video] | None = None) -> dict[int, list[Detection]]:
    """Person detections per image id, best first; with ``videos``, ids not in them are an error."""
    path = Path(path)
    data = read_json(path)
    if isinstance(data, dict) and "annotations" in data:  # a COCO-style result file
        data = data["annotations"]
    if not isinstance(data, list):
        raise PoseTrackFormatError(path, "top level", "expected a list of {image_id, bbox, score, category_id}")
    known = {f.image_id for f in iter_frames(videos)} if videos is not None else None
    out: dict[int, list[Detection]] = defaultdict(list)
    for i, det in enumerate(data):
        where = f"[{i}]"
        image_id = int(require_field(path, where, det, "image_id"))
        if known is not None and image_id not in known:
            raise PoseTrackFormatError(path, f"{where}.image_id", f"image id {image_id} is in no annotation file")
        if int(det.get("category_id", 1)) != 1:
            continue  # only people are pose targets
        score = float(require_field(path, where, det, "score"))
        if not np.isfinite(score):
            raise PoseTrackFormatError(path, f"{where}.score", f"not a finite number: {score!r}")
        out[image_id].append(Detection(image_id, _box(path, where, require_field(path, where, det, "bbox"), "bbox"), score))
    for dets in out.values():
        dets.sort(key=lambda d: -d.score)
    return dict(out)


def check_frames_exist(videos: Iterable[Video]) -> None:
    """Raise naming the first annotated frame whose image file is missing."""
    for frame in iter_frames(videos):
        if not frame.path.is_file():
            listed = f" (listed in {frame.source}, images[].file_name)" if frame.source else ""
            raise FileNotFoundError(f"{frame.path}: frame {frame.frame_index} of video {frame.video} is missing{listed}")
