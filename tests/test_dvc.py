"""The pipeline as a DVC user drives it, on the `smoke` experiment in a scratch copy of the repo.

One copy per module: `dvc repro` once, then the behaviours a DVC user expects, each on that state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tdmi.engine import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
STAGES = ("prepare", "pretrain", "train", "evaluate", "report")
pytestmark = pytest.mark.slow


def _run(repo: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlruns.db'}"}  # fmt: skip
    out = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def _compose(repo: Path, *overrides: str) -> None:
    _run(repo, sys.executable, "experiments/compose_params.py", "experiment=smoke", *overrides)


def _commit(repo: Path, message: str) -> None:
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's files (as git sees them) in a fresh git repo, params composed for `smoke`, reproduced."""
    work = tmp_path_factory.mktemp("dvc") / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files:
        if (REPO / f).is_file() and not f.startswith(("metrics/", "plots/", "reports/", "dvc.lock")):
            (work / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, work / f)
    _run(work, "git", "init", "-q")
    _compose(work)
    _commit(work, "smoke")
    first = _run(work, "dvc", "repro")
    for stage in STAGES:
        assert f"Running stage '{stage}'" in first.stdout
    _commit(work, "reproduced")
    return work


def test_repro_writes_metrics_plots_and_report(repo: Path) -> None:
    data = json.loads((repo / "metrics" / "data.json").read_text())
    ev = json.loads((repo / "metrics" / "eval.json").read_text())
    assert data["train"]["videos"] == 2 and set(ev["AP"]) == {
        "Head",
        "Shoulder",
        "Elbow",
        "Wrist",
        "Hip",
        "Knee",
        "Ankle",
        "Mean",
    }
    report = (repo / "reports" / "per_joint.md").read_text()
    assert report.startswith("# Per-joint PoseTrack mAP: tdmi_scaled on synth")
    # the recipe: phase 1 trained the single-frame network, phase 2 started from it, frozen
    assert json.loads((repo / "metrics" / "pretrain.json").read_text())["epochs"] == 1
    assert ev["single_frame"]["checkpoint"] == "checkpoints/synth-single_frame/best.pt"
    assert ev["gain"]["Mean"] == pytest.approx(ev["AP"]["Mean"] - ev["single_frame"]["AP"]["Mean"])
    assert set(ev["subsets"]) == {"ours", "single_frame"} and set(ev["subsets"]["ours"]) == {"degraded", "clean"}
    assert (ev["paper"]["dataset"], ev["paper"]["gain"]["Mean"]) == ("PoseTrack2017", pytest.approx(85.9 - 77.3))
    for row in (
        "| ours: single_frame (phase 1) |",
        "| gain: tdmi_scaled - single_frame |",
        "| tdmi_scaled, degraded joints |",
        "| paper (PoseTrack2017 val, another dataset): gain TDMI-ST - HRNet-W48 |",
    ):
        assert row in report
    tdmi_ckpt = load_checkpoint(repo / "checkpoints" / "synth-tdmi_scaled" / "best.pt")
    assert tdmi_ckpt["config"]["model"]["init_from"] == "checkpoints/synth-single_frame/best.pt"
    assert tdmi_ckpt["config"]["train"]["freeze_backbone"] is True
    shown = json.loads(_run(repo, "dvc", "metrics", "show", "--json").stdout)[""]["data"]
    assert {"metrics/data.json", "metrics/train.json", "metrics/eval.json"} <= set(shown)
    plots = _run(repo, "dvc", "plots", "show", "--json").stdout
    assert "plots/learning_curve.csv" in plots and "plots/per_joint_ap.csv" in plots


def test_second_repro_runs_nothing(repo: Path) -> None:
    """Nothing reruns (no timing here: speed lives in benchmarks, and a loaded machine varies)."""
    again = _run(repo, "dvc", "repro")
    assert "Running stage" not in again.stdout and "Data and pipelines are up to date" in again.stdout


def test_model_param_reruns_train_evaluate_report_not_prepare(repo: Path) -> None:
    _compose(repo, "model.tde_stages=2")
    status = _run(repo, "dvc", "status", "--json")
    changed = set(json.loads(status.stdout))
    assert "train" in changed and "prepare" not in changed and "pretrain" not in changed
    before = (repo / "metrics" / "eval.json").read_bytes()
    out = _run(repo, "dvc", "repro")
    assert "Stage 'prepare' didn't change, skipping" in out.stdout
    assert "Stage 'pretrain' didn't change, skipping" in out.stdout  # the single-frame network has no TDE
    for stage in ("train", "evaluate"):
        assert f"Running stage '{stage}'" in out.stdout
    # report reads only eval.json: a few smoke steps may leave it byte-identical, and then it is skipped
    reran = (repo / "metrics" / "eval.json").read_bytes() != before
    assert ("Running stage 'report'" in out.stdout) == reran, out.stdout
    _commit(repo, "tde_stages=2")


def test_exp_run_set_param_then_compare(repo: Path) -> None:
    """`dvc exp run -S` composes params.yaml through Hydra; exp show and metrics diff compare."""
    _run(repo, "dvc", "exp", "run", "-n", "tde1", "-S", "experiment=smoke", "-S", "model.tde_stages=1")
    table = json.loads(_run(repo, "dvc", "exp", "show", "--json").stdout)
    exps = {x["name"]: x["revs"][0]["data"] for row in table for x in row.get("experiments") or []}
    assert exps["tde1"]["params"]["params.yaml"]["data"]["model"]["tde_stages"] == 1
    assert "metrics/eval.json" in exps["tde1"]["metrics"]
    diff = json.loads(_run(repo, "dvc", "params", "diff", "--json").stdout)
    assert (diff["params.yaml"]["model.tde_stages"]["old"], diff["params.yaml"]["model.tde_stages"]["new"]) == (2, 1)
    metrics = json.loads(_run(repo, "dvc", "metrics", "diff", "--all", "--json").stdout)
    row = metrics["metrics/eval.json"]["mAP"]
    assert row["new"] == exps["tde1"]["metrics"]["metrics/eval.json"]["data"]["mAP"] and row["old"] is not None


def test_local_remote_round_trip(repo: Path, tmp_path: Path) -> None:
    _run(repo, "git", "checkout", "-q", "--", ".")
    _run(repo, "dvc", "checkout", "-q")
    _run(repo, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    _run(repo, "dvc", "push")
    shutil.rmtree(repo / ".dvc" / "cache")
    for out in ("data", "checkpoints", "evaluation"):
        shutil.rmtree(repo / out)
    assert _run(repo, "dvc", "status", "dvc.yaml", check=False).stdout.strip() != "Data and pipelines are up to date."
    _run(repo, "dvc", "pull")
    status = _run(repo, "dvc", "status", "dvc.yaml")  # the pipeline; ablation/dvc.yaml never ran here
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    assert (repo / "checkpoints" / "synth-tdmi_scaled" / "best.pt").is_file()
