"""The synthetic generator: PoseTrack18 layout, determinism, honest labels, difficulty knobs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tdmi.data import synth
from tdmi.data.posetrack import iter_frames, load_posetrack
from tdmi.data.summary import dataset_summary


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
    """v=0 ears and out-of-frame joints; every v=1 joint lies inside someone else's box."""
    occluded = 0
    for frame in iter_frames(load_posetrack(synth_root / "annotations" / "train")):
        for k, person in enumerate(frame.people):
            j = person.joints
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
    base = replace(tiny_synth, videos=4, val_videos=0, occlusion=0.0, distractor=0.0, truncation=0.0)
    synth.generate(replace(base, speed=0.0), tmp_path / "slow", progress=False)
    synth.generate(replace(base, speed=1.0), tmp_path / "fast", progress=False)
    assert _mean_joint_speed(tmp_path / "fast") > 1.5 * _mean_joint_speed(tmp_path / "slow")


@pytest.mark.parametrize("field", ["speed", "blur", "occlusion", "distractor", "truncation", "noise"])
def test_knobs_out_of_range_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=f"SynthConfig.{field}"):
        synth.SynthConfig(**{field: 1.5})


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synth.main(["--out", str(tmp_path), "--videos", "1", "--val-videos", "1", "--frames", "3", "--width", "96", "--height", "80", "--workers", "1"])
    assert "person-frames" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "synth_config.json").read_text())
    assert cfg["frames"] == 3 and len(list((tmp_path / "annotations" / "val").glob("*.json"))) == 1
    with pytest.raises(SystemExit):
        synth.main(["--out", str(tmp_path), "--blur", "3"])
