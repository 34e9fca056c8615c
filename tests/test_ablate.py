"""The ablation grid: Welch intervals against scipy, the config hash, the claimed order's verdicts
on known inputs, and `experiments/pretrain.py` then `experiments/ablate.py` end to end on tiny runs
(every cell starts from the pretrained network; a rerun with one more seed trains only the missing
cells)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tdmi.reference import load_reference
from tdmi.results.ablation import NOT_REPRODUCED, REPRODUCED, order_verdicts
from tdmi.studies.ablation import (
    METRICS,
    cell_results,
    claimed_steps,
    config_hash,
    finished_runs,
    step_intervals,
    summarize,
    welch_interval,
)

REPO = Path(__file__).resolve().parents[1]


def test_welch_interval_matches_scipy() -> None:
    a, b = [31.0, 33.5, 32.2, 30.9], [29.0, 30.1, 27.5]
    diff, low, high = welch_interval(a, b, 0.95)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(np.mean(a) - np.mean(b)) and (low, high) == pytest.approx((ref.low, ref.high))
    assert np.isnan(welch_interval([1.0], [2.0, 3.0], 0.95)[1])  # one seed: no interval


def test_summary_has_mean_std_n_and_difference_per_preset_and_joint_group() -> None:
    rows = [
        {"preset": p, "seed": s, "run_id": f"{p}{s}", **dict.fromkeys(METRICS, base + s)}
        for p, base in (("baseline", 10.0), ("tdmi", 14.0))
        for s in range(3)
    ]
    summary = summarize(pd.DataFrame(rows), "baseline", ["baseline", "tde1", "tdmi"], 0.95)
    tdmi = summary[(summary.preset == "tdmi") & (summary.metric == "Ankle")].iloc[0]
    assert list(summary.preset.unique()) == ["baseline", "tdmi"] and len(summary) == 2 * len(METRICS)
    assert (tdmi.n, tdmi["mean"], tdmi["std"], tdmi["diff"]) == (3, 15.0, 1.0, 4.0) and tdmi.ci_low < 4.0 < tdmi.ci_high


def test_config_hash_ignores_how_a_run_is_executed_but_not_what_it_trains() -> None:
    base = {"data": "abc", "model": {"tde_stages": 3}, "train": {"lr": 1e-3, "progress": True, "num_workers": 2}}
    assert config_hash(base) == config_hash({**base, "train": {"lr": 1e-3, "progress": False, "num_workers": 0}})
    assert config_hash(base) != config_hash({**base, "model": {"tde_stages": 2}})


def test_an_experiment_without_finished_runs_has_no_done_cells(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    mlflow.MlflowClient(uri).create_experiment("empty")
    assert cell_results(finished_runs("empty", uri), {("baseline", 0): "h"}).empty
    assert cell_results(finished_runs("absent", uri), {("baseline", 0): "h"}).empty


def test_claimed_order_steps_are_judged_by_the_rule() -> None:
    """The author notes' order align < tde1 < tde4 < tdmi, judged on known numbers."""
    steps = claimed_steps(load_reference())
    assert list(zip(steps.before, steps.preset, strict=True)) == [("align", "tde1"), ("tde1", "tde4"), ("tde4", "tdmi")]
    assert steps.paper_step.round(1).tolist() == [0.3, 0.1, 0.5] and set(steps.kind) == {"author_notes"}
    means = {"align": 30.0, "tde1": 34.0, "tde4": 31.0, "tdmi": 31.2}  # up, down, flat
    results = pd.DataFrame(
        [{"preset": p, "seed": s, "mAP": m + d} for p, m in means.items() for s, d in enumerate((-0.3, 0, 0.3))]
    )
    synth = order_verdicts(step_intervals(results, steps, 0.95), "synth")
    assert synth.verdict.tolist() == [REPRODUCED, NOT_REPRODUCED, "inconclusive"]
    assert synth.reason[0].endswith("(direction only)") and synth.n[0] == "3/3"
    # on the notes' own dataset their size counts: +0.05 +- 0.01 is wholly below half of +0.3
    small = pd.DataFrame(
        [
            {"preset": p, "seed": s, "mAP": m + d}
            for p, m in (("align", 80.0), ("tde1", 80.05))
            for s, d in enumerate((-0.01, 0, 0.01))
        ]
    )
    same = order_verdicts(step_intervals(small, steps, 0.95), "posetrack17")
    assert same.verdict.tolist() == [NOT_REPRODUCED] and "below 50% of the paper's gain" in same.reason[0]
    assert order_verdicts(step_intervals(small, steps, 0.95), "synth").verdict.tolist() == [REPRODUCED]


