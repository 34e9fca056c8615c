"""The dashboard and tdmi.results against a workbench built for real: a local MLflow store with a
1-epoch tiny training run (real artifacts) and tagged ablation runs over seeds, a SQLite Optuna
study over the sweep's parameters, DVC metrics files and an experiments/predict.py output on the
real PoseTrack18 frames. Every page runs under streamlit's AppTest and the numbers it shows are
checked, not only that it renders.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import streamlit as st
from mlflow.entities import Metric
from streamlit.testing.v1 import AppTest

from tdmi.data.clips import ClipConfig, PoseTrackClips
from tdmi.data.posetrack import load_posetrack
from tdmi.data.summary import fingerprint
from tdmi.engine import PoseTrackEvaluator, TrainConfig, fit, seed_everything
from tdmi.engine.tracking import MLflowTracker
from tdmi.eval.results import COLUMNS, write_metrics_json
from tdmi.losses import build_loss
from tdmi.models.presets import preset_configs
from tdmi.models.tdmi import build_model
from tdmi.reference import load_reference
from tdmi.results import ablation, dvc_metrics, studies
from tdmi.results.config import inside_outputs
from tdmi.results.run_table import joint_ap, learning_curves, load_runs, load_runs_with_client, run_details

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "dashboards" / "app.py")
SAMPLE_FRAMES = REPO / "tests" / "data" / "posetrack18_sample" / "videos" / "000001_mpiinew_test"
# Person boxes for the five real frames, read off the images by hand (no detector ships here):
# the player on the left, the one in blue, the one sliding. Frames are 1280x720.
REAL_BOXES = [[360, 270, 200, 300, 0.95], [610, 255, 230, 280, 0.9], [595, 395, 260, 140, 0.8]]
TINY_MODEL = {"tiny_width": 8, "head_dilations": (3,), "mi_hidden": 16, "mi_dim": 8}
CLIP = ClipConfig(input_size=(48, 64))

# Ablation runs: best/mAP per seed. On synth, tde2 gains +5 (95% CI [2.73, 7.27]), rdm 0, mi_task
# -4, tdmi has one seed; on posetrack18 tdmi gains +9.5 over two seeds each.
ABLATIONS = {
    ("synth", "baseline"): [40.0, 41.0, 42.0],
    ("synth", "tde2"): [45.0, 46.0, 47.0],
    ("synth", "rdm"): [39.0, 41.0, 43.0],
    ("synth", "mi_task"): [36.0, 37.0, 38.0],
    ("synth", "tdmi"): [50.0],
    ("posetrack18", "baseline"): [60.0, 62.0],
    ("posetrack18", "tdmi"): [70.0, 71.0],
}
# Fake paper ablation rows in the reference schema (a test never ships them).
FAKE_ROWS = [
    {"table": "ablation_components", "dataset": "PoseTrack2018", "split": "val", "method": "Baseline", "mean": 80.0},
    {"table": "ablation_components", "dataset": "PoseTrack2018", "split": "val", "method": "TDMI", "mean": 83.6},
    {"table": "ablation_components", "dataset": "PoseTrack2018", "split": "val", "method": "mi_task", "mean": 82.0},
]
STUDY = "sweep-test"
COST_STUDY = "sweep-cost"  # sweep.cost_objective=true: (mAP, seconds), a multi-objective study
UI = "http://127.0.0.1:5000"  # the default MLflow UI address every link points at


def _objective(trial: optuna.Trial) -> float:
    """Cheap, deterministic, parameters named as experiments/sweep.py names them (config keys, and
    a "<key>:on" switch where 0 is a choice); trial 3 fails, low values get pruned."""
    values = {t: trial.suggest_float(f"model.{t}", 1e-4, 1e-1, log=True) for t in ("mi_disentangle", "mi_task")}
    if trial.suggest_categorical("model.mi_recon:on", [True, False]):
        values["mi_recon"] = trial.suggest_float("model.mi_recon", 1e-4, 1e-1, log=True)
    stages = trial.suggest_int("model.tde_stages", 1, 4)
    if trial.number == 3:
        trial.set_user_attr("fail_reason", "ValueError: simulated crash")  # as tdmi/studies/objective.py records it
        raise ValueError("simulated crash")
    score = 50 + 5 * stages - 10 * abs(math.log10(values["mi_task"]) + 2)
    trial.report(score - 3, 1)
    trial.report(score, 2)
    if trial.number > 5 and score < 50:
        raise optuna.TrialPruned()
    return score


def _tiny_fit(root: Path, uri: str, out: Path) -> tuple[str, float]:
    """One real 1-epoch tiny training run tracked as train.py tracks it (params, tags, artifacts)."""
    seed_everything(0)
    model_cfg, loss_cfg = preset_configs("tdmi", **TINY_MODEL)
    model = build_model(model_cfg)
    loss = build_loss(loss_cfg, model)
    train = PoseTrackClips(load_posetrack(root / "annotations" / "train"), CLIP, train=True)
    val = PoseTrackClips(load_posetrack(root / "annotations" / "val")[:1], CLIP)
    cfg = TrainConfig(epochs=1, batch_size=8, steps_per_epoch=2, num_workers=0, progress=False, device="cpu")
    config = {
        "data": {"name": "synth", "root": str(root)},
        "model": {"preset": "tdmi", **model_cfg.__dict__},
        "train": {**asdict(cfg), "clip": asdict(CLIP)},
        "seed": 0,
    }
    extra = {"model_config": asdict(model_cfg), "loss_config": asdict(loss_cfg), "clip_config": asdict(CLIP)}
    with MLflowTracker("tdmi", uri, run_name="tiny-fit") as tracker:
        tracker.log_config(config)
        tracker.set_tags(fingerprint(root / "annotations"), "cpu", "tdmi")
        result = fit(model, loss, train, PoseTrackEvaluator.for_training(val, cfg), cfg, out, [tracker], extra)
        tracker.log_result(result)
    return tracker.run_id, result


def _ablation_runs(uri: str) -> None:
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("ablation")
    for (dataset, preset), values in ABLATIONS.items():
        for seed, value in enumerate(values):
            run = client.create_run(
                experiment, run_name=f"{preset}-s{seed}", tags={"preset": preset, "seed": str(seed), "ablation": "true"}
            )
            client.log_param(run.info.run_id, "data.name", dataset)
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("best/mAP", value, 0, 0)]
                + [Metric(f"best/AP/{c}", value + k, 0, 0) for k, c in enumerate(COLUMNS[:-1])]
                + [  # Head = mAP, Shoulder +1...
                    Metric("best/AP/Mean", value, 0, 0)
                ],
            )
            client.set_terminated(run.info.run_id)
    failed = client.create_run(
        experiment, run_name="tdmi-crashed", tags={"preset": "tdmi", "seed": "7", "ablation": "true"}
    )
    client.log_param(failed.info.run_id, "data.name", "synth")
    client.set_terminated(failed.info.run_id, "FAILED")
    killed = client.create_run(
        experiment, run_name="tdmi-killed", tags={"preset": "tdmi", "seed": "8", "ablation": "true"}
    )
    client.log_param(killed.info.run_id, "data.name", "synth")
    client.log_metric(killed.info.run_id, "val/mAP", 99.0)  # half-written: RUNNING, no best/mAP


def _sweep_runs(uri: str, study: optuna.Study) -> str:
    """The MLflow side of a sweep as experiments/sweep.py logs it: a parent run tagged sweep=true
    carrying the best mAP, and one nested run per trial (tags trial_number, study_name, state) with
    its per-epoch val/mAP. Returns the parent's run id."""
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("tdmi-sweep")
    parent = client.create_run(experiment, run_name=STUDY, tags={"study_name": STUDY, "sweep": "true"})
    client.log_metric(parent.info.run_id, "best/mAP", study.best_value)
    for trial in study.trials:
        run = client.create_run(
            experiment,
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": parent.info.run_id,
                "trial_number": str(trial.number),
                "study_name": STUDY,
                "state": trial.state.name,
                "preset": "tdmi+custom",
                "ablation": "false",
            },
        )
        client.log_param(run.info.run_id, "data.name", "synth")
        for epoch, value in trial.intermediate_values.items():
            client.log_metric(run.info.run_id, "val/mAP", value, step=epoch)
        if trial.state == optuna.trial.TrialState.COMPLETE:
            client.log_metric(run.info.run_id, "best/mAP", trial.value)
        client.set_terminated(
            run.info.run_id, "FINISHED" if trial.state.is_finished() and trial.state.name != "FAIL" else "FAILED"
        )
    client.set_terminated(parent.info.run_id)
    return parent.info.run_id


