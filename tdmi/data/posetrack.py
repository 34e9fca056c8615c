"""PoseTrack18/21 annotations and person detections -> typed records.

Reads the official layout: either a folder of per-video JSON files (``annotations/val/*.json``) or
one merged COCO-style file. Both hold ``images`` (with ``vid_id``, ``frame_id``, ``nframes``,
``is_labeled``, ``ignore_regions_x/y``) and ``annotations`` (17 keypoints as x, y, v triplets,
``bbox``, ``bbox_head``, ``track_id``). PoseTrack17 reaches the same records through
``python -m tdmi.data.posetrack17`` (see that module).

Every check that fails raises :class:`PoseTrackFormatError` naming the file and the field, so a
corrupt annotation is found where it is, never silently dropped. What is refused, where the format
leaves room (our choices; each a one-line error, nothing normalised behind the user's back):

- files that are not UTF-8 (RFC 8259's JSON encoding; a UTF-8 byte-order mark is skipped);
- integer fields (ids, ``frame_id``, ``track_id``, ``width``, ``height``, ``nframes``) holding
  anything but an integer (``null``, ``"abc"``; an integral float such as 3.0 passes);
- ``is_labeled`` that is not true/false or 1/0 (a string is refused: ``bool("false")`` is True);
- a ground-truth ``bbox`` or ``bbox_head`` of zero or negative width or height;
- a keypoint visibility outside {0, 1, 2};
- two images of one video with the same frame index (``frame_id``), in one file or two;
- ignore regions that are not lists of coordinate lists.

A person without ``bbox`` is accepted (AP never reads it, and poseval accepts it): its box is then
the extent of its labelled joints and head box grown by 10% on each side, the rule
:mod:`tdmi.data.posetrack17` uses for PoseTrack17, which has no person boxes.
"""

from __future__ import annotations

import codecs
import gc
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import orjson

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


@contextmanager
def gc_paused() -> Iterator[None]:
    """Loading makes millions of small objects and no reference cycles; the cyclic collector's
    passes over the live JSON documents took a third of the evaluator's time. Paused, not lost."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def frame_index_from_id(frame_id: int) -> int:
    """PoseTrack frame ids are ``1 VVVVVV FFFF``: the last four digits are the frame in the video."""
    return int(frame_id) % 10000


def make_frame_id(video_number: int, frame_index: int) -> int:
    """Inverse of :func:`frame_index_from_id`, as the official files build ids."""
    return 10000000000 + int(video_number) * 10000 + int(frame_index)


def _read_bytes(path: Path | str) -> bytes:
    """The file's bytes in one ``read`` of its size: a third of ``Path.read_bytes``' time on the
    evaluator's many small files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        raw = os.read(fd, size + 1)
        if len(raw) > size:  # it grew since fstat, or reports no size: read to the end
            raw += b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
        return raw
    finally:
        os.close(fd)


def read_json(path: Path) -> dict | list:
    """One JSON document; orjson for speed, the standard parser for the error's line and column.

    Files must be UTF-8 (RFC 8259); a UTF-8 byte-order mark is skipped. NaN and Infinity, which
    only the standard parser reads, reach the field checks that name them."""
    try:
        raw = _read_bytes(path)
    except OSError as err:
        raise PoseTrackFormatError(path, "file", f"cannot be read ({err.strerror})") from err
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in raw:
        raise PoseTrackFormatError(path, "encoding", "UTF-16 or UTF-32, not UTF-8: save it as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PoseTrackFormatError(
            path, f"byte {err.start}", f"not UTF-8 text ({err.reason}): save it as UTF-8"
        ) from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PoseTrackFormatError(
            path, f"line {err.lineno} column {err.colno}", f"malformed JSON ({err.msg})"
        ) from err


def require_field(path: Path, where: str, obj: dict, key: str):
    if not isinstance(obj, dict) or key not in obj:
        raise PoseTrackFormatError(path, where, f"missing field '{key}'")
    return obj[key]


