"""The PoseTrack loader on the real sample, and its errors on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tdmi.data.datasets import DATASETS, load_dataset, load_posetrack_split, register_dataset
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
    videos = load_dataset("posetrack", sample_dir, "val")
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


def test_dataset_registry_by_name(sample_dir: Path) -> None:
    folder = load_posetrack(sample_dir / "annotations" / "val")
    by_name = load_dataset("posetrack", str(sample_dir), "val")
    assert [f.image_id for f in iter_frames(by_name)] == [f.image_id for f in iter_frames(folder)]
    with pytest.raises(KeyError, match=r"unknown dataset loader 'posetrak'; registered: \[.*'posetrack'"):
        load_dataset("posetrak", sample_dir, "val")
    with pytest.raises(ValueError, match="'posetrack' is already registered"):
        register_dataset("posetrack")(lambda root, split: [])
    assert DATASETS["posetrack"] is load_posetrack_split


def test_merged_file_gives_the_same_records(sample_dir: Path) -> None:
    folder = {f.image_id: f for f in iter_frames(load_posetrack(sample_dir / "annotations" / "val"))}
    merged = {
        f.image_id: f for f in iter_frames(load_posetrack(sample_dir / "annotations" / "test_posetrack18_val.json"))
    }
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
        "images": [
            {
                "id": 10000010000,
                "file_name": "images/val/000001/000000.jpg",
                "vid_id": "000001",
                "frame_id": 10000010000,
                "is_labeled": True,
            }
        ],
        "annotations": [
            {
                "image_id": 10000010000,
                "keypoints": [1.0, 2.0, 1] * 17,
                "bbox": [0, 0, 10, 10],
                "bbox_head": [0, 0, 2, 2],
                "track_id": 0,
            }
        ],
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
        (
            lambda d: d["images"][0].update(ignore_regions_x=[[1, 2, 3]], ignore_regions_y=[]),
            "images[0].ignore_regions_x/y",
        ),
        # issue 9, item 6: nonsense that used to be counted, trained on or evaluated
        (
            lambda d: d["annotations"][0].update(bbox=[0, 0, -10, 10]),
            "annotations[0].bbox: width and height must be positive",
        ),
        (
            lambda d: d["annotations"][0].update(bbox=[0, 0, 10, 0]),
            "annotations[0].bbox: width and height must be positive",
        ),
        (lambda d: d["annotations"][0].update(bbox_head=[0, 0, 2, -2]), "annotations[0].bbox_head: width and height"),
        (
            lambda d: d["annotations"][0].update(keypoints=[1.0, 2.0, 1] * 16 + [1.0, 2.0, 3]),
            "annotations[0].keypoints: visibility of right_ankle must be 0, 1 or 2, got 3",
        ),
        (
            lambda d: d["images"].append({**d["images"][0], "id": 10000010001}),
            "images[1].frame_id: frame 0 of video 000001 is also images[0]",
        ),
        (
            lambda d: d["images"][0].update(is_labeled="false"),
            "images[0].is_labeled: expected true or false, got 'false'",
        ),
        # issue 9, item 10: raw TypeError/ValueError before, without the file name
        (lambda d: d["annotations"][0].update(track_id=None), "annotations[0].track_id: expected an integer, got None"),
        (
            lambda d: d["annotations"][0].update(image_id="abc"),
            "annotations[0].image_id: expected an integer, got 'abc'",
        ),
        (lambda d: d["images"][0].update(id="10000010000"), "images[0].id: expected an integer"),
        (lambda d: d["images"][0].update(width="wide"), "images[0].width: expected an integer, got 'wide'"),
        (
            lambda d: d["images"][0].update(ignore_regions_x=5, ignore_regions_y=[]),
            "images[0].ignore_regions_x/y: expected lists",
        ),
        (
            lambda d: d["images"][0].update(ignore_regions_x=[[1, "a", 3]], ignore_regions_y=[[1, 2, 3]]),
            "images[0].ignore_regions_x[0]",
        ),
        (lambda d: d["annotations"][0].update(bbox=["a", 0, 1, 1]), "annotations[0].bbox: expected 4 finite numbers"),
    ],
)
def test_bad_annotation_names_file_and_field(tmp_path: Path, mutate, where: str) -> None:
    doc = _doc()
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(PoseTrackFormatError) as err:
        load_posetrack(path)
    assert str(err.value).startswith(f"{path}: ") and where in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("encode", "where"),
    [
        (lambda text: text.encode("utf-16"), "encoding: UTF-16 or UTF-32, not UTF-8"),
        (lambda text: text.encode("utf-16-le"), "encoding: UTF-16 or UTF-32, not UTF-8"),
        (
            lambda text: text.replace("000001", "00000\u00e9").encode("latin-1"),
            r"byte 25: not UTF-8 text \(invalid continuation byte\)",
        ),  # the first é
    ],
)
def test_file_not_in_utf8_is_named(tmp_path: Path, encode, where: str) -> None:
    path = tmp_path / "video.json"
    path.write_bytes(encode(json.dumps(_doc(), ensure_ascii=False)))
    with pytest.raises(PoseTrackFormatError, match=rf"video\.json: {where}"):
        load_posetrack(path)


def test_utf8_byte_order_mark_and_integral_floats_are_read(tmp_path: Path) -> None:
    doc = _doc()
    doc["annotations"][0]["track_id"] = 4.0
    path = tmp_path / "video.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    (video,) = load_posetrack(path)
    assert video.frames[0].people[0].track_id == 4


def test_person_without_bbox_gets_the_extent_of_its_joints_and_head(tmp_path: Path) -> None:
    doc = _doc()
    keypoints = np.zeros((17, 3))
    keypoints[[0, 5, 16]] = [[10, 20, 1], [30, 60, 2], [20, 120, 1]]
    keypoints[9] = [500, 500, 0]  # not labelled: outside the box
    doc["annotations"][0].pop("bbox")
    doc["annotations"][0].update(keypoints=keypoints.ravel().tolist(), bbox_head=[5, 10, 10, 10])
    (video,) = load_posetrack(_write(tmp_path, doc))
    # x 5..30, y 10..120 (head box 5..15 x 10..20), grown by 10% each side
    np.testing.assert_allclose(video.frames[0].people[0].bbox, [2.5, -1, 30, 132])


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(PoseTrackFormatError, match=r"video\.json: line 2 .*malformed JSON"):
        load_posetrack(path)


def test_missing_frame_file_is_named(tmp_path: Path) -> None:
    videos = load_posetrack(_write(tmp_path, _doc()), image_root=tmp_path)
    with pytest.raises(
        FileNotFoundError, match=r"000001/000000\.jpg.*frame 0 of video 000001.*video\.json, images\[\]\.file_name"
    ):
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


def test_same_frame_of_a_video_in_two_files_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "ann"
    folder.mkdir()
    other = _doc()
    other["images"][0]["id"] = other["annotations"][0]["image_id"] = 10000010007
    (folder / "a.json").write_text(json.dumps(_doc()))
    (folder / "b.json").write_text(json.dumps(other))
    with pytest.raises(
        PoseTrackFormatError, match=r"b\.json: images\.frame_id: frame 0 of video 000001 also in .*a\.json"
    ):
        load_posetrack(folder)


def test_copied_sample_finds_its_images(tmp_path: Path, sample_dir: Path) -> None:
    shutil.copytree(sample_dir, tmp_path / "pt18")
    videos = load_posetrack(tmp_path / "pt18" / "annotations" / "val")
    assert all(f.path.is_relative_to(tmp_path / "pt18") and f.path.is_file() for f in iter_frames(videos))
