"""PoseTrack AP with known answers: hand-computed small cases, poseval's quirks, the real sample.

Hand cases use one ground-truth person whose head box is 30 x 40 (diagonal 50), so the PCKh@0.5
radius is 0.5 * 0.6 * 50 = 15 px. Each joint's AP is then worked out on paper from poseval's rules
(see tdmi/eval/posetrack.py): sort by score, precision/recall, area under the precision envelope.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE

from tdmi.data.joints import JOINT_NAMES
from tdmi.data.posetrack import Frame, Person, PoseTrackFormatError, Video, load_posetrack, load_posetrack_table
from tdmi.eval.posetrack import evaluate_posetrack, inside_ignore_regions, main
from tdmi.eval.results import (
    COLUMNS,
    PosePrediction,
    PredictionTable,
    ground_truth_as_predictions,
    group_by_image,
    read_posetrack_results,
    read_prediction_table,
    write_posetrack_results,
)

LEFT_WRIST, LEFT_ANKLE = JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("left_ankle")


def _pose(offset: float = 0.0) -> np.ndarray:
    """17 joints (x, y, v) spread 20 px apart, ears not annotated, as PoseTrack18 stores them."""
    joints = np.zeros((17, 3))
    joints[:, 0] = 100 + offset + 20 * np.arange(17)
    joints[:, 1] = 200 + 10 * (np.arange(17) % 3)
    joints[:, 2] = 1
    joints[3:5] = 0
    return joints


def _video(*people: np.ndarray, regions: list[np.ndarray] | None = None, extra_frame: bool = False) -> list[Video]:
    persons = [Person(p, np.array([0, 0, 500, 500.0]), np.array([0, 0, 30, 40.0]), k, k) for k, p in enumerate(people)]
    frames = [
        Frame(
            1,
            "v",
            0,
            Path("0.jpg"),
            1920,
            1080,
            2,
            True,
            regions or [],
            persons,
            "images/val/v/0.jpg",
        )
    ]
    if extra_frame:  # a frame without annotated people
        frames.append(Frame(2, "v", 1, Path("1.jpg"), 1920, 1080, 2, False, [], [], "images/val/v/1.jpg"))
    return [Video("v", frames)]


def _pred(joints: np.ndarray, score: float, image_id: int = 1) -> PosePrediction:
    xy = joints[:, :2].copy()
    xy[~np.any(joints != 0, axis=1)] = np.nan
    return PosePrediction(image_id, xy, np.full(17, score), score)


def _ap(videos, *preds) -> dict[str, float]:
    return evaluate_posetrack(videos, group_by_image(preds)).columns()


def test_ground_truth_as_predictions_scores_100():
    videos = _video(_pose(), _pose(400))
    assert _ap(videos, *ground_truth_as_predictions(videos)) == dict.fromkeys(COLUMNS, 100.0)


def test_one_missing_joint():
    pred = _pose()
    pred[LEFT_WRIST] = 0  # not predicted: poseval gives a joint without predictions AP 0
    ap = _ap(_video(_pose()), _pred(pred, 1.0))
    assert ap["Wrist"] == 50.0  # (left 0 + right 100) / 2
    assert ap["Mean"] == pytest.approx(14 * 100 / 15)  # over poseval's 15 joints, not the 7 columns
    assert all(ap[c] == 100.0 for c in ("Head", "Shoulder", "Elbow", "Hip", "Knee", "Ankle"))


@pytest.mark.parametrize(("moved", "wrist"), [(14.9, 100.0), (15.1, 50.0)])
def test_one_wrong_joint_at_the_pckh_radius(moved, wrist):
    pred = _pose()
    pred[LEFT_WRIST, 0] += moved  # radius 15 px: inside is a true positive, outside a false one
    ap = _ap(_video(_pose()), _pred(pred, 1.0))
    assert ap["Wrist"] == wrist
    assert ap["Mean"] == pytest.approx((14 * 100 + (wrist * 2 - 100)) / 15)


@pytest.mark.parametrize(("fp_score", "expected"), [(0.9, 50.0), (0.1, 100.0)])
def test_false_positive_with_a_higher_score(fp_score, expected):
    # Ranked (FP, TP): precision (0, 1/2), recall (0, 1); envelope 1/2 over recall 0..1 -> AP 50.
    # Ranked (TP, FP): precision (1, 1/2), recall (1, 1) -> AP 100.
    ap = _ap(_video(_pose()), _pred(_pose(), 0.5), _pred(_pose(900), fp_score))
    assert ap == dict.fromkeys(COLUMNS, expected)


def test_prediction_in_an_ignore_region_is_removed():
    region = np.array([[950.0, 150], [1500, 150], [1500, 300], [950, 300]])  # holds the whole FP
    gt, tp, fp = _pose(), _pred(_pose(), 0.5), _pred(_pose(900), 0.9)
    assert _ap(_video(gt, regions=[region]), tp, fp) == dict.fromkeys(COLUMNS, 100.0)
    assert _ap(_video(gt), tp, fp) == dict.fromkeys(COLUMNS, 50.0)  # same FP, no region


def test_inside_ignore_regions_is_strictly_inside_a_polygon():
    """shapely's ``contains``: the border and corners stay; a point in the bounding box of an L
    but outside the L stays; a triangle and the L (rings of two lengths) in one frame."""
    ell = np.array([[0.0, 0], [20, 0], [20, 10], [10, 10], [10, 20], [0, 20]])
    triangle = np.array([[30.0, 0], [40, 0], [30, 10]])
    points = np.array([[5, 5], [5, 15], [15, 5], [15, 15], [0, 5], [10, 15], [20, 0], [31, 1], [39, 9], [-1, 5.0]])
    expected = [True, True, True, False, False, False, False, True, False, False]
    np.testing.assert_array_equal(inside_ignore_regions(points, [ell, triangle]), expected)
    np.testing.assert_array_equal(inside_ignore_regions(points.reshape(2, 5, 2), [ell, triangle]).ravel(), expected)
    assert not inside_ignore_regions(points, []).any()


def test_joint_whose_ground_truth_is_ignored_but_predicted_is_nan_and_left_out_of_the_mean():
    gt = _pose()
    x, y = gt[LEFT_ANKLE, :2]
    region = np.array([[x - 5, y - 5], [x + 5, y - 5], [x + 5, y + 5], [x - 5, y + 5]])
    pred = _pose()
    pred[LEFT_ANKLE, 0] += 8  # predicted just outside the region: recall 0/0 in poseval -> NaN
    result = evaluate_posetrack(_video(gt, regions=[region]), group_by_image([_pred(pred, 1.0)]))
    assert result.num_gt["left_ankle"] == 0 and math.isnan(result.ap["left_ankle"])
    columns = result.columns()
    assert math.isnan(columns["Ankle"]) and columns["Mean"] == 100.0


def test_poses_are_assigned_by_pckh_not_by_score():
    # X matches all 15 joints (score 0.1); Y matches 14 (score 0.9). poseval gives the person to the
    # higher PCKh, X, so Y is a false positive on every joint: ranked (FP, TP) -> AP 50 everywhere.
    # A greedy-by-score matcher would give Y the person and score 100 on 14 joints.
    y = _pose()
    y[LEFT_WRIST, 0] += 40
    assert _ap(_video(_pose()), _pred(_pose(), 0.1), _pred(y, 0.9)) == dict.fromkeys(COLUMNS, 50.0)


def test_frames_without_annotated_people_are_not_evaluated():
    videos = _video(_pose(), extra_frame=True)
    result = evaluate_posetrack(videos, group_by_image([_pred(_pose(), 0.5), _pred(_pose(), 0.9, image_id=2)]))
    assert result.num_frames == 1 and result.columns() == dict.fromkeys(COLUMNS, 100.0)


def test_result_file_round_trip_keeps_missing_joints_and_scores(tmp_path):
    videos = _video(_pose(), extra_frame=True)
    joints = _pose()
    joints[LEFT_WRIST] = 0
    pred = dataclasses.replace(_pred(joints, 0.7), joint_scores=np.linspace(0, 1, 17), track_id=None)
    (file,) = write_posetrack_results([pred], videos, tmp_path)
    assert file.name == "v.json"
    doc = json.loads(file.read_text())
    assert [im["id"] for im in doc["images"]] == [1, 2]  # every frame, as poseval pairs frames
    assert doc["annotations"][0]["keypoints"][3 * LEFT_WRIST : 3 * LEFT_WRIST + 3] == [0, 0, 0]
    (back,) = read_posetrack_results(tmp_path, videos)[1]
    np.testing.assert_array_equal(back.joints, pred.joints)  # NaN where not predicted
    np.testing.assert_array_equal(back.joint_scores, np.where(np.isnan(pred.joints[:, 0]), 0, pred.joint_scores))
    assert back.score == 0.7 and back.track_id == 0


@pytest.mark.parametrize("gt", ["annotations/val", "annotations/test_posetrack18_val.json"])
def test_sample_ground_truth_as_predictions_gives_100_through_the_command(gt, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert (
        main(
            [
                "--gt",
                str(SAMPLE / gt),
                "--pred",
                str(SAMPLE / "annotations/val"),
                "--json",
                str(out),
                "--csv",
                str(tmp_path / "m.csv"),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["AP"] == dict.fromkeys(COLUMNS, 100.0)
    assert "Shoulder" in capsys.readouterr().out
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "name," + ",".join(COLUMNS)


def test_sample_with_jittered_joints_gives_a_lower_stable_number(tmp_path):
    videos = load_posetrack(SAMPLE / "annotations/val")
    rng = np.random.default_rng(0)
    preds = [
        dataclasses.replace(p, joints=p.joints + rng.normal(0, 15, (17, 2)), joint_scores=rng.uniform(0.3, 1.0, 17))
        for p in ground_truth_as_predictions(videos)
    ]
    write_posetrack_results(preds, videos, tmp_path)
    columns = evaluate_posetrack(videos, read_posetrack_results(tmp_path, videos)).columns()
    # The same files scored by poseval's own code (eval_helpers/evaluateAP) give these numbers.
    expected = [58.7356, 64.9376, 34.5971, 54.2700, 43.4508, 44.6786, 64.0000, 52.5383]
    assert list(columns.values()) == pytest.approx(expected, abs=1e-4)


def test_the_commands_tables_score_the_sample_exactly_as_the_records(tmp_path):
    """load_posetrack_table + read_prediction_table (the command's path, no record per person)
    against load_posetrack + read_posetrack_results: the same people, the same bits."""
    videos = load_posetrack(SAMPLE / "annotations/val")
    rng = np.random.default_rng(1)
    preds = [
        dataclasses.replace(p, joints=p.joints + rng.normal(0, 12, (17, 2)), joint_scores=rng.uniform(0, 1, 17))
        for p in ground_truth_as_predictions(videos)
    ]
    write_posetrack_results(preds[::-1], videos, tmp_path)  # people listed in reverse: order matters on ties
    bare, people = load_posetrack_table(SAMPLE / "annotations/val")
    assert not any(f.people for v in bare for f in v.frames)
    records = [(f.image_id, p.ann_id, p.joints, p.head_box) for v in videos for f in v.frames for p in f.people]
    rows = zip([f.image_id for f in people.frames], people.ann_ids, people.joints, people.head_boxes, strict=True)
    by_frame = sorted(rows, key=lambda row: row[0])  # stable: reading order within a frame, as the records
    assert len(by_frame) == len(records) == 14
    for record, row in zip(records, by_frame, strict=True):
        assert record[:2] == row[:2]
        np.testing.assert_array_equal(record[2], row[2])
        np.testing.assert_array_equal(record[3] if record[3] is not None else np.full(4, np.nan), row[3])
    ours = evaluate_posetrack(bare, read_prediction_table(tmp_path, bare), people)
    expected = evaluate_posetrack(videos, read_posetrack_results(tmp_path, videos))
    assert json.dumps(ours.to_dict()) == json.dumps(expected.to_dict())
    assert 20 < ours.columns()["Mean"] < 95


def test_a_missing_head_box_is_named_through_the_tables(tmp_path):
    doc = json.loads((SAMPLE / "annotations/val/009473_mpii_test.json").read_text())
    ann = next(a for a in doc["annotations"] if any(a["keypoints"][2::3]))
    del ann["bbox_head"]
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "009473_mpii_test.json").write_text(json.dumps(doc))
    videos, people = load_posetrack_table(tmp_path / "gt")
    with pytest.raises(
        PoseTrackFormatError, match=rf"009473_mpii_test\.json: annotation {ann['id']}\.bbox_head: missing"
    ):
        evaluate_posetrack(videos, {}, people)


def test_frames_missing_from_the_predictions_count_as_none_with_a_warning_naming_them(tmp_path, caplog):
    (tmp_path / "pred").mkdir()
    only = SAMPLE / "annotations/val/009473_mpii_test.json"
    (tmp_path / "pred" / only.name).write_text(only.read_text())
    videos = load_posetrack(SAMPLE / "annotations/val")
    with caplog.at_level("WARNING"):
        result = evaluate_posetrack(videos, read_posetrack_results(tmp_path / "pred", videos))
    assert 0 < result.columns()["Mean"] < 100 and result.precision["nose"] == 100.0
    (warning,) = caplog.messages
    assert "2 ground-truth video(s) in no prediction file" in warning
    assert "003418_mpii_test.json, 012834_mpii_test.json" in warning
    caplog.clear()
    read_posetrack_results(SAMPLE / "annotations/val", videos)  # every video has its file
    assert not caplog.messages
    command = [sys.executable, "-m", "tdmi.eval.posetrack", "--gt", str(SAMPLE / "annotations/val")]
    out = subprocess.run([*command, "--pred", str(tmp_path / "pred")], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr.startswith("warning: 2 ground-truth video(s)")


def test_ground_truth_people_without_bbox_are_evaluated(tmp_path):
    """AP never reads the person box and poseval accepts files without it."""
    for file in (SAMPLE / "annotations/val").glob("*.json"):
        doc = json.loads(file.read_text())
        for ann in doc["annotations"]:
            del ann["bbox"]
        (tmp_path / file.name).write_text(json.dumps(doc))
    videos = load_posetrack(tmp_path)
    preds = read_posetrack_results(SAMPLE / "annotations/val", videos)
    assert evaluate_posetrack(videos, preds).columns() == dict.fromkeys(COLUMNS, 100.0)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (
            lambda d: d["annotations"][0].update(image_id="abc"),
            "annotations[0].image_id: expected an integer, got 'abc'",
        ),
        (
            lambda d: d["annotations"][0].update(image_id=str(d["annotations"][0]["image_id"])),
            "annotations[0].image_id: expected an integer",
        ),
        (lambda d: d["images"][0].update(id=None), "images[0].id: expected an integer, got None"),
        (lambda d: d["annotations"][0].update(track_id="x"), "annotations[0].track_id: expected an integer"),
        (lambda d: d["annotations"][0].update(scores=5), "annotations[0].scores: expected (17,) finite number(s)"),
    ],
)
def test_bad_prediction_file_is_one_line_naming_file_and_field(tmp_path, capsys, mutate, where):
    """poseval silently drops a prediction whose image_id is a string; here it is an error."""
    gt = SAMPLE / "annotations/val/009473_mpii_test.json"
    doc = json.loads(gt.read_text())
    mutate(doc)
    (tmp_path / gt.name).write_text(json.dumps(doc))
    assert main(["--gt", str(gt), "--pred", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / gt.name}: {where}" + err.split(where, 1)[1]
    assert err.count("\n") == 1


def test_utf16_files_are_one_line_errors_in_the_command(tmp_path, capsys):
    gt = SAMPLE / "annotations/val/009473_mpii_test.json"
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / gt.name).write_bytes(gt.read_text().encode("utf-16"))
    assert main(["--gt", str(gt), "--pred", str(tmp_path / "pred")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'pred' / gt.name}: encoding: UTF-16 or UTF-32, not UTF-8: save it as UTF-8\n"
    )
    assert main(["--gt", str(tmp_path / "pred" / gt.name), "--pred", str(gt)]) == 2
    assert "encoding: UTF-16" in capsys.readouterr().err


def test_a_prediction_frame_not_in_the_ground_truth_is_an_error_naming_it(tmp_path, capsys):
    gt = SAMPLE / "annotations/val/009473_mpii_test.json"
    doc = json.loads(gt.read_text())
    doc["images"][0]["id"] = 123
    doc["annotations"] = []
    (tmp_path / gt.name).write_text(json.dumps(doc))
    assert main(["--gt", str(gt), "--pred", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert gt.name in err and "images[0].id" in err and "frame 123" in err


def test_bad_prediction_fields_are_named(tmp_path):
    videos = _video(_pose())
    doc = {
        "images": [{"id": 1}],
        "annotations": [{"image_id": 1, "keypoints": [0] * 51, "scores": [1, 2]}],
    }
    (tmp_path / "p.json").write_text(json.dumps(doc))
    with pytest.raises(PoseTrackFormatError, match=r"p\.json: annotations\[0\]\.scores"):
        read_posetrack_results(tmp_path, videos)


def _poseval_ap(videos, by_image) -> dict[str, float]:
    """poseval's assignGTmulti + computeRPC + VOCap transcribed loop by loop, frame by frame (no
    ignore regions), as the independent reference for the vectorised evaluation."""
    joints = [j for j in range(17) if j not in (3, 4)]
    scores, labels, n_gt = [[] for _ in joints], [[] for _ in joints], np.zeros(len(joints))
    for frame in (f for v in videos for f in v.frames if f.people):
        gts, prs = frame.people, by_image.get(frame.image_id, [])
        has_gt = np.array([[np.any(p.joints[j] != 0) for j in joints] for p in gts])
        has_pr = np.array([[np.isfinite(p.joints[j, 0]) for j in joints] for p in prs]).reshape(-1, 15)
        dist = np.full((len(prs), len(gts), 15), np.inf)
        for g, person in enumerate(gts):
            x1, y1, w, h = person.head_box
            head = 0.6 * np.linalg.norm(np.subtract([x1 + w, y1 + h], [x1, y1]))
            for p, pred in enumerate(prs):
                for k, j in enumerate(joints):
                    if has_pr[p, k] and has_gt[g, k]:
                        dist[p, g, k] = np.linalg.norm(person.joints[j, :2] - pred.joints[j]) / head
        match = dist <= 0.5
        pck = 1.0 * np.sum(match, axis=2)
        for g in range(len(gts)):
            if has_gt[g].sum() > 0:
                pck[:, g] = pck[:, g] / has_gt[g].sum()
        pr_to_gt = np.full(len(gts), -1)
        if len(prs):
            idx = np.argmax(pck, axis=1)
            for p in range(len(prs)):
                pck[p, np.arange(len(gts)) != idx[p]] = 0
            pr_to_gt = np.argmax(pck, axis=0)
            pr_to_gt[np.max(pck, axis=0) == 0] = -1
        for p, pred in enumerate(prs):
            g = np.flatnonzero(pr_to_gt == p)
            for k, j in enumerate(joints):
                if has_pr[p, k]:
                    scores[k].append(pred.joint_scores[j])
                    labels[k].append(bool(match[p, g[0], k]) if g.size else False)
        n_gt += has_gt.sum(axis=0)
    ap = {}
    for k, j in enumerate(joints):
        if not scores[k]:
            ap[JOINT_NAMES[j]] = 0.0
            continue
        order = np.array(scores[k]).argsort()[::-1]
        tp = np.cumsum(np.array(labels[k])[order])
        with np.errstate(divide="ignore", invalid="ignore"):
            rec, pre = tp / n_gt[k], tp / np.arange(1, len(tp) + 1)
        mpre, mrec = np.r_[0, pre, 0], np.r_[0, rec, 1]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
        ap[JOINT_NAMES[j]] = float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]) * 100)
    return ap


def _random_frames(rng: np.random.Generator) -> tuple[list[Video], list[PosePrediction]]:
    """300 random frames: 0-5 predictions and 1-4 people each, coarse coordinates for ties in
    pck, missing joints on both sides, scores tied within and across frames."""
    frames, preds = [], []
    for f in range(300):
        people = []
        for k in range(rng.integers(1, 5)):
            joints = np.column_stack([rng.integers(0, 8, (17, 2)) * 10.0, np.ones(17)])
            joints[rng.random(17) < 0.2] = 0
            people.append(Person(joints, np.array([0, 0, 90, 90.0]), np.array([0, 0, 30, 40.0]), k, k))
        frames.append(Frame(f + 1, "v", f, Path(f"{f}.jpg"), 100, 100, 300, True, [], people, f"{f}.jpg"))
        for _ in range(rng.integers(0, 6)):  # near one of the people, or anywhere
            if rng.random() < 0.7:
                xy = people[rng.integers(len(people))].joints[:, :2] + rng.normal(0, 6, (17, 2)).round()
            else:
                xy = rng.integers(0, 8, (17, 2)) * 10.0
            xy[rng.random(17) < 0.1] = np.nan
            preds.append(PosePrediction(f + 1, xy, rng.integers(0, 50, 17) / 50, 1.0))
    return [Video("v", frames)], preds


def test_many_frames_at_once_equal_posevals_loop_frame_by_frame():
    """The vectorised assignment (all frames in one go) against poseval's loops on 300 random
    frames (:func:`_random_frames`)."""
    videos, preds = _random_frames(np.random.default_rng(3))
    by_image = group_by_image(preds)
    ours = evaluate_posetrack(videos, by_image).ap
    assert ours == pytest.approx(_poseval_ap(videos, by_image), abs=1e-12, nan_ok=True)
    assert 5 < np.nanmean(list(ours.values())) < 95  # a mix of hits and misses, not a degenerate case


def test_a_prediction_table_scores_exactly_as_the_records():
    """The command's path (a table, rows in file order, no record per person) gives the same
    bits as the records per image id: rows listed out of frame order, ties across frames, and
    predictions on a frame without people (dropped by both)."""
    videos, preds = _random_frames(np.random.default_rng(4))
    empty = Frame(999, "v", 300, Path("x.jpg"), 100, 100, 300, True, [], [], "x.jpg")
    videos[0].frames.append(empty)
    preds += [dataclasses.replace(preds[0], image_id=999), dataclasses.replace(preds[1], image_id=999)]
    shuffled = [preds[k] for k in np.random.default_rng(5).permutation(len(preds))]
    table = PredictionTable(
        [p.image_id for p in shuffled],
        np.array([p.joints for p in shuffled]),
        np.array([p.joint_scores for p in shuffled]),
        np.array([p.score for p in shuffled]),
        [p.track_id for p in shuffled],
    )
    ours, records = evaluate_posetrack(videos, table), evaluate_posetrack(videos, group_by_image(shuffled))
    assert ours.num_frames == 300
    assert json.dumps(ours.to_dict()) == json.dumps(records.to_dict())


def test_person_score_without_a_score_field_is_the_exact_mean_of_the_predicted_joints(tmp_path):
    """Rows are averaged in groups of equal joint counts: the bits of each row's own mean."""
    rng = np.random.default_rng(6)
    videos = _video(_pose())
    anns = []
    for k in range(40):
        keypoints = np.column_stack([rng.uniform(1, 500, (17, 2)), np.ones(17)])
        keypoints[rng.random(17) < k / 40] = 0  # 0 to all 17 joints missing
        anns.append({"image_id": 1, "keypoints": keypoints.ravel().tolist(), "scores": rng.random(17).tolist()})
    (tmp_path / "v.json").write_text(json.dumps({"images": [{"id": 1}], "annotations": anns}))
    back = read_posetrack_results(tmp_path, videos)[1]
    for ann, pred in zip(anns, back, strict=True):
        present = np.any(np.reshape(ann["keypoints"], (17, 3)) != 0, axis=1)
        expected = np.asarray(ann["scores"])[present].mean() if present.any() else -9999.0
        assert pred.score == expected  # exactly


def test_loader_reads_lists_and_other_sequences_alike():
    """The one-pass reading of JSON lists (float_rows) and numpy's reading of anything else give
    the same records; a bad value is still named."""
    from tdmi.data.posetrack import parse_posetrack

    doc = json.loads((SAMPLE / "annotations/val/009473_mpii_test.json").read_text())
    as_lists = parse_posetrack(doc, Path("a.json"), Path("."))
    for ann in doc["annotations"]:
        for key in ("keypoints", "bbox", "bbox_head"):
            if key in ann:
                ann[key] = tuple(ann[key])
    as_tuples = parse_posetrack(doc, Path("a.json"), Path("."))
    people = [(p.joints, p.bbox, p.head_box) for f in as_lists for p in f.people]
    assert len(people) > 0
    for ours, theirs in zip(people, [(p.joints, p.bbox, p.head_box) for f in as_tuples for p in f.people], strict=True):
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    doc["annotations"][0]["keypoints"] = [*doc["annotations"][0]["keypoints"][:-1], None]
    with pytest.raises(PoseTrackFormatError, match=r"a\.json: annotations\[0\]\.keypoints"):
        parse_posetrack(doc, Path("a.json"), Path("."))