_NO_BOX = [np.nan] * 4
CHUNK = 4096  # annotations converted per array call: files are small, a call per file cost more


def integer(path: Path, where: str, value) -> int:
    """A JSON integer (a float with an integral value passes); anything else names the field."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise PoseTrackFormatError(path, where, f"expected an integer, got {value!r}")


def _flag(path: Path, where: str, value) -> bool:
    """``is_labeled``: true/false (or 1/0). A string is refused, not read: bool("false") is True."""
    if isinstance(value, bool | int | float) and value in (0, 1):
        return bool(value)
    raise PoseTrackFormatError(path, where, f"expected true or false, got {value!r}")


def float_rows(values: Sequence, width: int) -> np.ndarray | None:
    """(N, width) floats of N rows of ``width`` numbers, or None when they are not (the caller's
    checks then name the bad one). Lists of numbers, what JSON gives, are read in one pass:
    ``np.array`` first walks nested lists to find their shape, a third more time on the
    evaluator's 180,000 keypoint lists; it still reads anything else."""
    if all(type(v) is list and len(v) == width for v in values):
        try:
            return np.fromiter(chain.from_iterable(values), np.float64, len(values) * width).reshape(-1, width)
        except (TypeError, ValueError):
            pass
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (len(values), width) else None


def _box(path: Path, where: str, value, name: str, positive: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64) if value is not None else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise PoseTrackFormatError(path, f"{where}.{name}", f"expected 4 finite numbers [x, y, w, h], got {value!r}")
    if positive and not (arr[2] > 0 and arr[3] > 0):
        raise PoseTrackFormatError(path, f"{where}.{name}", f"width and height must be positive, got {value!r}")
    return arr


def _boxes(places: list[tuple[Path, str]], name: str, values: list) -> np.ndarray:
    """(N, 4) ground-truth boxes in one conversion, NaN rows where a value is None; every given
    box must have a positive width and height. The first bad one is named."""
    given = np.array([v is not None for v in values], dtype=bool)
    arr = float_rows([v if v is not None else _NO_BOX for v in values], 4)
    if arr is not None and np.isfinite(arr[given]).all() and (arr[given, 2:] > 0).all():
        return arr
    for (path, where), value in zip(places, values, strict=True):
        if value is not None:
            _box(path, where, value, name, positive=True)
    raise AssertionError("unreachable: a bad box raised above")


def parse_keypoints(path: Path, where: str, value, num_joints: int = NUM_JOINTS) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise PoseTrackFormatError(path, f"{where}.keypoints", "not a list of numbers") from err
    if arr.shape != (num_joints * 3,):
        raise PoseTrackFormatError(
            path,
            f"{where}.keypoints",
            f"expected {num_joints * 3} numbers ({num_joints} x, y, v triplets), got shape {arr.shape}",
        )
    if not np.all(np.isfinite(arr)):
        raise PoseTrackFormatError(path, f"{where}.keypoints", "holds NaN or infinity")
    return arr.reshape(num_joints, 3)


def stack_keypoints(places: list[tuple[Path, str]], values: list, num_joints: int = NUM_JOINTS) -> np.ndarray:
    """(N, J, 3) keypoints of N annotations in one conversion; ``places`` are their (file,
    where) for the error that names the first bad one."""
    arr = float_rows(values, num_joints * 3)
    if arr is not None and np.isfinite(arr).all():
        return arr.reshape(-1, num_joints, 3)
    for (path, where), value in zip(places, values, strict=True):
        parse_keypoints(path, where, value, num_joints)
    return np.zeros((0, num_joints, 3))  # reached only for N = 0: every bad value raised above


