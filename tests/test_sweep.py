"""The Optuna sweep as a user runs it: real studies on SQLite and on a real PostgreSQL server
(started here on 127.0.0.1), two workers sharing one study, a SIGKILLed sweep resumed by name,
and the MLflow parent/nested runs beside it. Every trial follows the recipe: it starts from one tiny
pretrained single-frame network (made once here), frozen, for ``sweep.epochs``. Trials are tiny
(conftest's TINY_OVERRIDES)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import TINY_OVERRIDES
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.trial import TrialState

from tdmi.recipe import pretrain_spec
from tdmi.run import train
from tdmi.studies.objective import PruningCallback
from tdmi.studies.search_space import check_space, flatten_space, grid, suggest
from tdmi.studies.study import counted
from tdmi.studies.sweep import run_sweep
from tdmi.utils.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SPACE = {
    "model": {
        "tde_stages": {"type": "int", "low": 1, "high": 4},
        "mi_task": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True, "zero": True},
    }
}


def _config(*overrides: str) -> dict:
    with initialize_config_dir(str(REPO / "experiments" / "conf"), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=[*TINY_OVERRIDES, *overrides]), resolve=True)


@pytest.fixture(scope="module")
def pretrained(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Phase 1 once: ``pretrain.train_dir`` holding the tiny single-frame network's best.pt."""
    tmp = tmp_path_factory.mktemp("pretrain")
    config = _config(f"data.root={synth_root}", f"pretrain.train_dir={tmp}/pre", "pretrain.epochs=1")
    train(pretrain_spec({**config, "metrics_dir": f"{tmp}/m", "plots_dir": f"{tmp}/p"}, tmp))
    assert (tmp / "pre" / "best.pt").is_file()
    return tmp / "pre"


def tiny(synth_root: Path, tmp: Path, mlflow_uri: str, storage: str, *more: str, pretrained: Path) -> list[str]:
    return [
        sys.executable,
        str(REPO / "experiments" / "sweep.py"),
        f"data.root={synth_root}",
        *TINY_OVERRIDES,
        f"pretrain.train_dir={pretrained}",
        "sweep.epochs=2",
        "sweep.pruner.n_warmup_steps=1",  # below sweep.epochs
        f"mlflow.tracking_uri={mlflow_uri}",
        f"sweep.storage={storage}",
        f"sweep.out_dir={tmp}/out",
        f"sweep.train_dir={tmp}/trials",
        "hydra.output_subdir=null",
        *more,
    ]


def run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_space_from_config_suggests_zero_and_log_values_and_enumerates_a_grid() -> None:
    space = flatten_space(SPACE)
    assert list(space) == ["model.tde_stages", "model.mi_task"]
    check_space(space)
    off = suggest(optuna.trial.FixedTrial({"model.tde_stages": 2, "model.mi_task:on": False}), space)
    on = suggest(
        optuna.trial.FixedTrial({"model.tde_stages": 4, "model.mi_task:on": True, "model.mi_task": 3e-3}), space
    )
    assert off == {"model.tde_stages": 2, "model.mi_task": 0.0} and on == {"model.tde_stages": 4, "model.mi_task": 3e-3}
    cells = list(grid(space, points=3))
    assert len(cells) == 4 * 4 and sorted({c["model.mi_task"] for c in cells}) == pytest.approx([0.0, 1e-5, 1e-3, 1e-1])
    with pytest.raises(ValueError, match="sweep.space.model.tde_stages: zero: true is for log-scale floats"):
        check_space({"model.tde_stages": {"type": "int", "low": 1, "high": 4, "zero": True}})
    with pytest.raises(ValueError, match="type must be one of"):
        check_space({"train.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2}})


def test_pruning_callback_reports_each_epoch_and_stops_fit() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=5.0))
    trial = study.ask()
    callback = PruningCallback(trial)
    callback.on_epoch_end(1, {"train/total": 1.0})  # no validation this epoch: nothing reported
    callback.on_epoch_end(2, {"val/mAP": 9.0})
    with pytest.raises(optuna.TrialPruned, match="val/mAP 1.00 at epoch 3"):
        callback.on_epoch_end(3, {"val/mAP": 1.0})
    assert study.trials[0].intermediate_values == {2: 9.0, 3: 1.0}