def test_ablate_runs_the_grid_then_only_what_is_missing(synth_root: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    tiny = [
        "model.tiny_width=8",
        "train.clip.input_size=[48,64]",
        "train.epochs=1",
        "train.steps_per_epoch=2",
        "train.batch_size=8",
        "train.num_workers=0",
        "train.progress=false",
        f"data.root={synth_root}",
        f"mlflow.tracking_uri={uri}",
        f"pretrain.train_dir={tmp_path}/pre",
        "pretrain.epochs=1",
        f"metrics_dir={tmp_path}/m",
        f"plots_dir={tmp_path}/p",
        f"hydra.run.dir={tmp_path}/h",
        "hydra.output_subdir=null",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        "ablate.presets=[single_frame,tde1]",
        *tiny,
        f"ablate.out_dir={tmp_path}/reports",
        f"ablate.train_dir={tmp_path}/ckpt",
    ]
    early = subprocess.run([*cmd, "ablate.seeds=1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert (
        early.returncode == 2 and "error: model.init_from=" in early.stderr and "run the pretrain stage" in early.stderr
    )
    pre = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "pretrain.py"), *tiny],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert pre.returncode == 0, pre.stderr[-3000:]
    assert (tmp_path / "pre" / "best.pt").is_file() and (tmp_path / "m" / "pretrain.json").is_file()
    first = subprocess.run([*cmd, "ablate.seeds=2"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "4 runs, 0 already finished in MLflow, 4 to run" in first.stdout
    assert "[tde1 seed 1] epoch 1/1: val mAP" in first.stdout and "grid ETA" in first.stdout
    assert "[tde1 seed 1] done: best val mAP" in first.stdout
    second = subprocess.run(
        [*cmd, "ablate.seeds=3"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "6 runs, 4 already finished in MLflow, 2 to run" in second.stdout

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(
        experiment_names=["tdmi-ablation"], filter_string="tags.ablation = 'true'", output_format="list"
    )
    assert sorted((r.data.tags["preset"], r.data.tags["seed"]) for r in runs) == [
        (p, str(s)) for p in ("single_frame", "tde1") for s in range(3)
    ]
    assert all(
        r.info.status == "FINISHED" and len(r.data.tags["config_hash"]) == 16 and "best/mAP" in r.data.metrics
        for r in runs
    )
    # the recipe: every cell from the one pretrained network; the baseline as it is (ablate.baseline_mode=as_is:
    # 0 epochs, the same mAP for every seed), tde1's temporal parts trained on it
    single = [r for r in runs if r.data.tags["preset"] == "single_frame"]
    assert len({r.data.metrics["best/mAP"] for r in single}) == 1 and {
        r.data.metrics["best/epoch"] for r in single
    } == {0}
    assert {r.data.tags["init_from"] for r in runs} == {str(tmp_path / "pre" / "best.pt")}
    assert {(r.data.tags["preset"], r.data.tags["frozen"]) for r in runs} == {
        ("single_frame", "backbone"),
        ("tde1", "backbone,head"),
    }
    table = pd.read_csv(tmp_path / "reports" / "ablation.csv")
    assert list(table.columns) == ["preset", "metric", "n", "mean", "std", "diff", "ci_low", "ci_high"]
    assert set(table.metric) == set(METRICS) and (table.n == 3).all()
    tde1 = table[(table.preset == "tde1") & (table.metric == "mAP")].iloc[0]
    assert tde1.ci_low <= tde1["diff"] <= tde1.ci_high
    markdown = (tmp_path / "reports" / "ablation.md").read_text()
    assert "| tde1 " in markdown and "Δ mAP vs single_frame (95% CI)" in markdown and " ± " in markdown
    assert "Gain over single_frame per joint group" in markdown and "Claimed order (author notes" in markdown