def box_around(points: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """[x, y, w, h] of the points' extent grown by ``margin`` of its size on each side (the
    DCPose line's person boxes); zeros when there are no points."""
    if len(points) == 0:
        return np.zeros(4)
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = margin * (hi - lo)
    return np.concatenate([lo - pad, hi - lo + 2 * pad])


def _ignore_regions(path: Path, where: str, image: dict) -> list[np.ndarray]:
    xs, ys = image.get("ignore_regions_x") or [], image.get("ignore_regions_y") or []
    if not isinstance(xs, list) or not isinstance(ys, list):
        raise PoseTrackFormatError(
            path, f"{where}.ignore_regions_x/y", f"expected lists of coordinate lists, got {xs!r}, {ys!r}"
        )
    if len(xs) != len(ys):
        raise PoseTrackFormatError(path, f"{where}.ignore_regions_x/y", f"{len(xs)} x lists but {len(ys)} y lists")
    regions = []
    for k, (x, y) in enumerate(zip(xs, ys, strict=True)):
        try:
            points = np.array([x, y], dtype=np.float64)
        except (TypeError, ValueError):
            points = None
        if points is None or points.ndim != 2 or not np.isfinite(points).all():
            raise PoseTrackFormatError(
                path, f"{where}.ignore_regions_x[{k}]", f"expected two equally long lists of numbers, got {x!r}, {y!r}"
            )
        if points.shape[1] >= 3:  # fewer points enclose nothing (poseval would crash on them)
            regions.append(points.T)
    return regions


def _check_visibility(places: list[tuple[Path, str]], joints: np.ndarray) -> None:
    vis = joints[:, :, 2]
    bad = ~((vis == 0) | (vis == 1) | (vis == 2))
    if bad.any():
        row, joint = np.argwhere(bad)[0]
        path, where = places[row]
        raise PoseTrackFormatError(
            path,
            f"{where}.keypoints",
            f"visibility of {JOINT_NAMES[joint]} must be 0, 1 or 2, got {vis[row, joint]:g}",
        )


def _collect_frames(data: dict, path: Path, image_root: Path, posed: list) -> list[Frame]:
    """The frames of one PoseTrack18/21 document, checked; each annotation with keypoints is
    appended to ``posed`` as (file, index, annotation, its frame) for :func:`_add_people`.

    Speed: the usual value of each field (an int, a str, a bool, no ignore region) is accepted
    inline; anything else goes through the checking helper, which converts it or names it."""
    if not isinstance(data, dict):
        raise PoseTrackFormatError(path, "top level", "expected an object with 'images' and 'annotations'")
    images = require_field(path, "top level", data, "images")
    annotations = data.get("annotations") or []
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise PoseTrackFormatError(path, "top level", "'images' and 'annotations' must be lists")
    for c, category in enumerate(data.get("categories") or []):
        names = category.get("keypoints") if isinstance(category, dict) else None
        if names is not None and tuple(names) != JOINT_NAMES:
            raise PoseTrackFormatError(
                path, f"categories[{c}].keypoints", f"expected PoseTrack18's 17 joints in order {list(JOINT_NAMES)}"
            )
    frames: dict[int, Frame] = {}
    slots: dict[tuple[str, int], int] = {}  # (video, frame index) -> position in images
    for i, image in enumerate(images):
        if type(image) is dict and type(image.get("id")) is int and type(image.get("file_name")) is str:
            image_id, file_name = image["id"], image["file_name"]
        else:
            image_id, file_name = _image_keys(path, f"images[{i}]", image)
        vid = str(image["vid_id"]) if "vid_id" in image else Path(file_name).parent.name.split("_")[0]
        frame_id = image.get("frame_id", image_id)
        if type(frame_id) is not int:
            frame_id = integer(path, f"images[{i}].frame_id", frame_id)
        index = frame_id % 10000  # frame_index_from_id
        if image_id in frames:
            raise PoseTrackFormatError(path, f"images[{i}].id", f"duplicate image id {image_id}")
        if (vid, index) in slots:
            raise PoseTrackFormatError(
                path, f"images[{i}].frame_id", f"frame {index} of video {vid} is also images[{slots[vid, index]}]"
            )
        slots[vid, index] = i
        width, height, nframes = image.get("width", 0), image.get("height", 0), image.get("nframes", 0)
        if type(width) is not int or type(height) is not int or type(nframes) is not int:
            width, height, nframes = (
                integer(path, f"images[{i}].{key}", image.get(key, 0)) for key in ("width", "height", "nframes")
            )
        labeled = image.get("is_labeled", False)
        if labeled is not True and labeled is not False:
            labeled = _flag(path, f"images[{i}].is_labeled", labeled)
        has_regions = image.get("ignore_regions_x") or image.get("ignore_regions_y")
        frames[image_id] = Frame(
            image_id,
            vid,
            index,
            image_root / file_name,
            width,
            height,
            nframes,
            labeled,
            _ignore_regions(path, f"images[{i}]", image) if has_regions else [],
            file_name=file_name,
            source=path,
        )
    for i, ann in enumerate(annotations):
        image_id = ann.get("image_id") if type(ann) is dict else None
        if type(image_id) is not int:
            where = f"annotations[{i}]"
            image_id = integer(path, f"{where}.image_id", require_field(path, where, ann, "image_id"))
        frame = frames.get(image_id)
        if frame is None:
            raise PoseTrackFormatError(
                path, f"annotations[{i}].image_id", f"image id {image_id} has no entry in 'images'"
            )
        if "keypoints" in ann:  # a PoseTrack21 person with only a box is no pose ground truth
            posed.append((path, i, ann, frame))
    return list(frames.values())


def _image_keys(path: Path, where: str, image) -> tuple[int, str]:
    """An image's ``id`` as an int and its ``file_name``, or an error naming the field."""
    image_id = integer(path, f"{where}.id", require_field(path, where, image, "id"))
    file_name = require_field(path, where, image, "file_name")
    if not isinstance(file_name, str):
        raise PoseTrackFormatError(path, f"{where}.file_name", f"expected a path, got {file_name!r}")
    return image_id, file_name


@dataclass(frozen=True)
class PeopleTable:
    """The annotated people of a dataset as arrays, one row per person in reading order (files
    sorted, then annotations): what the evaluator reads, with no :class:`Person` record each
    (:func:`load_posetrack_table`). Every check of the records is made."""

    frames: list[Frame]  # the frame of each row
    joints: np.ndarray  # (N, 17, 3) as Person.joints
    head_boxes: np.ndarray  # (N, 4); NaN rows: the file gives no head box
    ann_ids: list[int]


def _people_table(posed: list) -> tuple[PeopleTable, np.ndarray, list[int]]:
    """The collected annotations' people, checked, one array conversion per field for all of
    them (files are small: per-file conversions cost more than the parsing); with their person
    boxes (NaN rows: none given) and track ids."""
    places = [(path, f"annotations[{i}]") for path, i, _, _ in posed]
    anns = [ann for _, _, ann, _ in posed]
    joints = stack_keypoints(places, [ann["keypoints"] for ann in anns])
    _check_visibility(places, joints)
    heads = _boxes(places, "bbox_head", [ann.get("bbox_head") for ann in anns])
    boxes = _boxes(places, "bbox", [ann.get("bbox") for ann in anns])
    tracks = [ann.get("track_id", -1) for ann in anns]
    ids = [ann.get("id", i) for (_, i, _, _), ann in zip(posed, anns, strict=True)]
    if not all(type(t) is int for t in tracks) or not all(type(a) is int for a in ids):
        for k, (path, i, _, _) in enumerate(posed):
            tracks[k] = integer(path, f"annotations[{i}].track_id", tracks[k])
            ids[k] = integer(path, f"annotations[{i}].id", ids[k])
    return PeopleTable([frame for *_, frame in posed], joints, heads, ids), boxes, tracks


def _add_people(posed: list) -> None:
    """Give each collected annotation's frame its :class:`Person`."""
    table, boxes, tracks = _people_table(posed)
    head_given = (~np.isnan(table.head_boxes[:, 0])).tolist()
    box_given = (~np.isnan(boxes[:, 0])).tolist()
    rows = zip(table.frames, table.joints, table.head_boxes, boxes, tracks, table.ann_ids, strict=True)
    for k, (frame, kps, head, bbox, track_id, ann_id) in enumerate(rows):
        if not head_given[k]:
            head = None
        if not box_given[k]:  # AP never reads it (poseval accepts it absent); crops get the joints' extent
            corners = head.reshape(2, 2).cumsum(axis=0) if head is not None else np.zeros((0, 2))
            bbox = box_around(np.concatenate([kps[kps[:, 2] > 0, :2], corners]))
        frame.people.append(Person(kps, bbox, head, track_id, ann_id))


def parse_posetrack(data: dict, path: Path, image_root: Path) -> list[Frame]:
    """Records of one PoseTrack18/21 JSON document (per-video or merged)."""
    posed: list = []
    frames = _collect_frames(data, path, image_root, posed)
    _add_people(posed)
    return frames


def annotation_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = [path / name for name in sorted(os.listdir(path)) if name.endswith(".json")]
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
    with gc_paused():
        return _load_frames(annotation_files(path), root)


def load_posetrack_table(path: str | Path, image_root: str | Path | None = None) -> tuple[list[Video], PeopleTable]:
    """:func:`load_posetrack` with the people in one table instead of the frames' ``people``
    (left empty): the same checks, a third less time and memory for the evaluator."""
    path = Path(path)
    root = Path(image_root) if image_root is not None else guess_image_root(path)
    tables: list[PeopleTable] = []
    with gc_paused():
        videos = _load_frames(annotation_files(path), root, tables)
    people = PeopleTable(
        [frame for t in tables for frame in t.frames],
        np.concatenate([t.joints for t in tables]),
        np.concatenate([t.head_boxes for t in tables]),
        [i for t in tables for i in t.ann_ids],
    )
    return videos, people


def _load_frames(files: list[Path], root: Path, tables: list[PeopleTable] | None = None) -> list[Video]:
    """The files' frames as videos, frames sorted; people are added CHUNK annotations at a time,
    to their frames, or as tables appended to ``tables`` when given."""
    by_video: dict[str, list[Frame]] = defaultdict(list)
    seen: dict[int, Path] = {}
    slots: dict[tuple[str, int], Path] = {}  # (video, frame index) -> file
    posed: list = []

    def add_people() -> None:
        if tables is None:
            _add_people(posed)
        else:
            tables.append(_people_table(posed)[0])
        posed.clear()

    for file in files:
        if len(posed) >= CHUNK:
            add_people()
        for frame in _collect_frames(read_json(file), file, root, posed):
            if frame.image_id in seen:
                raise PoseTrackFormatError(
                    file, "images.id", f"image id {frame.image_id} also in {seen[frame.image_id]}"
                )
            slot = frame.video, frame.frame_index
            if slots.get(slot, file) is not file:  # each file is one Path object
                raise PoseTrackFormatError(
                    file, "images.frame_id", f"frame {frame.frame_index} of video {frame.video} also in {slots[slot]}"
                )
            seen[frame.image_id] = slots[slot] = file
            by_video[frame.video].append(frame)
    add_people()
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
        out[image_id].append(
            Detection(image_id, _box(path, where, require_field(path, where, det, "bbox"), "bbox"), score)
        )
    for dets in out.values():
        dets.sort(key=lambda d: -d.score)
    return dict(out)


def check_frames_exist(videos: Iterable[Video]) -> None:
    """Raise naming the first annotated frame whose image file is missing."""
    for frame in iter_frames(videos):
        if not frame.path.is_file():
            listed = f" (listed in {frame.source}, images[].file_name)" if frame.source else ""
            raise FileNotFoundError(
                f"{frame.path}: frame {frame.frame_index} of video {frame.video} is missing{listed}"
            )
