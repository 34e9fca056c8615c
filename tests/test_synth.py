"""The synthetic generator: PoseTrack18 layout, determinism, honest labels, difficulty knobs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from tdmi.data import synth
from tdmi.data.posetrack import (
    Frame,
    Person,
    PoseTrackFormatError,
    Video,
    iter_frames,
    load_posetrack,
)
from tdmi.data.summary import dataset_summary, recoverable_joints


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_is_read_by_the_posetrack_loader(synth_root: Path, tiny_synth: synth.SynthConfig) -> None:
    TINY_SYNTH = tiny_synth
    train = load_posetrack(synth_root / "annotations" / "train")
    val = load_posetrack(synth_root / "annotations" / "val")
    assert len(train) == TINY_SYNTH.videos and len(val) == TINY_SYNTH.val_videos
    assert not {v.name for v in train} & {v.name for v in val}
    for video in train + val:
        assert [f.frame_index for f in video.frames] == list(range(TINY_SYNTH.frames))
        assert all(f.path.is_file() and f.nframes == TINY_SYNTH.frames for f in video.frames)
    people = [p for f in iter_frames(train) for p in f.people]
    assert len(people) >= TINY_SYNTH.videos * TINY_SYNTH.frames * TINY_SYNTH.people[0] // 2
    assert all(p.head_box is not None and p.head_box[2] > 0 for p in people)
    summary = dataset_summary(synth_root)
    assert summary["train"]["labeled_frames"] == TINY_SYNTH.videos * TINY_SYNTH.frames


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    cfg = replace(tiny_synth, videos=2, val_videos=1, frames=4)
    synth.generate(cfg, tmp_path / "a", progress=False)
    synth.generate(replace(cfg, workers=2), tmp_path / "b", progress=False)
    synth.generate(replace(cfg, seed=8), tmp_path / "c", progress=False)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a if k != "synth_config.json")
    ann = [k for k in a if k.startswith("annotations")]
    assert all(a[k] != c[k] for k in ann)


def test_labels_are_honest(synth_root: Path) -> None:
    """v=0 ears and out-of-frame joints; every v=1 joint lies inside someone else's box or under
    a transient occluder."""
    occluded = 0
    flags = synth.read_degraded(synth_root / "annotations" / "train")
    for frame in iter_frames(load_posetrack(synth_root / "annotations" / "train")):
        for k, person in enumerate(frame.people):
            j = person.joints.copy()
            j[(flags[person.ann_id] & synth.OCCLUDER) != 0, 2] = 2  # hidden by no one's body
            assert np.all(j[[3, 4], 2] == 0), "PoseTrack never labels ears"
            lab = j[:, 2] > 0
            assert np.all((j[lab, 0] >= 0) & (j[lab, 0] < frame.width) & (j[lab, 1] >= 0) & (j[lab, 1] < frame.height))
            assert np.all(j[~lab, :2] == 0)
            for x, y in j[j[:, 2] == 1, :2]:
                occluded += 1
                others = [p.bbox for i, p in enumerate(frame.people) if i != k]
                assert any(bx <= x <= bx + bw and by <= y <= by + bh for bx, by, bw, bh in others)
    assert occluded > 0


def test_truncation_unlabels_joints_outside_the_frame(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    cfg = replace(tiny_synth, videos=3, val_videos=0, truncation=1.0, occlusion=0.0, distractor=0.0)
    synth.generate(cfg, tmp_path, progress=False)
    people = [p for f in iter_frames(load_posetrack(tmp_path / "annotations" / "train")) for p in f.people]
    missing = [int((p.joints[:, 2] == 0).sum()) - 2 for p in people]  # minus the two ears
    assert max(missing) > 0


def _mean_joint_speed(root: Path) -> float:
    speeds = []
    for video in load_posetrack(root / "annotations" / "train"):
        tracks: dict[int, list[np.ndarray]] = {}
        for frame in video.frames:
            for p in frame.people:
                tracks.setdefault(p.track_id, []).append(p.joints)
        for seq in tracks.values():
            for a, b in zip(seq, seq[1:], strict=False):
                both = (a[:, 2] > 0) & (b[:, 2] > 0)
                speeds.extend(np.linalg.norm(a[both, :2] - b[both, :2], axis=1))
    return float(np.mean(speeds))


def test_speed_knob_speeds_up_motion(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    base = replace(tiny_synth, videos=4, val_videos=0, occlusion=0.0, distractor=0.0, truncation=0.0, blur=0.0)
    synth.generate(replace(base, speed=0.0), tmp_path / "slow", progress=False)
    synth.generate(replace(base, speed=1.0), tmp_path / "fast", progress=False)
    assert _mean_joint_speed(tmp_path / "fast") > 1.5 * _mean_joint_speed(tmp_path / "slow")


@pytest.mark.parametrize("field", ["speed", "blur", "occlusion", "distractor", "truncation", "noise"])
def test_knobs_out_of_range_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"SynthConfig.{field}"):
        synth.SynthConfig(**{field: 1.5})


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth.main(
        [
            "--out",
            str(tmp_path),
            "--videos",
            "1",
            "--val-videos",
            "1",
            "--frames",
            "3",
            "--width",
            "96",
            "--height",
            "80",
            "--workers",
            "1",
        ]
    )
    assert "person-frames" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "synth_config.json").read_text())
    assert cfg["frames"] == 3 and len(list((tmp_path / "annotations" / "val").glob("*.json"))) == 1
    with pytest.raises(SystemExit):
        synth.main(["--out", str(tmp_path), "--blur", "3"])


def test_command_line_refuses_a_foreign_folder_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 9: a non-empty folder the generator did not make is one line on stderr, exit 2,
    with no traceback, and its files are left as they were."""
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        synth.main(["--out", str(tmp_path), "--videos", "1", "--workers", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path}: not empty and holds no {synth.MARKER}: not a synthetic set, left untouched\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"] and (tmp_path / "mine.txt").read_text() == "keep me"


# ----------------------------------------------------------------------------- issue 14: time matters


def _annotations(root: Path, split: str = "train") -> list[dict]:
    return [
        a
        for p in sorted((root / "annotations" / split).glob("*.json"))
        for a in json.loads(p.read_text())["annotations"]
    ]


def _bits(root: Path, mask: int) -> np.ndarray:
    """Per labelled joint: True where its degradation mask has a bit of ``mask``."""
    anns = _annotations(root)
    v = np.array([a["keypoints"][2::3] for a in anns])
    return (np.array([a["degraded"] for a in anns]) & mask)[v > 0] != 0


def _sharpness(root: Path) -> float:
    """Mean variance of the Laplacian over the frames: falls as blur smears edges."""
    return float(
        np.mean(
            [
                cv2.Laplacian(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), cv2.CV_64F).var()
                for p in sorted(root.rglob("*.jpg"))
            ]
        )
    )


