"""PoseTrack17's MPII-style files reach the same records through the conversion command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tdmi.data import posetrack17
from tdmi.data.joints import JOINT_NAMES
from tdmi.data.posetrack import PoseTrackFormatError, load_posetrack


def _pt17() -> dict:
    points = [{"id": [13], "x": [50.0], "y": [20.0], "is_visible": [1]},
              {"id": [0], "x": [40.0], "y": [90.0], "is_visible": [1]},
              {"id": 9, "x": 60.0, "y": 40.0, "is_visible": 0}]  # fmt: skip
    return {"annolist": [
        {"image": [{"name": "images/bonn/000342_bonn/00000001.jpg"}], "imgnum": [1], "is_labeled": [1],
         "ignore_regions": [{"point": [{"id": [0], "x": [0], "y": [0]}, {"id": [1], "x": [10], "y": [0]},
                                       {"id": [2], "x": [10], "y": [10]}]}],
         "annorect": [{"x1": [45], "y1": [10], "x2": [55], "y2": [25], "track_id": [3],
                       "annopoints": [{"point": points}]},
                      {"x1": [0], "y1": [0], "x2": [1], "y2": [1], "track_id": [4]}]},
        {"image": [{"name": "images/bonn/000342_bonn/00000002.jpg"}], "imgnum": [2], "is_labeled": [0], "annorect": []},
    ]}  # fmt: skip


def test_conversion_maps_joints_boxes_and_regions(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "000342_bonn.json").write_text(json.dumps(_pt17()))
    posetrack17.main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "annotations" / "val")])
    (video,) = load_posetrack(tmp_path / "annotations" / "val", image_root=tmp_path)
    assert video.name == "000342" and [f.frame_index for f in video.frames] == [0, 1]
    first = video.frames[0]
    assert first.is_labeled and not video.frames[1].is_labeled and first.image_id == 10003420000
    (person,) = first.people  # the annorect without points is not a pose
    j = {name: person.joints[i] for i, name in enumerate(JOINT_NAMES)}
    np.testing.assert_array_equal(j["nose"], [50, 20, 1])
    np.testing.assert_array_equal(j["right_ankle"], [40, 90, 1])
    np.testing.assert_array_equal(j["left_shoulder"], [60, 40, 1])
    assert j["head_top"][2] == 0 and person.track_id == 3
    np.testing.assert_array_equal(person.head_box, [45, 10, 10, 15])
    np.testing.assert_allclose(person.bbox, [38, 2, 24, 96])  # joints+head extent 40..60 x 10..90, +10% each side
    assert len(first.ignore_regions) == 1 and first.ignore_regions[0].shape == (3, 2)


def test_unknown_joint_id_is_named(tmp_path: Path) -> None:
    doc = _pt17()
    doc["annolist"][0]["annorect"][0]["annopoints"][0]["point"][0]["id"] = [21]
    (tmp_path / "v.json").write_text(json.dumps(doc))
    with pytest.raises(
        PoseTrackFormatError, match=r"v\.json: annolist\[0\]\.annorect\[0\]\.annopoints\.point\.id: unknown joint id 21"
    ):
        posetrack17.convert_folder(tmp_path / "v.json", tmp_path / "out")
