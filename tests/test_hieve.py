"""HiEve: reader on a hand-written fixture, its errors, the converters, known-answer metrics."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import REPO
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tdmi.data.datasets import load_dataset
from tdmi.data.hieve import (
    KEYPOINT_NAMES,
    load_hieve,
    main,
    posetrack_to_hieve,
    posetrack_to_hieve_joints,
    write_hieve,
)
from tdmi.data.joints import HIEVE, POSETRACK
from tdmi.data.posetrack import PoseTrackFormatError, load_posetrack
from tdmi.engine.evaluation import EvaluationSpec
from tdmi.eval.coco import coco_oks
from tdmi.eval.hieve import (
    HiEveMetric,
    challenge_metrics,
    crowd_index,
    evaluate_hieve,
    evaluate_hieve_ap,
    head_size,
    weighted_oks_ap,
    write_submission,
)
from tdmi.eval.results import PosePrediction, group_by_image, read_posetrack_results, write_posetrack_results
from tdmi.utils.config import ConfigError

TINY = REPO / "tests" / "data" / "hieve_tiny"
FRAME0 = TINY / "annotations" / "val" / "seq1" / "000000.xml"
# Frame 0's Crowd Index: 2 of P-2's 14 joints in P-1's box, 1 of P-1's 13 in P-2's.
CI0 = (2 / 13 + 1 / 14) / 2


@pytest.fixture(scope="module")
def videos():
    return load_dataset("hieve", TINY, "val")


def _predictions(videos, scores=(0.9, 0.8, 0.7, 0.6), skip=(), move=None) -> list[PosePrediction]:
    """The ground truth as predictions, person k (in file order) scored scores[k]; people in
    ``skip`` left out; ``move`` = (person, joint, dx) shifts one predicted joint."""
    out, k = [], 0
    for frame in videos[0].frames:
        for person in frame.people:
            joints = np.where(person.joints[:, 2:] > 0, person.joints[:, :2], np.nan)
            if move and move[0] == k:
                joints[move[1], 0] += move[2]
            if k not in skip:
                score = np.full(HIEVE.num_joints, scores[k])
                out.append(PosePrediction(frame.image_id, joints, score, scores[k], person.track_id))
            k += 1
    return out


def test_reader_gives_the_records(videos):
    assert [v.name for v in videos] == ["seq1"]
    f0, f1 = videos[0].frames
    assert (f0.frame_index, f1.frame_index, f0.nframes, f0.width, f0.height) == (0, 1, 2, 640, 480)
    assert f0.file_name == "images/val/seq1/000000.jpg" and f0.source == FRAME0
    p1, p2 = f0.people
    assert (p1.track_id, p2.track_id) == (1, 2) and p1.joints.shape == (14, 3)
    np.testing.assert_array_equal(p1.bbox, [100, 100, 100, 300])
    # flag 0 -> visible (2), 1 -> occluded (1), -1 -> not annotated (0 at (0, 0))
    rw, la = HIEVE.names.index("right_wrist"), HIEVE.names.index("left_ankle")
    np.testing.assert_array_equal(p1.joints[rw], [120, 260, 1])
    np.testing.assert_array_equal(p1.joints[la], [0, 0, 0])
    np.testing.assert_array_equal(p1.joints[0], [150, 120, 2])
    assert p1.head_box is None and [p.track_id for p in f1.people] == [1, 3]


def _broken(tmp_path: Path, edit) -> Path:
    root = tmp_path / "hieve"
    shutil.copytree(TINY, root)
    path = root / FRAME0.relative_to(TINY)
    doc = json.loads(path.read_text())
    edit(doc["annotation"]["object"][1])
    path.write_text(json.dumps(doc))
    return root


def _box(key, value):
    return lambda obj: obj["bndbox"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (_box("Nose", "240,abc,0"), "object[1].bndbox.Nose", "not a number: 'abc'"),
        (_box("Chest", "240,160"), "object[1].bndbox.Chest", "3 numbers), got 2"),
        (_box("Neck", "240,150,0"), "object[1].bndbox.Neck", "unknown keypoint name"),
        (
            _box("Left-knee", "255,320,2"),
            "object[1].bndbox.Left-knee",
            "flag must be one of -1, 0, 1",
        ),
        (_box("xmax", "1O0"), "object[1].bndbox.xmax", "not a number: '1O0'"),
        (_box("xmax", "150"), "object[1].bndbox", "xmax/ymax below xmin/ymin"),
        (lambda obj: obj.__setitem__("name", "person-2"), "object[1].name", "'P-<track id>'"),
        (lambda obj: obj.pop("bndbox"), "object[1]", "missing field 'bndbox'"),
    ],
)
def test_bad_files_name_the_file_and_the_field(tmp_path, edit, field, problem):
    root = _broken(tmp_path, edit)
    with pytest.raises(PoseTrackFormatError) as err:
        load_dataset("hieve", root, "val")
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(root / FRAME0.relative_to(TINY)))
    assert f"annotation.{field}: " in message and problem in message


def test_malformed_json_and_missing_split_are_errors(tmp_path):
    root = _broken(tmp_path, lambda obj: None)
    (root / FRAME0.relative_to(TINY)).write_text('{"annotation": {')
    with pytest.raises(PoseTrackFormatError, match="000000.xml: line 1 column .*malformed JSON"):
        load_dataset("hieve", root, "val")
    with pytest.raises(PoseTrackFormatError, match="annotations/train: folder: does not exist"):
        load_dataset("hieve", root, "train")


def test_round_trip_through_the_writer(videos, tmp_path):
    write_hieve(videos, tmp_path / "annotations" / "val")
    again = load_hieve(tmp_path / "annotations" / "val", tmp_path)
    for a, b in zip(videos[0].frames, again[0].frames, strict=True):
        assert (a.frame_index, a.width, a.height, a.file_name) == (
            b.frame_index, b.width, b.height, b.file_name,
        )  # fmt: skip
        for p, q in zip(a.people, b.people, strict=True):
            np.testing.assert_array_equal(p.joints, q.joints)
            np.testing.assert_array_equal(p.bbox, q.bbox)
            assert p.track_id == q.track_id


def test_converter_writes_posetrack_files_with_hieves_keypoints(videos, tmp_path):
    assert main(["--src", str(TINY / "annotations" / "val"), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "seq1.json").read_text())
    assert doc["categories"][0]["keypoints"] == list(HIEVE.names)
    assert [a["track_id"] for a in doc["annotations"]] == [1, 2, 1, 3]
    first = doc["annotations"][0]
    assert first["bbox"] == [100, 100, 100, 300] and first["num_keypoints"] == 13
    assert first["keypoints"][:6] == [150, 120, 2, 150, 160, 2]
    assert len(first["keypoints"]) == 42 and first["image_id"] == doc["images"][0]["id"]
    assert main(["--src", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2


def test_synthetic_set_in_hieve_layout(synth_root, tmp_path):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    posetrack_to_hieve(root)
    assert not list((root / "annotations").rglob("*.json"))
    hieve, posetrack = (
        load_dataset("hieve", root, "val"),
        load_posetrack(synth_root / "annotations/val"),
    )
    assert [len(v.frames) for v in hieve] == [len(v.frames) for v in posetrack]
    for a, b in zip(hieve, posetrack, strict=True):
        for fa, fb in zip(a.frames, b.frames, strict=True):
            assert fa.path == root / fb.file_name and fa.path.is_file()
            for pa, pb in zip(fa.people, fb.people, strict=True):
                np.testing.assert_allclose(pa.joints, posetrack_to_hieve_joints(pb.joints), atol=0.006)


def test_chest_is_the_shoulders_midpoint():
    joints = np.zeros((17, 3))
    joints[POSETRACK.names.index("left_shoulder")] = [10, 20, 2]
    joints[POSETRACK.names.index("right_shoulder")] = [30, 40, 1]
    joints[POSETRACK.names.index("nose")] = [5, 6, 2]
    out = posetrack_to_hieve_joints(joints)
    np.testing.assert_array_equal(out[HIEVE.names.index("chest")], [20, 30, 1])
    np.testing.assert_array_equal(out[0], [5, 6, 2])
    joints[POSETRACK.names.index("left_shoulder")] = 0
    assert posetrack_to_hieve_joints(joints)[HIEVE.names.index("chest")].tolist() == [0, 0, 0]


def test_head_sizes(videos):
    p1 = videos[0].frames[0].people[0]
    p3 = videos[0].frames[1].people[1]  # no nose: the box rule
    assert head_size(p1) == 40.0 and head_size(p1, "box") == pytest.approx(45.0)
    assert head_size(p3) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="head must be one of"):
        head_size(p1, "head_box")


def test_per_joint_ap_known_answers(videos):
    perfect = evaluate_hieve_ap(videos, group_by_image(_predictions(videos)))
    assert set(perfect.ap.values()) == {100.0} and perfect.columns()["Mean"] == 100.0
    # P-2's nose 21 px off: past 0.5 x 40 px, so a false positive between two true ones.
    # Nose predictions by score: TP 0.9, FP 0.8, TP 0.7 of 3 noses: VOC AP = 1/3 + 1/3 * 2/3 = 5/9.
    moved = group_by_image(_predictions(videos, move=(1, 0, 21.0)))
    result = evaluate_hieve_ap(videos, moved)
    assert result.ap["nose"] == pytest.approx(500 / 9)
    assert result.num_gt["nose"] == 3 and result.num_gt["chest"] == 4
    assert result.columns()["Head"] == pytest.approx((500 / 9 + 100) / 2)
    assert result.columns()["Mean"] == pytest.approx((13 * 100 + 500 / 9) / 14)
    # the box rule's head size is 45 px: 21 px is within 22.5
    assert evaluate_hieve_ap(videos, moved, head="box").ap["nose"] == 100.0


def test_crowd_index(videos):
    f0, f1 = videos[0].frames
    assert crowd_index(f0) == pytest.approx(CI0) and crowd_index(f1) == 0.0


def test_weighted_ap_known_answers(videos):
    # P-3 missed, the three others exact (OKS 1 at every threshold). AP: recall 1/4, 2/4, 3/4 at
    # precision 1, so 76 of COCO's 101 recall points (0 ... 0.75) have precision 1.
    preds = group_by_image(_predictions(videos, skip=(3,)))
    plain = weighted_oks_ap(videos, preds, "none")
    assert plain["AP50"] == pytest.approx(100 * 76 / 101)
    assert plain["AP"] == pytest.approx(100 * 76 / 101)
    # w_AP: frame 0 weighs w0 = 1 + CI0 (two people), frame 1 weighs 1: recall reaches
    # (2 w0 + 1) / (2 w0 + 2) = 0.7633, so 77 recall points (0 ... 0.76).
    w0 = 1 + CI0
    assert (2 * w0 + 1) / (2 * w0 + 2) == pytest.approx(0.76333, abs=1e-5)
    weighted = weighted_oks_ap(videos, preds)
    assert weighted["AP75"] == pytest.approx(100 * 77 / 101)
    assert weighted["AP"] == pytest.approx(100 * 77 / 101)
    # missing someone in the crowded frame costs more than missing someone alone
    crowded_miss = weighted_oks_ap(videos, group_by_image(_predictions(videos, skip=(1,))))
    assert crowded_miss["AP"] < weighted["AP"]
    assert weighted_oks_ap(videos, {}, "none")["AP"] == 0.0


def test_unweighted_ap_equals_pycocotools(videos, synth_root, tmp_path):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    posetrack_to_hieve(root, ("val",))
    for vids in (videos, load_dataset("hieve", root, "val")):
        rng = np.random.default_rng(0)
        preds = []
        for frame in (f for v in vids for f in v.frames):
            for person in frame.people:
                joints = person.joints[:, :2] + rng.normal(0, 4, (14, 2))
                score = float(rng.random())
                preds.append(PosePrediction(frame.image_id, joints, np.full(14, score), score))
        preds.append(dataclasses.replace(preds[0], score=0.5, joints=preds[0].joints + 30))
        by_image = group_by_image(preds)
        ours, coco = weighted_oks_ap(vids, by_image, "none"), coco_oks(vids, by_image)
        assert 0 < coco["AP"] < 1
        assert ours["AP"] == pytest.approx(100 * coco["AP"], abs=1e-9)
        assert ours["AP50"] == pytest.approx(100 * coco["AP50"], abs=1e-9)
        assert ours["AP75"] == pytest.approx(100 * coco["AP75"], abs=1e-9)


def test_evaluate_hieve_flat_metrics(videos):
    metrics, table = evaluate_hieve(videos, _predictions(videos))
    assert metrics["mAP"] == 100.0 and metrics["AP/Head"] == 100.0 and metrics["oks/AP"] == 1.0
    assert metrics["hieve/w_AP"] == pytest.approx(100.0)
    assert metrics["hieve/AP50"] == pytest.approx(100.0)
    assert table.num_frames == 2
    assert set(challenge_metrics(videos, {})) == {
        "w_AP50", "w_AP75", "w_AP", "AP50", "AP75", "AP",
    }  # fmt: skip


def test_metric_options_change_the_numbers(videos):
    """``HiEveMetric`` reaches both metrics: weighting=none makes w_AP the plain AP, head=box
    scores the nose 21 px off as a hit (known answers of the tests above), max_detections=1 keeps
    the best-scored person of each frame."""
    missed = _predictions(videos, skip=(3,))
    weighted, _ = evaluate_hieve(videos, missed)
    plain, _ = evaluate_hieve(videos, missed, HiEveMetric(weighting="none"))
    assert weighted["hieve/w_AP"] == pytest.approx(100 * 77 / 101)
    assert plain["hieve/w_AP"] == plain["hieve/AP"] == pytest.approx(100 * 76 / 101)
    moved = _predictions(videos, move=(1, 0, 21.0))
    assert evaluate_hieve(videos, moved)[1].ap["nose"] == pytest.approx(500 / 9)
    assert evaluate_hieve(videos, moved, HiEveMetric(head="box"))[1].ap["nose"] == 100.0
    # one prediction kept per frame: P-1 (0.9) and P-3 (0.7) of 4 people, recall 2/4 at precision 1
    one, _ = evaluate_hieve(videos, _predictions(videos), HiEveMetric(weighting="none", max_detections=1))
    assert one["hieve/AP"] == pytest.approx(100 * 51 / 101)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"weighting": "crowded"}, "hieve_metric.weighting='crowded': must be one of ['crowd_index', 'none']"),
        ({"head": "head_box"}, "hieve_metric.head='head_box': must be one of ['nose_chest', 'box']"),
        ({"sigma": 1}, "hieve_metric.sigma=1: not a setting; known: head, weighting, max_detections"),
        ({"head": 3}, "hieve_metric.head=3: must be a string"),
        ({"max_detections": 0}, "hieve_metric.max_detections=0: must be at least 1"),
        ({"max_detections": 2.5}, "hieve_metric.max_detections=2.5: must be an integer"),
    ],
)
def test_metric_options_errors_name_the_key(values, message):
    with pytest.raises(ConfigError) as err:
        HiEveMetric.from_dict(values)
    assert str(err.value) == message


def test_evaluate_config_passes_the_metric_options():
    """experiments/conf/evaluate's ``hieve_metric`` -> EvaluationSpec (what evaluate.py builds)."""
    with initialize_config_dir(str(REPO / "experiments" / "conf"), version_base="1.3"):
        default = compose("config", overrides=["data=hieve"])
        chosen = compose("config", overrides=["data=hieve", "hieve_metric.weighting=none", "hieve_metric.head=box"])
    spec = EvaluationSpec.from_dict(OmegaConf.to_container(default, resolve=True), REPO)
    assert spec.hieve == HiEveMetric() and spec.dataset == "hieve"
    spec = EvaluationSpec.from_dict(OmegaConf.to_container(chosen, resolve=True), REPO)
    assert spec.hieve == HiEveMetric(head="box", weighting="none")