_BUILT: dict[str, dict] = {}  # test_predict/test_browser import the fixture: build it once per session


@pytest.fixture(scope="session")
def workbench(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The project folder, stores and ids every dashboard test reads."""
    if "workbench" not in _BUILT:
        _BUILT["workbench"] = _build(synth_root, tmp_path_factory)
    return _BUILT["workbench"]


def _build(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = tmp_path_factory.mktemp("project")
    uri = f"sqlite:///{project / 'mlruns.db'}"
    storage = f"sqlite:///{project / 'optuna.db'}"
    run_id, result = _tiny_fit(synth_root, uri, project / "checkpoints" / "tiny")
    _ablation_runs(uri)
    study = optuna.create_study(
        study_name=STUDY, storage=storage, direction="maximize", sampler=optuna.samplers.TPESampler(seed=0)
    )
    study.optimize(_objective, n_trials=16, catch=(ValueError,))
    override = project / "reports" / "sweeps" / STUDY / "best_overrides.txt"  # as experiments/sweep.py writes it
    override.parent.mkdir(parents=True)
    override.write_text("".join(f"{k}={v}\n" for k, v in study.best_params.items() if ":" not in k))
    study.set_user_attr("best_overrides_file", str(override))
    parent_id = _sweep_runs(uri, study)
    cost = optuna.create_study(
        study_name=COST_STUDY,
        storage=storage,
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    cost.optimize(
        lambda t: (
            t.suggest_float("model.mi_task", 1e-4, 1e-1, log=True) * 100,
            t.suggest_int("model.tde_stages", 1, 4) * 10.0,
        ),
        n_trials=6,
    )
    write_metrics_json(
        {"dataset": "synth", "fingerprint": fingerprint(synth_root / "annotations")}, project / "metrics" / "data.json"
    )
    best = next(row for row in result.history if row["epoch"] == result.best_epoch)
    write_metrics_json(
        {
            "best_epoch": result.best_epoch,
            "best_mAP": result.best_metric,
            "best": best,
            "last": result.history[-1],
            "run_id": run_id,
        },
        project / "metrics" / "train.json",
    )  # as the train stage records it
    # metrics/eval.json as experiments/evaluate.py writes it (shifted by 1 so the page shows which file it read)
    write_metrics_json(
        {
            "mAP": best["val/mAP"] + 1,
            "AP": {c: best.get(f"val/AP/{c}", math.nan) + 1 for c in COLUMNS},
            "oks": {"AP": 0.123},
        },
        project / "metrics" / "eval.json",
    )
    (project / "metrics" / "broken.json").write_text('{"half": ')
    detections = project / "real_detections.json"
    detections.write_text(
        json.dumps(
            [
                {"image_id": 10000010000 + i, "category_id": 1, "bbox": b[:4], "score": b[4]}
                for i in range(5)
                for b in REAL_BOXES
            ]
        )
    )
    predicted = project / "outputs" / "predict" / "real"
    subprocess.run(
        [
            sys.executable,
            "experiments/predict.py",
            f"ckpt={result.files['best']}",
            f"frames={SAMPLE_FRAMES}",
            f"detections={detections}",
            f"out={predicted}",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return {
        "project": project,
        "uri": uri,
        "storage": storage,
        "run_id": run_id,
        "result": result,
        "study": study,
        "override": override,
        "predicted": predicted,
        "synth_root": synth_root,
        "parent_id": parent_id,
        "cost": cost,
    }


@pytest.fixture
def app(workbench: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A function: page path -> that page run under AppTest against the workbench."""
    reference = tmp_path / "reference.csv"
    rows = pd.concat(
        [
            load_reference(),
            pd.DataFrame(FAKE_ROWS).assign(
                kind="paper", source="fake row (test)", verified_against_tdmi_paper="no", note=""
            ),
        ]
    )
    rows.to_csv(reference, index=False)
    monkeypatch.setenv("TDMI_PROJECT_DIR", str(workbench["project"]))
    monkeypatch.setenv("TDMI_MLFLOW_URI", workbench["uri"])
    monkeypatch.setenv("TDMI_OPTUNA_STORAGE", workbench["storage"])
    monkeypatch.setenv("TDMI_BASELINE", "baseline")  # the fixture's ablation runs, whatever the config names it
    monkeypatch.delenv("TDMI_MLFLOW_UI", raising=False)

    main_only = tmp_path / "reference_main_only.csv"
    reference_rows = load_reference()
    reference_rows[reference_rows["table"] == "main"].to_csv(main_only, index=False)

    def run(page: str | None = None, with_fake_rows: bool = True) -> AppTest:
        """``with_fake_rows=False``: the packaged main rows alone, no ablation rows at all."""
        monkeypatch.setenv("TDMI_REFERENCE_CSV", str(reference if with_fake_rows else main_only))
        st.cache_data.clear()  # the pages' TTL caches live in this process across AppTests
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        if page:
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return run


def _frame(at: AppTest, column: str, value: object = None) -> pd.DataFrame:
    """The first table shown with ``column`` (holding ``value``, when given); AppTest does not
    expose st.dataframe keys, so tables are found by what they contain."""
    for element in at.dataframe:
        frame = element.value
        if column in frame.columns and (value is None or (frame[column] == value).any()):
            return frame
    raise KeyError(f"no table with column {column!r} = {value!r}")


def _texts(at: AppTest) -> str:
    return "\n".join(
        e.value
        for kind in ("markdown", "info", "warning", "caption", "header", "subheader", "title")
        for e in getattr(at, kind)
    )


# --- library -----------------------------------------------------------------------------------


def test_verdict_rule() -> None:
    v = ablation.verdict
    assert v(1.0, 3.0, 1, None, False).verdict == ablation.REPRODUCED
    assert v(-3.0, -1.0, 1, None, False).verdict == ablation.NOT_REPRODUCED
    assert v(-1.0, 3.0, 1, None, False).verdict == ablation.INCONCLUSIVE
    assert v(math.nan, math.nan, 1, None, False).verdict == ablation.INCONCLUSIVE
    assert v(0.5, 1.0, 1, 4.0, True).verdict == ablation.NOT_REPRODUCED  # below half the paper's 4
    assert v(0.5, 1.0, 1, 4.0, False).verdict == ablation.REPRODUCED  # other dataset: direction only
    assert v(-3.0, -1.0, -1, -2.0, True).verdict == ablation.REPRODUCED  # the paper's sign is negative
    diff, low, high = ablation.welch_interval(np.array([45.0, 46, 47]), np.array([40.0, 41, 42]), 0.95)
    assert diff == 5 and low == pytest.approx(2.7326, abs=1e-3) and high == pytest.approx(7.2674, abs=1e-3)


def _settings():
    """dashboards/settings.py, the app's own command-line module (dashboards/ is no package)."""
    spec = importlib.util.spec_from_file_location("dashboard_settings", REPO / "dashboards" / "settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_sources_and_path_gate(tmp_path: Path) -> None:
    parse = _settings().parse
    env = {"TDMI_PROJECT_DIR": str(tmp_path), "TDMI_OPTUNA_STORAGE": "sqlite:////x.db", "TDMI_BASELINE": "single_frame"}
    cfg = parse(["--mlflow-uri", "sqlite:////m.db", "--mlflow-ui", "http://mlflow.lab:5000/"], env)
    assert (cfg.project_dir, cfg.mlflow_uri, cfg.optuna_storage) == (
        tmp_path.resolve(),
        "sqlite:////m.db",
        "sqlite:////x.db",
    )
    assert (cfg.mlflow_ui, cfg.baseline) == ("http://mlflow.lab:5000", "single_frame")
    default = parse([], {"TDMI_PROJECT_DIR": str(tmp_path)})
    assert default.mlflow_uri == f"sqlite:///{tmp_path.resolve() / 'mlruns.db'}" and default.mlflow_ui == UI
    # experiments/conf/ablate's baseline and confidence, the one source of both
    assert (default.baseline, default.confidence) == _settings().configured_ablation()
    with pytest.raises(FileNotFoundError, match=r"absent.yaml: the ablation config \(baseline, confidence\)"):
        _settings().configured_ablation(tmp_path / "absent.yaml")
    assert inside_outputs(tmp_path, "outputs/predict/x") == tmp_path.resolve() / "outputs" / "predict" / "x"
    for bad in ("outputs/../../etc/passwd", "/etc/passwd", "dvc.yaml"):
        with pytest.raises(ValueError, match="outside"):
            inside_outputs(tmp_path, bad)


def test_importing_the_results_side_loads_no_torch() -> None:
    """The dashboard reads results; importing every tdmi.results module must not pull in torch or
    the model (seconds of start-up, and a dependency a read-only viewer does not need)."""
    modules = ", ".join(
        f"tdmi.results.{m.stem}" for m in sorted((REPO / "tdmi" / "results").glob("*.py")) if m.stem != "__init__"
    )
    code = (
        f"import sys, {modules}; print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('tdmi.models')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]", out


def test_runs_table_labels_broken_runs_and_groups(workbench: dict) -> None:
    runs = load_runs(workbench["uri"])
    table = runs.table.set_index("run_name")
    health = table["health"]
    assert health["tdmi-crashed"] == "not finished: FAILED"
    assert health["tdmi-killed"].startswith("unfinished")
    assert health["tiny-fit"] == "ok"
    assert table.loc[STUDY, "group"] == "sweep parent" and table.loc["trial-0", "group"] == "sweep trial"
    assert table.loc["tde2-s0", "group"] == "ablation" and table.loc["tiny-fit", "group"] == "training"
    fit_row = table.loc["tiny-fit"]
    assert fit_row["best/mAP"] == pytest.approx(workbench["result"].best_metric) and fit_row["dataset"] == "synth"
    assert fit_row["checkpoint"].endswith("/checkpoints/best.pt")
    assert Path(fit_row["checkpoint"].removeprefix("file://")).is_file()  # the logged artifact is where the row says
    assert "train/total" in fit_row["curves"] and "val/mAP" in fit_row["curves"]
    assert len(fit_row["git_commit"]) >= 7
    garbage = workbench["project"] / "outputs" / "garbage.db"
    garbage.parent.mkdir(exist_ok=True)
    garbage.write_text("not a database")
    assert "cannot read MLflow store" in load_runs(f"sqlite:///{garbage}").errors[0]  # reported, no crash
    assert load_runs(f"sqlite:///{workbench['project'] / 'none.db'}").table.empty
    assert not (workbench["project"] / "none.db").exists()  # reading never creates a store


def test_sqlite_reader_equals_mlflow_client(workbench: dict) -> None:
    """The fast read-only SQL path and MLflow's own client give the same table."""
    fast = load_runs(workbench["uri"]).table.sort_values("run_id", ignore_index=True)
    slow = load_runs_with_client(workbench["uri"]).table.sort_values("run_id", ignore_index=True)
    assert len(fast) == len(slow) > 30
    pd.testing.assert_frame_equal(fast, slow)
    client, run_id = mlflow.MlflowClient(workbench["uri"]), workbench["run_id"]
    params, tags = run_details(workbench["uri"], run_id)
    run = client.get_run(run_id)
    assert params == run.data.params and tags == {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    curves = learning_curves(workbench["uri"], [run_id], ["val/mAP", "train/total"])
    expected = [
        (run_id, k, m.step, m.value) for k in ("train/total", "val/mAP") for m in client.get_metric_history(run_id, k)
    ]
    assert list(curves.itertuples(index=False, name=None)) == expected and len(expected) >= 2


def test_joint_ap_labels_runs_without_best_ap(workbench: dict) -> None:
    table = load_runs(workbench["uri"]).table.set_index("run_name")
    old = table.loc[["tiny-fit"]].assign(
        **{f"best/AP/{c}": math.nan for c in COLUMNS}
    )  # as runs logged before best/AP/*
    long = joint_ap(pd.concat([old, table.loc[["tde2-s1"]]]).reset_index()).set_index(["run_id", "column"])
    fit = table.loc["tiny-fit"]
    assert long.loc[(fit["run_id"], "Mean"), "AP"] == pytest.approx(fit["val/AP/Mean"])  # its last validated epoch
    assert long.loc[(fit["run_id"], "Mean"), "source"].startswith("ours: last validated epoch (older run")
    tde2 = table.loc["tde2-s1", "run_id"]
    assert long.loc[(tde2, "Shoulder"), "AP"] == 47.0 and long.loc[(tde2, "Shoulder"), "source"] == "ours: best epoch"


def test_producing_run_is_read_by_id_never_guessed(workbench: dict) -> None:
    table = load_runs(workbench["uri"]).table
    metrics, _ = dvc_metrics.read_metrics(workbench["project"])
    run, how = dvc_metrics.producing_run(metrics, table)
    assert run["run_id"] == workbench["run_id"] and how == "run_id in metrics/train.json"
    without = {**metrics, "train": {k: v for k, v in metrics["train"].items() if k != "run_id"}}
    run, how = dvc_metrics.producing_run(without, table)  # equal floats elsewhere are no evidence
    assert run is None and "no run_id" in how
    run, how = dvc_metrics.producing_run({"train": {"run_id": "f" * 32}}, table)
    assert run is None and "not in this MLflow store" in how


def test_ablation_summary_numbers(workbench: dict) -> None:
    reference = pd.concat(
        [
            load_reference(),
            pd.DataFrame(FAKE_ROWS).assign(kind="paper", source="fake", verified_against_tdmi_paper="no", note="n"),
        ]
    )
    runs = load_runs(workbench["uri"]).table
    table = ablation.verdict_table(runs, reference, "baseline", 0.95).set_index(["dataset", "preset"])
    assert list(table.loc["synth"].index) == ["baseline", "tde2", "rdm", "mi_task", "tdmi"]  # baseline, then as run
    tde2 = table.loc[("synth", "tde2")]
    assert (tde2["n"], tde2["mean"], tde2["std"], tde2["gain"]) == (3, 46.0, 1.0, 5.0)
    assert tde2["verdict"] == "reproduced" and tde2["comparison"].startswith("direction only")
    wide = ablation.verdict_table(runs, reference, "baseline", 0.999).set_index(["dataset", "preset"])
    assert wide.loc[("synth", "tde2"), "gain_low"] < tde2["gain_low"]  # the level is the one passed in
    assert table.loc[("synth", "rdm"), "verdict"] == "inconclusive"
    assert table.loc[("synth", "mi_task"), "verdict"] == "not reproduced"
    assert table.loc[("synth", "mi_task"), "paper_dataset"] == "PoseTrack2018"  # shown, never compared in size
    assert table.loc[("synth", "tdmi"), "reason"].startswith("fewer than 2 seeds")  # the failed/killed runs are out
    pt = table.loc[("posetrack18", "tdmi")]
    assert pt["gain"] == 9.5 and pt["paper_gain"] == pytest.approx(3.6) and pt["verdict"] == "reproduced"
    assert pt["comparison"].startswith("same dataset (PoseTrack2018)") and pt["paper_source"] == "fake"
    assert (pt["paper_kind"], pt["paper_verified"], pt["paper_note"]) == ("paper", "no", "n")
    other = ablation.verdict_table(runs, reference, "tde2", 0.95).set_index(
        ["dataset", "preset"]
    )  # the baseline is an argument
    assert other.loc[("synth", "baseline"), "gain"] == -5.0 and list(other.loc["synth"].index)[0] == "tde2"
    groups = ablation.joint_group_table(runs, "baseline").set_index(["dataset", "preset"])
    assert groups.loc[("synth", "tde2"), "Shoulder"] == "47.0 ± 1.0"
    assert groups.loc[("synth", "tdmi"), "Head"] == "50.0"
    means = ablation.joint_ap_means(runs, "baseline").set_index(["run", "column"])
    assert means.loc[("ablation mean: tde2 [synth, n=3]", "Elbow"), "AP"] == 48.0


def test_best_trial_of_a_multi_objective_study(workbench: dict) -> None:
    cost = workbench["cost"]
    best = studies.best_trial(cost)  # study.best_trial raises RuntimeError here
    assert best.values[0] == max(t.values[0] for t in cost.best_trials)
    assert studies.best_trial(optuna.create_study()) is None  # nothing completed yet
    assert studies.objective_names(cost) == ["best val PoseTrack mAP (points, 0-100)", "training time (s)"]
    from tdmi.studies.study import best_trial  # the sweep's outputs use the same function

    assert best_trial is studies.best_trial


def test_sql_snapshot_equals_optunas_api(workbench: dict) -> None:
    """The dashboard's plain-SQL read of a SQLite study gives what Optuna's own API gives."""
    for name in (STUDY, COST_STUDY):
        fast = studies.read_study(workbench["storage"], name)
        slow = studies.snapshot(optuna.load_study(study_name=name, storage=workbench["storage"]))
        for frame in ("trials", "params", "curves"):
            pd.testing.assert_frame_equal(getattr(fast, frame), getattr(slow, frame))
        assert (fast.name, fast.directions, fast.objectives, fast.user_attrs) == (
            slow.name,
            slow.directions,
            slow.objectives,
            slow.user_attrs,
        )
    study = studies.read_study(workbench["storage"], STUDY)
    assert len(study.trials) == 16 and set(study.trials["state"]) >= {"COMPLETE", "FAIL"}
    assert study.params["value"].map(type).isin([int, float, bool]).all()  # as the trials saw them
    assert studies.list_studies(workbench["storage"]).values.tolist() == [
        [STUDY, "maximize", 16],
        [COST_STUDY, "maximize, minimize", 6],
    ]
    assert studies.best_number(study) == workbench["study"].best_trial.number


def test_trials_table_shows_off_and_links_runs(workbench: dict) -> None:
    study = workbench["study"]
    runs = load_runs(workbench["uri"]).table
    snapshot = studies.read_study(workbench["storage"], STUDY)
    trials = studies.trials_table(snapshot, runs, UI).set_index("trial")
    switched_off = [t.number for t in study.trials if t.params.get("model.mi_recon:on") is False]
    assert switched_off and (trials.loc[switched_off, "model.mi_recon"] == "off").all()
    assert not any(c.endswith(":on") for c in trials.columns)
    row = runs.set_index("run_name").loc["trial-5"]
    assert trials.loc[5, "mlflow"] == f"{UI}/#/experiments/{row['experiment_id']}/runs/{row['run_id']}"
    assert trials.loc[3, "state"] == "FAIL" and "simulated crash" in trials.loc[3, "fail reason"]
    curves = snapshot.curves
    assert set(curves[curves["trial"] == 0]["epoch"]) == {1, 2}
    points = studies.slice_points(snapshot)
    on = [t for t in study.trials if t.state.name == "COMPLETE" and t.params.get("model.mi_recon:on")]
    recon = points[points["param"] == "model.mi_recon"]
    assert list(recon["trial"]) == [t.number for t in on] and recon["log"].all()  # off trials have no point
    assert not points[points["param"] == "model.tde_stages"]["log"].any()


# --- pages -------------------------------------------------------------------------------------


def _link(workbench: dict, run_name: str) -> str:
    row = load_runs(workbench["uri"]).table.set_index("run_name").loc[run_name]
    return f"{UI}/#/experiments/{row['experiment_id']}/runs/{row['run_id']}"


def test_overview_page(app, workbench: dict) -> None:
    at = app()
    per_joint = _frame(at, "Mean")
    history = workbench["result"].history[-1]
    assert per_joint["Mean"].iloc[0] == pytest.approx(round(history["val/AP/Mean"] + 1, 1))  # eval.json first
    assert _frame(at, "OKS (points)").loc["eval: oks/AP", "OKS (points)"] == 12.3  # one unit: points
    text = _texts(at)
    assert "From metrics/eval.json: AP/*" in text
    assert f"run `{workbench['run_id']}`, found by: run_id in metrics/train.json" in text  # the producing run, by id
    assert f"[tiny-fit]({_link(workbench, 'tiny-fit')})" in text  # its name, linked to the MLflow UI
    assert "/checkpoints/best.pt" in text and "commit `" in text
    assert any("broken.json" in w.value for w in at.warning)  # a half-written metrics file is named
    runs = _frame(at, "health")
    assert STUDY not in set(runs["run_name"])  # the sweep's parent is no ordinary run
    assert runs.set_index("run_name").loc["tiny-fit", "group"] == "pipeline"
    assert runs.set_index("run_name").loc["tiny-fit", "mlflow"] == _link(workbench, "tiny-fit")
    assert runs.set_index("run_name").loc["tdmi-killed", "health"].startswith("unfinished")
    at.multiselect[1].select("tde2").run()  # the preset filter
    assert set(_frame(at, "health")["preset"]) == {"tde2"}


def test_overview_says_so_when_train_json_lacks_the_run_id(app, workbench: dict) -> None:
    path = workbench["project"] / "metrics" / "train.json"
    original = path.read_text()
    try:
        path.write_text(json.dumps({k: v for k, v in json.loads(original).items() if k != "run_id"}))
        at = app()
        assert "Unknown: metrics/train.json has no run_id" in _texts(at)
        assert "pipeline" not in set(_frame(at, "health")["group"])
    finally:
        path.write_text(original)


def test_runs_page_curves_and_comparison(app, workbench: dict) -> None:
    at = app("runs")
    assert at.multiselect[1].value == [
        m for m in at.multiselect[1].options if m.startswith("tiny-fit")
    ]  # the pipeline's run
    curves = at.get("plotly_chart")
    assert len(curves) == 1
    assert set(at.multiselect[2].value) == {"val/mAP", "train/total", "train/heatmap"}
    assert {k for k in at.multiselect[2].options} >= {"train/total", "train/heatmap", "val/mAP", "val/AP/Head"}
    tde2 = [o for o in at.multiselect[1].options if o.startswith("tde2-s0")]
    at.multiselect[1].select(tde2[0]).run()
    assert not at.exception
    differences = _frame(at, next(o for o in at.multiselect[1].value if o.startswith("tiny-fit")).split(" · ")[0])
    assert "data.root" in differences.index and "model.tiny_width" in differences.index
    assert "seed" not in differences.index or differences.loc["seed"].nunique() > 1  # only keys that differ
    joints = at.dataframe[-1].value
    assert joints.loc["Shoulder"].filter(like="tde2-s0").iloc[0] == 46.0  # seed 0's 45 + 1 (the fixture's Shoulder)


def test_ablation_page_shows_numbers_verdicts_and_fake_paper_rows(app, workbench: dict) -> None:
    at = app("ablations")
    synth = _frame(at, "dataset", "synth").set_index("preset")
    assert (
        synth.loc["tde2", "gain_low"] == pytest.approx(2.7326, abs=1e-3)
        and synth.loc["tde2", "verdict"] == "reproduced"
    )
    assert synth.loc["mi_task", "paper_source"] == "fake row (test)" and synth.loc["mi_task", "paper_kind"] == "paper"
    pt = _frame(at, "dataset", "posetrack18").set_index("preset")
    assert pt.loc["tdmi", "paper_mean"] == 83.6 and pt.loc["tdmi", "verdict"] == "reproduced"
    assert "Dataset: synth (synthetic)" in _texts(at) and "never compared" in _texts(at)
    assert set(_frame(at, "health")["run_name"]) == {"tdmi-crashed", "tdmi-killed"}
    paper = _frame(at, "verified_against_tdmi_paper")
    assert {"paper", "author_notes"} <= set(paper["kind"]) and "note" in paper.columns  # every reference row, its kind
    assert "TDMI" in set(paper["method"])
    assert [m.value for m in at.metric] == [
        "1",
        "0",
        "0",
        "1",
        "1",
        "2",
    ]  # posetrack18, synth: reproduced, not, inconclusive
    groups = _frame(at, "Shoulder", "47.0 ± 1.0")
    assert groups.set_index("preset").loc["tde2", "n"] == 3
    seeds = _frame(at, "run_name", "tde2-s0")
    assert _link(workbench, "tde2-s0") in set(seeds["mlflow"])


def test_ablation_page_without_paper_ablation_rows(app) -> None:
    at = app("ablations", with_fake_rows=False)
    assert "no ablation rows yet" in _texts(at)
    assert _frame(at, "dataset", "synth").set_index("preset").loc["tde2", "verdict"] == "reproduced"


def test_per_joint_page(app, workbench: dict) -> None:
    at = app("per_joint")
    assert at.selectbox[0].value == "PoseTrack2018"  # the paper's dataset our runs are on comes first
    at.selectbox[0].set_value("PoseTrack2017").run()
    assert at.multiselect[0].value[0].startswith("tiny-fit")  # the pipeline's run first, then the ablation means
    assert not any(v.startswith("trial-") for v in at.multiselect[0].value)  # never the newest sweep trials
    table = _frame(at, "source").set_index("run")
    ours = [r for r in table.index if r.startswith("tiny-fit")]
    assert table.loc[ours[0], "Mean"] == pytest.approx(round(workbench["result"].history[-1]["val/AP/Mean"], 1))
    assert table.loc["ablation mean: tde2 [synth, n=3]", "Shoulder"] == 47.0
    assert table.loc["paper: TDMI-ST (PoseTrack2017)", "Head"] == 90.6
    assert table.loc["paper: TDMI-ST (PoseTrack2017)", "source"] == "DiffusionPose (AAAI 2026) Table 1 (secondary)"
    assert "not on PoseTrack2017" in _texts(at)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["yaxis"]["title"]["text"] == "PoseTrack AP (points)" and "yaxis2" in figure["layout"]
    at.radio[0].set_value("gap to a paper row").run()
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "our AP − " in figure["layout"]["yaxis"]["title"]["text"]
    assert _link(workbench, "tiny-fit") in set(_frame(at, "mlflow")["mlflow"])


def test_sweep_page(app, workbench: dict) -> None:
    at = app("sweep")
    study = workbench["study"]
    counts = {m.label: int(m.value) for m in at.metric}
    states = pd.Series([t.state.name.lower() for t in study.trials]).value_counts()
    assert (
        counts["complete"] == states["complete"] and counts["fail"] == 1 and counts["pruned"] == states.get("pruned", 0)
    )
    text = _texts(at)
    assert f"#{study.best_trial.number}" in text and "best val PoseTrack mAP (points, 0-100)" in text
    assert "fewer than ~20 trials" in text  # 16 trials: importances are noise
    assert at.code[0].value.strip() == workbench["override"].read_text().strip()
    trials = _frame(at, "state").set_index("trial")
    assert len(trials) == len(study.trials) and "off" in set(trials["model.mi_recon"].astype(str))
    assert trials.loc[5, "mlflow"] == _link(workbench, "trial-5")
    assert len(at.get("plotly_chart")) == 1  # one plot at a time: the others are not built
    for plot in ("optimisation history", "slices", "importances", "parallel coordinates"):
        at.segmented_control(key="plot").set_value(plot).run()
        assert not at.exception and len(at.get("plotly_chart")) == 1, plot
    assert studies.swept_params(studies.read_study(workbench["storage"], STUDY)) == [
        "model.mi_disentangle",
        "model.mi_recon",
        "model.mi_task",
        "model.tde_stages",
    ]


def test_sweep_page_on_a_multi_objective_study(app) -> None:
    at = app("sweep")
    at.selectbox[0].set_value(COST_STUDY).run()
    assert not at.exception, [e.message for e in at.exception]
    assert "training time (s)" in _texts(at) and "Pareto" in _texts(at)


def test_qualitative_page_on_a_training_run(app) -> None:
    at = app("qualitative")
    assert at.radio[1].options == ["pipeline"]  # runs grouped; the only one with predictions is the pipeline's
    captions = [c for image in at.image for c in image.captions]
    assert "green: ground truth" in captions[0] and len(captions) == 6
    people = _frame(at, "mean joint score")
    assert len(people) >= 1 and people["score"].between(0, 1).all()
    at.slider[0].set_value(1.0).run()
    drawn = sum(people["score"] >= 1.0)
    assert f"{drawn} of {len(people)} people" in [c for image in at.image for c in image.captions][0]


def test_qualitative_page_on_real_frames(app) -> None:
    at = app("qualitative")
    at.radio[0].set_value("experiments/predict.py output").run()
    assert not at.exception
    assert len(_frame(at, "mean joint score")) == len(REAL_BOXES)
    captions = [c for image in at.image for c in image.captions]
    assert len(captions) == 1 + 5 and "no ground truth" in captions[0]  # key frame + 5 clip frames
    assert captions[1:] == ["-2 (frame 0)", "-1 (frame 0)", "+0 (frame 0)", "+1 (frame 1)", "+2 (frame 2)"]


def test_empty_states_say_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TDMI_PROJECT_DIR", str(tmp_path))
    for var in ("TDMI_MLFLOW_URI", "TDMI_OPTUNA_STORAGE", "TDMI_REFERENCE_CSV", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    expected = {
        None: "dvc repro",
        "ablations": "experiments/ablate.py",
        "per_joint": "experiments/train.py",
        "sweep": "experiments/sweep.py",
        "qualitative": "experiments/train.py",
    }
    for page, hint in expected.items():
        at = AppTest.from_file(APP, default_timeout=60).run()
        if page:
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert hint in "\n".join(i.value for i in at.info), page
    assert not (tmp_path / "optuna.db").exists()  # reading never creates a store
    assert os.listdir(tmp_path) == []