def test_sweep_on_sqlite_records_every_trial_in_mlflow_and_writes_outputs(
    synth_root: Path, tmp_path: Path, pretrained: Path
) -> None:
    """A learning rate of 1e30 makes trials fail with a non-finite loss; the sweep goes on. Every
    trial starts from the pretrained network, frozen, for sweep.epochs (not train.epochs)."""
    mlflow_uri, storage = f"sqlite:///{tmp_path / 'mlruns.db'}", f"sqlite:///{tmp_path / 'optuna.db'}"
    cmd = tiny(
        synth_root,
        tmp_path,
        mlflow_uri,
        storage,
        "sweep.study=s",
        "sweep.n_trials=6",
        "train.max_nonfinite=1",
        "+sweep.space.train.lr={type:categorical,choices:[0.001,1.0e+30]}",
        "sweep.pruner.n_startup_trials=1",
        "sweep.pruner.n_warmup_steps=0",
        "sweep.space.loss.mi_motion.low=1e-2",
        "train.epochs=5",
        pretrained=pretrained,
    )
    out = run(cmd, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    study = optuna.load_study(study_name="s", storage=storage)
    states = {t.number: t.state.name for t in study.trials}
    assert len(counted(study)) == len(states) == 6 and set(states.values()) <= {"COMPLETE", "PRUNED", "FAIL"}
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and all(
        t.params["train.lr"] == 1e30 and "NonFiniteLossError" in t.user_attrs["fail_reason"] for t in failed
    )
    assert "COMPLETE" in states.values()

    mlflow.set_tracking_uri(mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["tdmi-sweep"], output_format="list")
    parents = [r for r in runs if r.data.tags.get("sweep") == "true"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    trials = {int(r.data.tags["trial_number"]): r for r in runs if "trial_number" in r.data.tags}
    assert {n: r.data.tags["state"] for n, r in trials.items()} == states
    assert all(
        r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id and r.data.tags["study_name"] == "s"
        for r in trials.values()
    )
    complete = next(n for n, s in states.items() if s == "COMPLETE")
    assert trials[complete].data.params["model.tde_stages"] == str(study.trials[complete].params["model.tde_stages"])
    history = mlflow.MlflowClient(mlflow_uri).get_metric_history(trials[complete].info.run_id, "val/mAP")
    assert [m.step for m in history] == [1, 2]  # sweep.epochs=2, whatever train.epochs says
    checkpoint = str(pretrained / "best.pt")
    for trial_run in trials.values():  # the recipe: the pretrained network, frozen
        params, tags = trial_run.data.params, trial_run.data.tags
        assert params["model.init_from"] == checkpoint and params["train.freeze_backbone"] == "True"
        assert tags["init_from"] == checkpoint and "backbone" in tags["frozen"].split(",")

    csv = (tmp_path / "out" / "trials.csv").read_text().splitlines()
    assert len(csv) == 7 and "state" in csv[0] and "params_model.tde_stages" in csv[0]
    best = study.best_trial
    assert study.user_attrs["best_overrides_file"] == str(tmp_path / "out" / "best_overrides.txt")
    assert parents[0].data.tags["best_overrides_file"] == study.user_attrs["best_overrides_file"]  # no globbing
    lines = (tmp_path / "out" / "best_overrides.txt").read_text().splitlines()
    assert f"model.tde_stages={best.params['model.tde_stages']}" in lines and f"data.root={synth_root}" in lines
    recipe = [f"model.init_from={checkpoint}", "train.freeze_backbone=true", "train.epochs=2"]
    assert lines.index("train.epochs=5") < lines.index(recipe[-1]) and set(recipe) <= set(lines)  # the last wins
    assert not any(line.startswith(("sweep.", "+sweep.", "hydra.")) for line in lines)
    assert f"optuna-dashboard {storage}" in out.stdout and f"mlflow ui --backend-store-uri {mlflow_uri}" in out.stdout

    again = run(
        tiny(synth_root, tmp_path, mlflow_uri, storage, "sweep.study=s", "sweep.n_trials=6", pretrained=pretrained),
        tmp_path,
    )
    assert (
        again.returncode == 0 and len(optuna.load_study(study_name="s", storage=storage).trials) == 6
    )  # budget spent: nothing runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1 (trust auth); yields a URL prefix to add a database name to.
    Postgres refuses to run as root, so as root it runs as the `postgres` user."""
    if not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (scripts/test_services.sh installs them)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "postgres"], check=True)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="tdmi-pg-"))  # not under pytest's 0700 tmp root: postgres must reach it
    if as_user:
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(
        [*as_user, PG_BIN / "initdb", "-D", data / "db", "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data}"
    subprocess.run(
        [*as_user, PG_BIN / "pg_ctl", "-D", data / "db", "-o", options, "-l", data / "log", "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        for name in ("optuna", "mlflow"):
            subprocess.run(
                [*as_user, PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name], check=True
            )
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, PG_BIN / "pg_ctl", "-D", data / "db", "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_two_workers_share_one_study_on_postgresql(
    postgres: str, synth_root: Path, tmp_path: Path, pretrained: Path
) -> None:
    storage, mlflow_uri = f"{postgres}/optuna", f"{postgres}/mlflow"
    optuna.storages.RDBStorage(
        storage
    )  # schemas first (what the first worker or a tracking server does), then the workers
    mlflow.MlflowClient(mlflow_uri).search_experiments()
    more = ["sweep.study=pooled", "sweep.n_trials=6", "sweep.epochs=1", "sweep.pruner.n_warmup_steps=0"]
    cmd = tiny(synth_root, tmp_path, mlflow_uri, storage, *more, pretrained=pretrained)
    workers = [
        subprocess.Popen(
            [*cmd, f"sweep.sampler.seed={i}", f"hydra.run.dir={tmp_path}/h{i}"],
            cwd=tmp_path,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [w.communicate(timeout=150)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], "\n".join(log[-2000:] for log in logs)
    trials = optuna.load_study(study_name="pooled", storage=storage).trials
    numbers = sorted(t.number for t in trials)
    assert (
        numbers == list(range(len(numbers))) and 6 <= len(numbers) <= 7
    )  # at most one over: the other worker's last trial
    assert all(t.state.is_finished() for t in trials)
    mlflow.set_tracking_uri(mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["tdmi-sweep"], output_format="list")
    assert sorted(int(r.data.tags["trial_number"]) for r in runs if "trial_number" in r.data.tags) == numbers
    assert len([r for r in runs if r.data.tags.get("sweep") == "true"]) == 1


def test_sigkilled_sweep_resumes_by_name_and_finishes_the_budget(
    synth_root: Path, tmp_path: Path, pretrained: Path
) -> None:
    """The killed trial stays RUNNING until its heartbeat goes stale; the resumed sweep fails it,
    retries its parameters, and still ends with the budget of outcomes and nothing RUNNING."""
    mlflow_uri, storage = f"sqlite:///{tmp_path / 'mlruns.db'}", f"sqlite:///{tmp_path / 'optuna.db'}"
    cmd = tiny(
        synth_root,
        tmp_path,
        mlflow_uri,
        storage,
        "sweep.study=k",
        "sweep.n_trials=3",
        "sweep.heartbeat_interval=1",
        "sweep.epochs=4",
        f"hydra.run.dir={tmp_path}/h",
        pretrained=pretrained,
    )
    worker = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240  # a loaded machine takes minutes to the first complete trial
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            states = [t.state for t in optuna.load_study(study_name="k", storage=storage).trials]
        except Exception:  # the worker has not made the study (or its tables) yet
            continue
        if TrialState.COMPLETE in states and states[-1] == TrialState.RUNNING:
            mlflow.set_tracking_uri(mlflow_uri)  # kill once the running trial's MLflow run is tagged (a race else)
            number = f"tags.trial_number = '{len(states) - 1}'"
            if mlflow.search_runs(experiment_names=["tdmi-sweep"], filter_string=number, output_format="list"):
                break
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    killed = len(states) - 1
    time.sleep(2.5)  # > the grace period (2 heartbeats)
    out = run(cmd, tmp_path, timeout=300)  # ~25 s of CPU, but minutes of wall on a loaded machine
    assert out.returncode == 0, out.stderr[-3000:]
    study = optuna.load_study(study_name="k", storage=storage)
    assert len(counted(study)) == 3 and not [t for t in study.trials if not t.state.is_finished()]
    assert study.trials[killed].state == TrialState.FAIL and "fail_reason" not in study.trials[killed].user_attrs
    retry = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retry) == 1 and retry[0].params == study.trials[killed].params
    fresh = [tuple(sorted(t.params.items())) for t in study.trials if "failed_trial" not in t.system_attrs]
    assert len(set(fresh)) == len(fresh), f"the resumed sweep repeated a parameter set: {fresh}"  # only retries repeat
    mlflow.set_tracking_uri(mlflow_uri)
    run_of_killed = mlflow.search_runs(
        experiment_names=["tdmi-sweep"], filter_string=f"tags.trial_number = '{killed}'", output_format="list"
    )
    assert [(r.info.status, r.data.tags["state"]) for r in run_of_killed] == [("KILLED", "FAIL")]
    assert math.isfinite(study.best_value)


def test_sweep_refuses_a_missing_network_and_a_pruner_that_cannot_prune(synth_root: Path, tmp_path: Path) -> None:
    """Both before the study exists: the missing network names pretrain.checkpoint and how to make it."""
    storage = tmp_path / "optuna.db"
    mlflow_uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cmd = tiny(synth_root, tmp_path, mlflow_uri, f"sqlite:///{storage}", pretrained=tmp_path / "absent")
    out = run(cmd, tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr[-3000:]
    assert out.stderr.startswith(f"error: pretrain.checkpoint='{tmp_path}/absent/best.pt': does not exist")
    assert "dvc repro pretrain" in out.stderr and not storage.exists()
    config = _config(f"data.root={synth_root}", f"sweep.storage=sqlite:///{storage}", "sweep.epochs=2")
    with pytest.raises(ConfigError, match=r"^sweep.pruner.n_warmup_steps=2: must be below sweep.epochs=2"):
        run_sweep(config, optuna.samplers.RandomSampler(), optuna.pruners.MedianPruner(n_warmup_steps=2), root=tmp_path)
    with pytest.raises(ConfigError, match=r"^sweep.epochs=0: must be an integer >= 1"):
        run_sweep({**config, "sweep": {**config["sweep"], "epochs": 0}}, None, None, root=tmp_path)
    assert not storage.exists()
