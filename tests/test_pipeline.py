"""The generate and prepare stages as a user runs them: Hydra entry points, params.yaml in sync."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "data.synth.videos=2",
    "data.synth.val_videos=1",
    "data.synth.frames=4",
    "data.synth.width=96",
    "data.synth.height=80",
    "data.synth.workers=1",
]


def _run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kw)


def test_params_yaml_is_the_composed_hydra_config(tmp_path: Path) -> None:
    out = _run([sys.executable, "experiments/compose_params.py", "--out", str(tmp_path / "params.yaml")], REPO)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "params.yaml").read_text() == (REPO / "params.yaml").read_text(), (
        "run `make params` and commit params.yaml"
    )


def test_generate_then_prepare_entry_points_write_data_and_summary(tmp_path: Path) -> None:
    hydra = f"hydra.run.dir={tmp_path}/h"
    gen = _run([sys.executable, "experiments/generate.py", *TINY, f"data.root={tmp_path}/d", hydra], REPO)
    assert gen.returncode == 0, gen.stderr
    out = _run(
        [
            sys.executable,
            "experiments/prepare.py",
            f"data.root={tmp_path}/d",
            f"metrics_dir={tmp_path}/m",
            hydra,
        ],
        REPO,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "m" / "data.json").read_text())
    assert summary["train"]["videos"] == 2 and summary["val"]["frames"] == 4 and len(summary["fingerprint"]) == 16
    bad = _run(
        [
            sys.executable,
            "experiments/generate.py",
            "data.synth.blur=7",
            f"data.root={tmp_path}/e",
            hydra,
        ],
        REPO,
    )
    assert bad.returncode != 0 and "SynthConfig.blur must be in [0, 1]" in bad.stderr
    typo = _run([sys.executable, "experiments/prepare.py", "data=posetrack99", hydra], REPO)
    assert typo.returncode != 0 and "posetrack99" in typo.stderr and "Traceback" not in typo.stderr
    loader = _run(
        [sys.executable, "experiments/prepare.py", f"data.root={tmp_path}/d", "data.loader=posetrak", hydra], REPO
    )
    assert loader.returncode == 1 and loader.stderr.startswith("error: data.loader=posetrak is not one of [")


def test_prepare_refuses_real_data_with_a_corrupt_annotation(tmp_path: Path, sample_dir: Path) -> None:
    root = tmp_path / "pt18"
    shutil.copytree(sample_dir, root)
    (root / "annotations" / "train").mkdir()
    shutil.copy(root / "annotations" / "val" / "003418_mpii_test.json", root / "annotations" / "train")
    ok = _run(
        [
            sys.executable,
            "experiments/prepare.py",
            "data=posetrack18",
            f"data.root={root}",
            f"metrics_dir={tmp_path}/m",
            f"hydra.run.dir={tmp_path}/h",
        ],
        REPO,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "m" / "data.json").read_text())["val"]["people"] == 14
    bad = root / "annotations" / "val" / "009473_mpii_test.json"
    bad.write_text(bad.read_text()[:-40])
    out = _run(
        [
            sys.executable,
            "experiments/prepare.py",
            "data=posetrack18",
            f"data.root={root}",
            f"hydra.run.dir={tmp_path}/h",
        ],
        REPO,
    )
    assert out.returncode == 1 and out.stderr.startswith(f"error: {bad}: line ") and out.stderr.count("\n") == 1
    bad.write_bytes((sample_dir / "annotations" / "val" / bad.name).read_text().encode("utf-16"))
    prepare = [sys.executable, "experiments/prepare.py", "data=posetrack18", f"data.root={root}"]
    out = _run([*prepare, f"hydra.run.dir={tmp_path}/h"], REPO)
    assert (
        out.returncode == 1 and out.stderr == f"error: {bad}: encoding: UTF-16 or UTF-32, not UTF-8: save it as UTF-8\n"
    )