def test_evaluate_command_refuses_a_bad_weighting_in_one_line(tmp_path):
    out = _entry("evaluate", tmp_path, TINY, "hieve_metric.weighting=crowded")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "error: hieve_metric.weighting='crowded': must be one of ['crowd_index', 'none']"
    )


def test_result_files_of_14_joints_read_back(videos, tmp_path):
    """PoseTrack result files of HiEve predictions (what validation writes) read back as written;
    a person with another joint count is refused, naming the file and the field."""
    preds = _predictions(videos, skip=(3,))
    write_posetrack_results(preds, videos, tmp_path / "pred")
    back = read_posetrack_results(tmp_path / "pred", videos)
    flat = [p for frame in videos[0].frames for p in back.get(frame.image_id, [])]
    assert [p.score for p in flat] == [p.score for p in preds]
    for ours, theirs in zip(flat, preds, strict=True):
        np.testing.assert_allclose(ours.joints, theirs.joints)
    (path,) = (tmp_path / "pred").iterdir()
    data = json.loads(path.read_text())
    data["annotations"][1]["keypoints"] += [0, 0, 0] * 3  # 17 triplets among 14-joint people
    path.write_text(json.dumps(data))
    with pytest.raises(PoseTrackFormatError, match=r"annotations\[1\]\.keypoints.*expected 42 numbers"):
        read_posetrack_results(path, videos)