# every knob off (blur too: one sub-frame per frame keeps these tests fast); each test turns its own on
QUIET = {"blur": 0.0, "occlusion": 0.0, "distractor": 0.0, "truncation": 0.0, "transient": 0.0, "noise": 0.0}


def test_blur_smears_fast_joints_and_flags_them(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    base = replace(tiny_synth, videos=2, val_videos=0, speed=1.0, **{**QUIET, "blur": 0.0})
    synth.generate(base, tmp_path / "sharp", progress=False)
    synth.generate(replace(base, blur=1.0), tmp_path / "blur", progress=False)
    assert _sharpness(tmp_path / "blur") < 0.8 * _sharpness(tmp_path / "sharp")
    assert not _bits(tmp_path / "sharp", synth.SMEAR).any()
    assert _bits(tmp_path / "blur", synth.SMEAR).mean() > 0.1
    # the labels are the same instant: the middle sub-frame of an odd count is the labelled time
    sharp, blur = _annotations(tmp_path / "sharp"), _annotations(tmp_path / "blur")
    assert [a["keypoints"] for a in sharp] == [a["keypoints"] for a in blur]


def test_transients_hit_single_frames_more_often_with_the_knob(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    base = replace(tiny_synth, videos=3, val_videos=0, frames=12, **QUIET)
    whole = synth.DEFOCUS | synth.CORRUPT
    fractions = []
    for knob in (0.0, 0.4, 1.0):
        root = tmp_path / str(knob)
        synth.generate(replace(base, transient=knob, transients=("defocus", "corrupt")), root, progress=False)
        fractions.append(_bits(root, whole).mean())
        flags = synth.read_degraded(root / "annotations" / "train")
        for video in load_posetrack(root / "annotations" / "train"):
            hit = sorted({f.frame_index for f in video.frames for p in f.people if np.any(flags[p.ann_id] & whole)})
            assert all(b - a > 1 for a, b in zip(hit, hit[1:], strict=False)), "a hit frame's neighbours are clean"
    assert fractions[0] == 0 < fractions[1] < fractions[2]


def test_transient_occluder_hides_joints_honestly(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    cfg = replace(tiny_synth, videos=3, val_videos=0, **{**QUIET, "transient": 1.0}, transients=("occluder",))
    synth.generate(cfg, tmp_path, progress=False)
    anns = _annotations(tmp_path)
    v = np.array([a["keypoints"][2::3] for a in anns])
    bits = np.array([a["degraded"] for a in anns])
    under = (bits & synth.OCCLUDER) != 0
    assert under.any() and np.all(v[under] == 1), "a joint under the occluder is labelled occluded"
    assert np.all(bits[v == 0] == 0), "unlabelled joints carry no degradation"


def test_clean_twin_has_the_same_poses_without_degradations(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    cfg = replace(tiny_synth, videos=1, val_videos=1, frames=6, blur=0.8, transient=0.5)
    twin = synth.clean_twin(cfg)
    assert (twin.blur, twin.transient, twin.seed) == (0.0, 0.0, cfg.seed)
    synth.generate(cfg, tmp_path / "set", progress=False)
    synth.generate(twin, tmp_path / "twin", progress=False, splits=("val",))
    assert not (tmp_path / "twin" / "annotations" / "train").exists()
    a, b = _annotations(tmp_path / "set", "val"), _annotations(tmp_path / "twin", "val")
    assert [x["id"] for x in a] == [x["id"] for x in b]
    assert [x["keypoints"][0::3] + x["keypoints"][1::3] for x in a] == [
        x["keypoints"][0::3] + x["keypoints"][1::3] for x in b
    ]
    assert any(max(x["degraded"]) for x in a)
    assert all(
        d & (synth.SMEAR | synth.OCCLUDER | synth.DEFOCUS | synth.CORRUPT) == 0 for x in b for d in x["degraded"]
    )


def _tracks(root: Path) -> list[dict[int, dict[int, np.ndarray]]]:
    """Per video: track id -> frame index -> the mean of its labelled joints."""
    out = []
    for video in load_posetrack(root / "annotations" / "train"):
        tracks: dict[int, dict[int, np.ndarray]] = {}
        for frame in video.frames:
            for p in frame.people:
                if np.any(p.joints[:, 2] > 0):
                    tracks.setdefault(p.track_id, {})[frame.frame_index] = p.joints[p.joints[:, 2] > 0, :2].mean(0)
        out.append(tracks)
    return out


def test_distractor_moves_on_its_own(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    cfg = replace(tiny_synth, videos=4, val_videos=0, frames=12, people=(2, 2), **{**QUIET, "distractor": 1.0})
    synth.generate(cfg, tmp_path, progress=False)
    for tracks in _tracks(tmp_path):
        d = tracks[max(tracks)]  # the distractor is the last track
        mid = min(d, key=lambda f: abs(f - cfg.frames // 2))
        target = min(
            (t for k, t in tracks.items() if k != max(tracks) and mid in t),
            key=lambda t: np.linalg.norm(t[mid] - d[mid]),
        )
        common = sorted(set(d) & set(target))
        vd = (d[common[-1]] - d[common[0]]) / (common[-1] - common[0])
        vt = (target[common[-1]] - target[common[0]]) / (common[-1] - common[0])
        assert abs(vd[0] - vt[0]) > 0.5, "the distractor does not copy its target's velocity"
        assert np.linalg.norm(d[mid] - target[mid]) < 0.5 * cfg.height, "and it passes close to the target"


def _overlap(root: Path) -> tuple[float, float]:
    """People per frame and the mean pairwise box IoU per frame."""
    people, ious = [], []
    for frame in iter_frames(load_posetrack(root / "annotations" / "train")):
        boxes = [p.bbox for p in frame.people]
        people.append(len(boxes))
        for i, (ax, ay, aw, ah) in enumerate(boxes):
            for bx, by, bw, bh in boxes[i + 1 :]:
                inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
                ious.append(inter / (aw * ah + bw * bh - inter))
    return float(np.mean(people)), float(np.mean(ious))


def test_crowd_knob_gives_more_people_and_more_overlap(tmp_path: Path, tiny_synth: synth.SynthConfig) -> None:
    base = replace(tiny_synth, videos=3, val_videos=0, frames=4, **QUIET)
    synth.generate(replace(base, crowd=0.0), tmp_path / "sparse", progress=False)
    synth.generate(replace(base, crowd=1.0), tmp_path / "crowd", progress=False)
    (n0, iou0), (n1, iou1) = _overlap(tmp_path / "sparse"), _overlap(tmp_path / "crowd")
    assert n1 >= n0 + 4 and iou1 > iou0


def test_bad_degraded_field_names_file_and_field(tmp_path: Path, synth_root: Path) -> None:
    src = sorted((synth_root / "annotations" / "val").glob("*.json"))[0]
    doc = json.loads(src.read_text())
    doc["annotations"][1]["degraded"] = [0] * 16
    bad = tmp_path / src.name
    bad.write_text(json.dumps(doc))
    with pytest.raises(PoseTrackFormatError, match=rf"{src.name}: annotations\[1\]\.degraded: expected 17"):
        synth.read_degraded(tmp_path)
    with pytest.raises(ValueError, match="SynthConfig.transients"):
        synth.SynthConfig(transients=("fog",))


def test_summary_reports_recoverable_joints() -> None:
    """Known answer: one track over 5 frames; joint 0 degraded only in frame 2 (recoverable from
    frames 0-1, 3-4), joint 5 degraded everywhere (not), joint 7 degraded in frame 4 only."""
    frames = []
    for f in range(5):
        joints = np.zeros((17, 3))
        joints[[0, 5, 7], 2] = 2
        person = Person(joints, np.array([0, 0, 10, 10.0]), None, track_id=1, ann_id=f)
        frames.append(Frame(f, "v", f, Path(f"{f}.jpg"), 10, 10, 5, True, people=[person]))
    bits = {f: np.zeros(17, np.int64) for f in range(5)}
    for f in range(5):
        bits[f][5] = synth.OCCLUDED
    bits[2][0] = synth.DEFOCUS
    bits[4][7] = synth.CORRUPT
    got = recoverable_joints([Video("v", frames)], bits)
    assert got == {"degraded_joint_fraction": round(7 / 15, 4), "recoverable_joint_fraction": round(2 / 15, 4)}
    assert recoverable_joints([Video("v", frames)], bits, window=0)["recoverable_joint_fraction"] == 0


def test_data_summary_of_the_tiny_set(synth_root: Path) -> None:
    val = dataset_summary(synth_root)["val"]
    assert 0 < val["recoverable_joint_fraction"] <= val["degraded_joint_fraction"] <= 1
