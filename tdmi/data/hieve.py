"""HiEve (Human-in-Events, Lin et al., arXiv 2005.04490, humaninevents.org) -> PoseTrack records.

What the release holds (humaninevents.org, "Format Description", all-track ground truth): per
video, one annotation file per frame (``000000.xml`` for frame 0) whose content is JSON despite the
extension: ``annotation.size.{width,height}`` and ``annotation.object[]``, each with ``name``
("P-<track id>"), ``action``, ``bndbox`` {xmin, ymin, xmax, ymax} and one "x,y,flag" string per
keypoint (named Nose, Chest, Right-shoulder ... Left-ankle, see :data:`KEYPOINT_NAMES`); every value
is a string. flag 0 = visible, 1 = invisible, -1 = not annotated. Submissions are one file per
sequence named like the sequence (``20.json`` ... ``32.json`` in the zip's root); the writer and
the metrics are in :mod:`tdmi.eval.hieve`.

Choices where the page is silent (each an argument of the function that makes it):

- Layout on disk: ``root/annotations/<split>/<video>/<NNNNNN>.xml`` and the frames at
  ``root/images/<split>/<video>/<NNNNNN>.jpg`` (the annotation's own ``filename`` is "0.jpg" on
  the page, not the frame file's name, so the annotation file's stem names the frame). Videos are
  the folders in sorted order; image ids are PoseTrack's ``1 VVVVVV FFFF`` with V = that position.
- Keypoints are read from ``bndbox`` (where the page's example puts them) and from the object
  itself; a key in ``bndbox`` that is neither a box corner nor a keypoint name is an error, and so
  is a keypoint named at both places. A keypoint that is not listed is not annotated.
- Flags become PoseTrack visibilities: 0 -> 2 (visible), 1 -> 1 (occluded), -1 -> 0 with
  coordinates (0, 0), PoseTrack's "not annotated".
- Synthetic HiEve: a PoseTrack-layout set (tdmi.data.synth) maps its 17 joints onto HiEve's 14 by
  name; HiEve's Chest, which PoseTrack lacks, is the midpoint of the shoulders, labelled when both
  are (occluded when either is).

Every check that fails raises :class:`~tdmi.data.posetrack.PoseTrackFormatError` naming the file
and the field. Command line (HiEve -> PoseTrack18-format files with HiEve's 14 keypoints)::

    python -m tdmi.data.hieve --src data/HiEve/annotations/train --out data/HiEve_posetrack/train
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from tdmi.data.datasets import register_dataset
from tdmi.data.joints import HIEVE, POSETRACK
from tdmi.data.posetrack import (
    Frame,
    Person,
    PoseTrackFormatError,
    Video,
    load_posetrack,
    make_frame_id,
    read_json,
    require_field,
)

KEYPOINT_NAMES: tuple[str, ...] = (
    "Nose",
    "Chest",
    "Right-shoulder",
    "Right-elbow",
    "Right-wrist",
    "Left-shoulder",
    "Left-elbow",
    "Left-wrist",
    "Right-hip",
    "Right-knee",
    "Right-ankle",
    "Left-hip",
    "Left-knee",
    "Left-ankle",
)  # fmt: skip  (in HIEVE.names order: index i is HIEVE.names[i])
BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")
FLAG_TO_VISIBILITY = {0: 2.0, 1: 1.0, -1: 0.0}
ANNOTATION_SUFFIX = ".xml"


def _number(path: Path, where: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PoseTrackFormatError(path, where, f"not a number: {value!r}") from None
    if not np.isfinite(number):
        raise PoseTrackFormatError(path, where, f"not a finite number: {value!r}")
    return number


def parse_keypoint(path: Path, where: str, value) -> tuple[float, float, float]:
    """One "x,y,flag" string -> (x, y, PoseTrack visibility)."""
    parts = str(value).split(",") if isinstance(value, str) else None
    if parts is None or len(parts) != 3:
        count = len(parts) if parts is not None else "not a string"
        raise PoseTrackFormatError(path, where, f"expected 'x,y,flag' (3 numbers), got {count}: {value!r}")
    x, y, flag = (_number(path, where, p.strip()) for p in parts)
    if flag not in FLAG_TO_VISIBILITY:
        raise PoseTrackFormatError(path, where, f"flag must be one of -1, 0, 1, got {parts[2].strip()!r}")
    v = FLAG_TO_VISIBILITY[int(flag)]
    return (x, y, v) if v > 0 else (0.0, 0.0, 0.0)


def _track_id(path: Path, where: str, name) -> int:
    text = str(name)
    if not text.startswith("P-") or not text[2:].isdigit():
        raise PoseTrackFormatError(path, where, f"expected 'P-<track id>', got {name!r}")
    return int(text[2:])


def parse_object(path: Path, where: str, obj: dict, ann_id: int) -> Person:
    """One ``annotation.object[]`` entry -> a person with HiEve's 14 joints."""
    if not isinstance(obj, dict):
        raise PoseTrackFormatError(path, where, "expected an object")
    track = _track_id(path, f"{where}.name", require_field(path, where, obj, "name"))
    box = require_field(path, where, obj, "bndbox")
    if not isinstance(box, dict):
        raise PoseTrackFormatError(path, f"{where}.bndbox", "expected an object")
    x0, y0, x1, y1 = (
        _number(path, f"{where}.bndbox.{k}", require_field(path, f"{where}.bndbox", box, k)) for k in BOX_KEYS
    )
    if x1 < x0 or y1 < y0:
        raise PoseTrackFormatError(path, f"{where}.bndbox", f"xmax/ymax below xmin/ymin: {[x0, y0, x1, y1]}")
    unknown = sorted(set(box) - set(BOX_KEYS) - set(KEYPOINT_NAMES))
    if unknown:
        raise PoseTrackFormatError(
            path,
            f"{where}.bndbox.{unknown[0]}",
            f"unknown keypoint name; HiEve's are {list(KEYPOINT_NAMES)}",
        )
    joints = np.zeros((HIEVE.num_joints, 3))
    for j, name in enumerate(KEYPOINT_NAMES):
        if name in box and name in obj:
            raise PoseTrackFormatError(path, f"{where}.{name}", "given both in bndbox and in the object")
        if name in box or name in obj:
            field = f"{where}.bndbox.{name}" if name in box else f"{where}.{name}"
            joints[j] = parse_keypoint(path, field, box[name] if name in box else obj[name])
    return Person(
        joints=joints,
        bbox=np.array([x0, y0, x1 - x0, y1 - y0]),
        head_box=None,
        track_id=track,
        ann_id=ann_id,
    )