def test_submission_one_file_per_sequence(videos, tmp_path):
    preds = _predictions(videos, skip=(3,))
    (path,) = write_submission(preds, videos, tmp_path)
    assert path.name == "seq1.json"
    annolist = json.loads(path.read_text())["annolist"]
    assert [a["image"][0]["name"] for a in annolist] == ["000000.jpg", "000001.jpg"]
    assert [len(a["annorect"]) for a in annolist] == [2, 1]
    rect = annolist[0]["annorect"][0]
    assert rect["track_id"] == [1] and rect["score"] == [0.9]
    assert (rect["x1"], rect["y1"], rect["x2"], rect["y2"]) == ([120.0], [120.0], [180.0], [390.0])
    points = rect["annopoints"][0]["point"]
    assert [p["id"][0] for p in points] == [j for j in range(14) if j != 13]  # no left ankle
    assert points[0] == {"id": [0], "x": [150.0], "y": [120.0], "score": [0.9]}
    stray = dataclasses.replace(preds[0], image_id=1)
    with pytest.raises(ValueError, match="in none of the videos"):
        write_submission([stray], videos, tmp_path)


def test_keypoint_names_follow_the_joint_set():
    assert len(KEYPOINT_NAMES) == HIEVE.num_joints == 14
    for name, ours in zip(KEYPOINT_NAMES, HIEVE.names, strict=True):
        assert name.lower().replace("-", "_") == ours
    for left, right in HIEVE.flip_pairs:
        assert HIEVE.names[left].replace("left", "right") == HIEVE.names[right]


