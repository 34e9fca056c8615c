"""PoseTrack17 official annotations -> PoseTrack18-format files, so one loader reads all releases.

PoseTrack17 ships MPII-style JSON: ``annolist`` entries with ``image[0].name``, ``imgnum``,
``is_labeled``, ``ignore_regions[].point[]`` and ``annorect[]`` people whose ``x1, y1, x2, y2`` is
the head box and whose ``annopoints[0].point[]`` holds joints by id in poseval's 15-joint order
(0 r_ankle, 1 r_knee, 2 r_hip, 3 l_hip, 4 l_knee, 5 l_ankle, 6 r_wrist, 7 r_elbow, 8 r_shoulder,
9 l_shoulder, 10 l_elbow, 11 l_wrist, 12 head_bottom, 13 nose, 14 head_top). Values are often
one-element lists; both forms are read.

Choices where PoseTrack17 is silent: the person box (absent in PT17) is the labelled joints'
extent united with the head box, enlarged by 10% on each side (the boxes the DCPose line builds,
:func:`tdmi.data.posetrack.box_around`);
ears stay unlabelled, as in PoseTrack18.

    python -m tdmi.data.posetrack17 --src PoseTrack2017/annotations/val --out data/PoseTrack2017/annotations/val
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tdmi.data.joints import JOINT_NAMES, NUM_JOINTS, posetrack_category
from tdmi.data.posetrack import PoseTrackFormatError, box_around, make_frame_id, read_json

PT17_TO_PT18 = {0: "right_ankle", 1: "right_knee", 2: "right_hip", 3: "left_hip", 4: "left_knee", 5: "left_ankle",
                6: "right_wrist", 7: "right_elbow", 8: "right_shoulder", 9: "left_shoulder", 10: "left_elbow",
                11: "left_wrist", 12: "head_bottom", 13: "nose", 14: "head_top"}  # fmt: skip


def _scalar(value):
    return value[0] if isinstance(value, list) else value


def convert_video(doc: dict, path: Path) -> dict:
    """One PoseTrack17 video document -> one PoseTrack18 document."""
    annolist = doc.get("annolist")
    if not isinstance(annolist, list) or not annolist:
        raise PoseTrackFormatError(path, "annolist", "missing or empty")
    images, annotations = [], []
    for i, entry in enumerate(annolist):
        where = f"annolist[{i}]"
        try:
            name = str(_scalar(entry["image"])["name"])
        except (KeyError, IndexError, TypeError) as err:
            raise PoseTrackFormatError(path, f"{where}.image", "missing image name") from err
        video = Path(name).parent.name
        number = int(video.split("_")[0]) if video.split("_")[0].isdigit() else 0
        index = int(_scalar(entry.get("imgnum", [i + 1]))) - 1
        image_id = make_frame_id(number, index)
        xs, ys = [], []
        for region in entry.get("ignore_regions") or []:
            pts = region.get("point") or []
            xs.append([float(_scalar(p["x"])) for p in pts])
            ys.append([float(_scalar(p["y"])) for p in pts])
        images.append({"file_name": name, "frame_id": image_id, "id": image_id, "vid_id": f"{number:06d}",
                       "is_labeled": bool(_scalar(entry.get("is_labeled", [0]))), "nframes": len(annolist),
                       "ignore_regions_x": xs, "ignore_regions_y": ys})  # fmt: skip
        for k, rect in enumerate(entry.get("annorect") or []):
            points = (_scalar(rect.get("annopoints")) or {}).get("point") if rect.get("annopoints") else None
            if not points:
                continue
            joints = np.zeros((NUM_JOINTS, 3))
            for p in points:
                jid = int(_scalar(p["id"]))
                if jid not in PT17_TO_PT18:
                    raise PoseTrackFormatError(
                        path, f"{where}.annorect[{k}].annopoints.point.id", f"unknown joint id {jid}"
                    )
                joints[JOINT_NAMES.index(PT17_TO_PT18[jid])] = float(_scalar(p["x"])), float(_scalar(p["y"])), 1.0
            try:
                head = [float(_scalar(rect[key])) for key in ("x1", "y1", "x2", "y2")]
            except KeyError as err:
                raise PoseTrackFormatError(path, f"{where}.annorect[{k}]", f"missing head box field {err}") from err
            box = box_around(np.concatenate([joints[joints[:, 2] > 0, :2], [head[:2], head[2:]]]))
            annotations.append({"id": image_id * 100 + k, "image_id": image_id, "category_id": 1,
                                "track_id": int(_scalar(rect.get("track_id", [k]))),
                                "keypoints": [float(v) for v in joints.reshape(-1)],
                                "bbox": box.tolist(),
                                "bbox_head": [head[0], head[1], head[2] - head[0], head[3] - head[1]]})  # fmt: skip
    return {"categories": [posetrack_category()], "images": images, "annotations": annotations}


def convert_folder(src: Path, out: Path) -> int:
    """Convert every ``*.json`` under ``src`` into ``out``; returns the number of videos."""
    files = sorted(src.glob("*.json")) if src.is_dir() else [src]
    out.mkdir(parents=True, exist_ok=True)
    for file in files:
        (out / file.name).write_text(json.dumps(convert_video(read_json(file), file)))
    return len(files)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tdmi.data.posetrack17", description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", required=True, type=Path, help="PoseTrack17 annotation file or folder")
    parser.add_argument("--out", required=True, type=Path, help="folder for the PoseTrack18-format files")
    args = parser.parse_args(argv)
    print(f"converted {convert_folder(args.src, args.out)} videos into {args.out}")


if __name__ == "__main__":
    main()