def parse_frame(data: dict, path: Path, image: Path, file_name: str, video: str, number: int) -> Frame:
    """One per-frame annotation document -> a labelled frame; ``image`` is the frame's file."""
    if not path.stem.isdigit():
        raise PoseTrackFormatError(path, "file name", "expected the frame number, e.g. 000000.xml")
    index = int(path.stem)
    if index >= 10000:
        raise PoseTrackFormatError(path, "file name", f"frame {index}: PoseTrack frame ids hold 4 digits")
    ann = require_field(path, "top level", data, "annotation")
    size = require_field(path, "annotation", ann, "size")
    width = _number(path, "annotation.size.width", require_field(path, "annotation.size", size, "width"))
    height = _number(path, "annotation.size.height", require_field(path, "annotation.size", size, "height"))
    objects = ann.get("object") or []
    objects = [objects] if isinstance(objects, dict) else objects  # XML-to-JSON makes a lone child a dict
    image_id = make_frame_id(number, index)
    people = [parse_object(path, f"annotation.object[{k}]", obj, image_id * 100 + k) for k, obj in enumerate(objects)]
    return Frame(
        image_id=image_id,
        video=video,
        frame_index=index,
        path=image,
        width=int(width),
        height=int(height),
        nframes=0,
        is_labeled=True,
        people=people,
        file_name=file_name,
        source=path,
    )


def load_hieve(
    annotations: str | Path, root: str | Path, image_folder: str = "images", image_ext: str = ".jpg"
) -> list[Video]:
    """Videos of one split: ``annotations/<video>/<NNNNNN>.xml``, frames at
    ``root/image_folder/<split>/<video>/<NNNNNN><image_ext>``, split = the annotations folder."""
    annotations, root = Path(annotations), Path(root)
    if not annotations.is_dir():
        raise PoseTrackFormatError(annotations, "folder", "does not exist")
    folders = sorted(p for p in annotations.iterdir() if p.is_dir())
    if not folders:
        raise PoseTrackFormatError(annotations, "folder", "holds no video folders of per-frame annotation files")
    videos = []
    for number, folder in enumerate(folders, start=1):
        files = sorted(folder.glob(f"*{ANNOTATION_SUFFIX}"))
        if not files:
            raise PoseTrackFormatError(folder, "folder", f"holds no *{ANNOTATION_SUFFIX} annotation files")
        frames = []
        for file in files:
            data = read_json(file)
            if not isinstance(data, dict):
                raise PoseTrackFormatError(file, "top level", "expected an object with 'annotation'")
            file_name = f"{image_folder}/{annotations.name}/{folder.name}/{file.stem}{image_ext}"
            frames.append(parse_frame(data, file, root / file_name, file_name, folder.name, number))
        frames.sort(key=lambda f: f.frame_index)
        for frame in frames:
            frame.nframes = len(frames)
        videos.append(Video(folder.name, frames))
    return videos


@register_dataset("hieve")
def load_hieve_split(root: Path, split: str) -> list[Video]:
    """HiEve (or a synthetic set in its layout) at ``root/annotations/<split>/<video>``."""
    return load_hieve(root / "annotations" / split, root)


def _fmt(value: float) -> str:
    return format(round(float(value), 2), ".2f").rstrip("0").rstrip(".")