def test_synth_command_writes_hieves_layout(tmp_path):
    from tdmi.data.synth import main as synth_main

    args = "--videos 1 --val-videos 1 --frames 3 --width 96 --height 64 --workers 1 --format hieve"
    synth_main(["--out", str(tmp_path), *args.split()])
    files = sorted((tmp_path / "annotations" / "val").rglob("*"))
    assert [f.name for f in files if f.is_file()] == ["000000.xml", "000001.xml", "000002.xml"]
    (video,) = load_dataset("hieve", tmp_path, "val")
    assert len(video.frames) == 3 and video.frames[0].path.is_file()
    assert all(p.joints.shape == (14, 3) for f in video.frames for p in f.people)


def test_dataset_summary_reads_hieve(synth_root, tmp_path):
    from tdmi.data.summary import dataset_summary

    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    posetrack_to_hieve(root, ("val",))
    ours = dataset_summary(root, ("val",), loader="hieve")
    theirs = dataset_summary(synth_root, ("val",))
    for key in ("videos", "frames", "people", "tracks"):
        assert ours["val"][key] == theirs["val"][key] > 0
    # the fingerprint covers HiEve's .xml files: editing one changes it
    some = next((root / "annotations" / "val").rglob("*.xml"))
    some.write_text(some.read_text().replace('"P-', '"P-1'))
    assert dataset_summary(root, (), loader="hieve")["fingerprint"] != ours["fingerprint"]


