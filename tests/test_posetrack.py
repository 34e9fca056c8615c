"""The PoseTrack loader on the real sample, and its errors on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tdmi.data.joints import FLIP_PAIRS, JOINT_NAMES, flip_permutation
from tdmi.data.posetrack import (
    PoseTrackFormatError,
    check_frames_exist,
    frame_index_from_id,
    iter_frames,
    load_detections,
    load_posetrack,
    make_frame_id,
)


def test_real_sample_folder_counts_boxes_regions(sample_dir: Path) -> None:
    videos = load_posetrack(sample_dir / "annotations" / "val")
    frames = list(iter_frames(videos))
    assert [v.name for v in videos] == ["003418", "009473", "012834"]
    assert len(frames) == 3 and all(f.is_labeled for f in frames)
    assert sum(len(f.people) for f in frames) == 14
    assert {f.video: len(f.ignore_regions) for f in frames} == {"003418": 9, "009473": 2, "012834": 4}
    first = videos[0].frames[0]
    assert first.nframes == 149 and (first.width, first.height) == (1920, 1080)
    assert first.path.is_file()
    person = first.people[0]
    np.testing.assert_array_equal(person.head_box, [346, 337, 296, 237])
    np.testing.assert_allclose(person.bbox, [214.25, 15.0, 1358.5, 1092.0])
    assert person.joints.shape == (17, 3) and int((person.joints[:, 2] > 0).sum()) == 11
    assert first.ignore_regions[0].shape[1] == 2
    check_frames_exist(videos)


def test_merged_file_gives_the_same_records(sample_dir: Path) -> None:
    folder = {f.image_id: f for f in iter_frames(load_posetrack(sample_dir / "annotations" / "val"))}
    merged = {f.image_id: f for f in iter_frames(load_posetrack(sample_dir / "annotations" / "test_posetrack18_val.json"))}
    assert folder.keys() == merged.keys()
    for image_id, frame in folder.items():
        other = merged[image_id]
        assert frame.path == other.path
        got = sorted(p.joints.tobytes() for p in frame.people)
        assert got == sorted(p.joints.tobytes() for p in other.people)


def test_detections_count_and_order(sample_dir: Path) -> None:
    videos = load_posetrack(sample_dir / "annotations" / "test_posetrack18_val.json")
    dets = load_detections(sample_dir / "annotations" / "test_posetrack18_human_detections.json", videos)
    assert sum(len(d) for d in dets.values()) == 278
    assert set(dets) == {f.image_id for f in iter_frames(videos)}
    for d in dets.values():
        scores = [x.score for x in d]
        assert scores == sorted(scores, reverse=True)


def test_frame_ids_round_trip() -> None:
    assert frame_index_from_id(10034180000) == 0
    assert frame_index_from_id(make_frame_id(3418, 123)) == 123
    assert make_frame_id(3418, 0) == 10034180000


def test_joint_tables_are_consistent() -> None:
    perm = flip_permutation()
    assert [perm[p] for p in perm] == list(range(17))
    for a, b in FLIP_PAIRS:
        assert JOINT_NAMES[a].replace("left", "right") == JOINT_NAMES[b]


# ----------------------------------------------------------------------------- bad input


def _doc() -> dict:
    return {
        "images": [{"id": 10000010000, "file_name": "images/val/000001/000000.jpg", "vid_id": "000001", "frame_id": 10000010000, "is_labeled": True}],
        "annotations": [{"image_id": 10000010000, "keypoints": [1.0, 2.0, 1] * 17, "bbox": [0, 0, 10, 10], "bbox_head": [0, 0, 2, 2], "track_id": 0}],
    }


def _write(tmp_path: Path, doc) -> Path:
    path = tmp_path / "video.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["annotations"][0].update(keypoints=[1.0] * 50), "annotations[0].keypoints"),
        (lambda d: d["annotations"][0].update(image_id=5), "annotations[0].image_id"),
        (lambda d: d["annotations"][0].update(bbox=[0, 0, 1]), "annotations[0].bbox"),
        (lambda d: d["annotations"][0].update(keypoints=[float("nan")] * 51), "annotations[0].keypoints"),
        (lambda d: d["images"][0].pop("file_name"), "images[0]"),
        (lambda d: d.update(categories=[{"keypoints": ["nose"] * 17}]), "categories[0].keypoints"),
        (lambda d: d["images"][0].update(ignore_regions_x=[[1, 2, 3]], ignore_regions_y=[]), "images[0].ignore_regions_x/y"),
    ],
)
def test_bad_annotation_names_file_and_field(tmp_path: Path, mutate, where: str) -> None:
    doc = _doc()
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(PoseTrackFormatError) as err:
        load_posetrack(path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(PoseTrackFormatError, match=r"video\.json: line 2 .*malformed JSON"):
        load_posetrack(path)


def test_missing_frame_file_is_named(tmp_path: Path) -> None:
    videos = load_posetrack(_write(tmp_path, _doc()), image_root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"000001/000000\.jpg.*frame 0 of video 000001.*video\.json, images\[\]\.file_name"):
        check_frames_exist(videos)


def test_detection_for_unknown_image_is_an_error(tmp_path: Path, sample_dir: Path) -> None:
    videos = load_posetrack(sample_dir / "annotations" / "val")
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 42, "bbox": [0, 0, 5, 5], "score": 0.9, "category_id": 1}]))
    with pytest.raises(PoseTrackFormatError, match=r"dets\.json: \[0\]\.image_id: image id 42"):
        load_detections(path, videos)


def test_duplicate_image_across_files_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "ann"
    folder.mkdir()
    for name in ("a.json", "b.json"):
        (folder / name).write_text(json.dumps(_doc()))
    with pytest.raises(PoseTrackFormatError, match="also in"):
        load_posetrack(folder)


def test_copied_sample_finds_its_images(tmp_path: Path, sample_dir: Path) -> None:
    shutil.copytree(sample_dir, tmp_path / "pt18")
    videos = load_posetrack(tmp_path / "pt18" / "annotations" / "val")
    assert all(f.path.is_relative_to(tmp_path / "pt18") and f.path.is_file() for f in iter_frames(videos))