def hieve_document(frame: Frame) -> dict:
    """A frame with HiEve's 14 joints -> its per-frame annotation document (values as strings)."""
    objects = []
    for person in frame.people:
        x, y, w, h = person.bbox
        box = {"xmin": _fmt(x), "ymin": _fmt(y), "xmax": _fmt(x + w), "ymax": _fmt(y + h)}
        for name, (jx, jy, v) in zip(KEYPOINT_NAMES, person.joints, strict=True):
            flag = 0 if v >= 2 else 1 if v > 0 else -1
            box[name] = f"{_fmt(jx)},{_fmt(jy)},{flag}" if flag >= 0 else "0,0,-1"
        objects.append(
            {"name": f"P-{person.track_id}", "action": "unspecified", "pose": "unspecified",
             "truncated": "0", "difficult": "0", "bndbox": box}
        )  # fmt: skip
    size = {"width": str(frame.width), "height": str(frame.height), "depth": "3"}
    return {
        "annotation": {
            "folder": frame.video,
            "filename": Path(frame.file_name).name,
            "size": size,
            "object": objects,
        }
    }


def write_hieve(videos: Iterable[Video], annotations: str | Path) -> list[Path]:
    """Videos with HiEve's joints -> ``annotations/<video folder>/<NNNNNN>.xml``, files returned."""
    out = []
    for video in videos:
        for frame in video.frames:
            folder = Path(frame.file_name).parent.name or video.name
            path = Path(annotations) / folder / f"{frame.frame_index:06d}{ANNOTATION_SUFFIX}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(hieve_document(frame), indent=1))
            out.append(path)
    return out


def posetrack_to_hieve_joints(joints: np.ndarray) -> np.ndarray:
    """(17, 3) PoseTrack joints -> (14, 3) HiEve joints; Chest = midpoint of the shoulders."""
    out = np.zeros((HIEVE.num_joints, 3))
    for j, name in enumerate(HIEVE.names):
        if name != "chest":
            out[j] = joints[POSETRACK.names.index(name)]
    left, right = (
        joints[POSETRACK.names.index("left_shoulder")],
        joints[POSETRACK.names.index("right_shoulder")],
    )
    if left[2] > 0 and right[2] > 0:
        out[HIEVE.names.index("chest")] = [*((left[:2] + right[:2]) / 2), min(left[2], right[2])]
    return out


def posetrack_to_hieve(root: str | Path, splits: Sequence[str] = ("train", "val")) -> None:
    """Turn a PoseTrack-layout set (the synthetic generator's) into HiEve's layout, in place: the
    frames stay where they are, per-frame HiEve files replace the per-video JSON files."""
    root = Path(root)
    for split in splits:
        folder = root / "annotations" / split
        json_files = sorted(folder.glob("*.json"))
        videos = load_posetrack(folder, root)
        for video in videos:
            for frame in video.frames:
                frame.people = [
                    Person(posetrack_to_hieve_joints(p.joints), p.bbox, None, p.track_id, p.ann_id)
                    for p in frame.people
                ]
        write_hieve(videos, folder)
        for file in json_files:
            file.unlink()


def posetrack_document(video: Video) -> dict:
    """A HiEve video as one PoseTrack18-format document, keypoints named by HiEve's joint set."""
    images, annotations = [], []
    for frame in video.frames:
        images.append(
            {"file_name": frame.file_name, "id": frame.image_id, "frame_id": frame.image_id,
             "vid_id": video.name, "nframes": frame.nframes, "is_labeled": frame.is_labeled,
             "width": frame.width, "height": frame.height,
             "ignore_regions_x": [], "ignore_regions_y": []}
        )  # fmt: skip
        for p in frame.people:
            annotations.append(
                {"id": p.ann_id, "image_id": frame.image_id, "category_id": 1,
                 "track_id": p.track_id, "bbox": p.bbox.tolist(),
                 "keypoints": p.joints.ravel().tolist(),
                 "num_keypoints": int(np.count_nonzero(p.joints[:, 2] > 0)), "iscrowd": 0}
            )  # fmt: skip
    return {"images": images, "annotations": annotations, "categories": [HIEVE.category()]}


def convert(src: str | Path, out: str | Path, root: str | Path | None = None) -> list[Path]:
    """One split's HiEve annotations -> one PoseTrack18-format file per video under ``out``."""
    src = Path(src)
    videos = load_hieve(src, root if root is not None else src.parent.parent)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for video in videos:
        files.append(out / f"{video.name}.json")
        files[-1].write_text(json.dumps(posetrack_document(video)))
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tdmi.data.hieve", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--src",
        required=True,
        type=Path,
        help="one split's annotations: <root>/annotations/<split>",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for the PoseTrack18-format files")
    parser.add_argument("--root", type=Path, help="the release root the frames' file names are relative to")
    args = parser.parse_args(argv)
    try:
        files = convert(args.src, args.out, args.root)
    except PoseTrackFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(files)} PoseTrack18-format files with HiEve's 14 keypoints in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