COMMON = ("data=hieve", "train.num_workers=0")
TINY_RUN = (
    "model.tiny_width=8",
    "model.head_dilations=[1,3]",
    "train.epochs=1",
    "train.steps_per_epoch=2",
    "train.batch_size=4",
    "train.progress=false",
    "train.clip.input_size=[48,64]",
)


def _entry(script: str, tmp: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    paths = {"metrics_dir": "metrics", "plots_dir": "plots", "train_dir": "ckpt", "eval_dir": "eval"}
    cmd = [sys.executable, f"experiments/{script}.py", *COMMON, f"data.root={root}"]
    cmd += [f"{key}={tmp / folder}" for key, folder in paths.items()]
    cmd += [f"report_dir={tmp / 'reports'}", f"hydra.run.dir={tmp / 'hydra' / script}"]
    cmd += [f"mlflow.tracking_uri=sqlite:///{tmp / 'mlruns.db'}", *extra]  # real MLflow: names it refuses fail
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_pipeline_prepares_trains_evaluates_and_reports_hieve_format(tmp_path):
    """prepare -> train -> evaluate -> report on a tiny synthetic set in HiEve's layout."""
    from tdmi.data.synth import main as synth_main

    root = tmp_path / "HiEve"
    args = "--videos 2 --val-videos 1 --frames 6 --width 128 --height 96 --workers 1 --format hieve"
    synth_main(["--out", str(root), *args.split()])
    out = _entry("prepare", tmp_path, root)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "metrics" / "data.json").read_text())
    assert data["dataset"] == "hieve" and data["val"]["videos"] == 1 and data["val"]["people"] > 0

    out = _entry("train", tmp_path, root, *TINY_RUN)
    assert out.returncode == 0, out.stderr
    trained = json.loads((tmp_path / "metrics" / "train.json").read_text())
    assert trained["best_epoch"] == 1 and 0 <= trained["best_mAP"] <= 100

    logged = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}").get_run(trained["run_id"]).data.metrics
    assert logged["val/hieve/w_AP"] == pytest.approx(trained["best"]["val/hieve/w_AP"])

    ckpt = f"ckpt={tmp_path / 'ckpt' / 'best.pt'}"
    out = _entry("evaluate", tmp_path, root, ckpt, "hieve_metric.weighting=none")
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert list(metrics["AP"]) == [*HIEVE.groups, "Mean"]
    assert metrics["mAP"] == pytest.approx(trained["best_mAP"])
    assert set(metrics["hieve"]) == set(challenge_metrics([], {}))
    for key in ("AP", "AP50", "AP75"):  # hieve_metric reached the metric: nothing weighted
        assert metrics["hieve"][f"w_{key}"] == metrics["hieve"][key]
    (video,) = load_dataset("hieve", root, "val")
    (result,) = (tmp_path / "eval" / "predictions").iterdir()
    assert json.loads(result.read_text())["categories"][0]["keypoints"] == list(HIEVE.names)
    submission = json.loads((tmp_path / "eval" / "submission" / f"{video.name}.json").read_text())
    assert len(submission["annolist"]) == len(video.frames)

    out = _entry("report", tmp_path, root)
    assert out.returncode == 0, out.stderr
    report = (tmp_path / "reports" / "per_joint.md").read_text()
    assert "on hieve" in report and f"{metrics['AP']['Mean']:.1f}" in report
