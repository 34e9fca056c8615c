"""A dataset the user owns is never deleted or written into: not by DVC, not by the generator.

The "real" dataset here is a copy of the vendored PoseTrack18 sample (plus a train split and a
file of the user's own); after each command every one of its files must be there, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tdmi.data.synth import MARKER, SynthConfig, generate

REPO = Path(__file__).resolve().parents[1]
TINY = SynthConfig(videos=2, val_videos=1, frames=2, width=64, height=48, workers=1)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _real_dataset(root: Path, sample_dir: Path) -> dict[str, bytes]:
    """A PoseTrack18-layout folder the user owns; returns its files."""
    shutil.copytree(sample_dir, root)
    (root / "annotations" / "train").mkdir()
    shutil.copy(root / "annotations" / "val" / "003418_mpii_test.json", root / "annotations" / "train")
    (root / "NOTES.txt").write_text("the user's own notes\n")
    return _tree(root)


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_generator_refuses_a_folder_it_did_not_make(tmp_path: Path, sample_dir: Path) -> None:
    root = tmp_path / "PoseTrack2018"
    before = _real_dataset(root, sample_dir)
    with pytest.raises(FileExistsError, match=f"{root}: not empty and holds no {MARKER}"):
        generate(TINY, root, progress=False)
    assert _tree(root) == before
    stray = tmp_path / "a_file"
    stray.write_text("not a folder")
    with pytest.raises(FileExistsError, match="a_file: not empty"):
        generate(TINY, stray, progress=False)
    assert stray.read_text() == "not a folder"


def test_generator_replaces_its_own_set_stale_files_and_all(tmp_path: Path) -> None:
    root = tmp_path / "synth"
    generate(TINY, root, progress=False)
    assert len(list((root / "annotations" / "train").glob("*.json"))) == 2
    (root / "annotations" / "train" / "stale.json").write_text("{}")
    generate(SynthConfig(**{**TINY.__dict__, "videos": 1}), root, progress=False)
    assert [p.name for p in (root / "annotations" / "train").iterdir()] == ["000000_synth.json"]
    assert json.loads((root / MARKER).read_text())["videos"] == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    generate(TINY, empty, progress=False)  # an empty folder holds nothing to lose
    assert (empty / MARKER).is_file()


def test_entry_points_on_a_real_dataset_never_touch_it(tmp_path: Path, sample_dir: Path) -> None:
    """`generate.py data.root=<real>` (the synthetic config on a real folder) stops with one line;
    `prepare.py data.root=<real>` only reads it."""
    root = tmp_path / "PoseTrack2018"
    before = _real_dataset(root, sample_dir)
    hydra = f"hydra.run.dir={tmp_path}/h"
    gen = _run([sys.executable, "experiments/generate.py", f"data.root={root}", hydra], REPO)
    assert (
        gen.returncode == 1
        and gen.stderr.strip() == f"error: {root}: not empty and holds no {MARKER}: not a synthetic set, left untouched"
    )
    real = _run(
        [sys.executable, "experiments/generate.py", "data=posetrack18", f"data.root={root}", hydra],
        REPO,
    )
    assert real.returncode == 1 and "data=posetrack18 is a real dataset" in real.stderr
    prep = _run(
        [
            sys.executable,
            "experiments/prepare.py",
            f"data.root={root}",
            f"metrics_dir={tmp_path}/m",
            hydra,
        ],
        REPO,
    )
    assert prep.returncode == 0, prep.stderr
    assert json.loads((tmp_path / "m" / "data.json").read_text())["val"]["people"] == 14
    assert _tree(root) == before


@pytest.mark.slow
def test_dvc_real_data_path_keeps_the_dataset(tmp_path: Path, sample_dir: Path) -> None:
    """The README's real-data path, `dvc exp run -S data=posetrack18 prepare`, in a scratch copy
    of the repo: the dataset is the stage's input and survives; the synthetic path still works."""
    work = tmp_path / "repo"
    listed = _run(["git", "ls-files", "-co", "--exclude-standard"], REPO).stdout.split()
    for f in listed:
        if (REPO / f).is_file() and f.split("/")[0] not in (
            "tests",
            "metrics",
            "plots",
            "reports",
            "dvc.lock",
        ):
            (work / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, work / f)

    def run(*cmd: str) -> subprocess.CompletedProcess:
        out = _run(list(cmd), work)
        assert out.returncode == 0, f"{' '.join(cmd)}:\n{out.stdout}\n{out.stderr}"
        return out

    run("git", "init", "-q")
    run(sys.executable, "experiments/compose_params.py", "experiment=smoke")
    run("git", "add", "-A")
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "smoke")
    synthetic = run("dvc", "repro", "prepare")  # the default data: generated, then validated
    assert "Running stage 'generate@synth'" in synthetic.stdout and "Running stage 'prepare'" in synthetic.stdout
    assert json.loads((work / "metrics" / "data.json").read_text())["train"]["videos"] == 2
    assert (work / "data" / "synth" / MARKER).is_file()

    before = _real_dataset(work / "data" / "PoseTrack2018", sample_dir)
    out = run("dvc", "exp", "run", "-S", "data=posetrack18", "prepare")
    assert "Running stage 'prepare'" in out.stdout and "generate" not in out.stdout
    assert _tree(work / "data" / "PoseTrack2018") == before
    summary = json.loads((work / "metrics" / "data.json").read_text())
    assert summary["dataset"] == "posetrack18" and summary["val"]["people"] == 14
    run("dvc", "exp", "run", "-S", "data=posetrack18", "prepare", "--force")  # forced rerun: same
    assert _tree(work / "data" / "PoseTrack2018") == before
    # the synthetic config with data.root at the real folder: the generated set still goes to the
    # pipeline's own folder (`dvc exp run` force-checks out every output before running it)
    run("dvc", "exp", "run", "-S", "experiment=smoke", "-S", "data.root=data/PoseTrack2018", "prepare")
    assert _tree(work / "data" / "PoseTrack2018") == before
    assert (work / "data" / "synth" / MARKER).is_file()
