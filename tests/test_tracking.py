"""MLflow tracking against a real local store and a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

from tdmi.engine.tracking import MLflowTracker, artifact_location, resolve_tracking_uri
from tdmi.engine.train import FitResult
from tdmi.utils import flatten

HISTORY = [
    {"epoch": 1, "lr": 1e-3, "train/heatmap": 0.02, "train/total": 0.03, "val/mAP": 10.0, "val/AP/Ankle": float("nan")},
    {"epoch": 2, "lr": 5e-4, "train/heatmap": 0.01, "train/total": 0.02, "val/mAP": 20.0, "val/AP/Ankle": 5.0},
]


def test_tracking_uri_comes_from_config_then_environment_then_the_project_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Never the package's folder: paths.root, else $TDMI_ROOT, else the working directory."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("TDMI_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlruns.db'}"
    monkeypatch.setenv("TDMI_ROOT", str(tmp_path / "project"))
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'project' / 'mlruns.db'}"
    assert resolve_tracking_uri(None, "/x") == "sqlite:////x/mlruns.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri() == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:////x/y.db") == "sqlite:////x/y.db"
    assert artifact_location("sqlite:////x/y.db") == "file:///x/mlartifacts" and artifact_location("http://h") is None
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2], "d": None}
    assert flatten({"val": {"AP": {"Head": 80.0}}}, "/") == {"val/AP/Head": 80.0}


def _log_run(uri: str, tmp_path: Path) -> str:
    (tmp_path / "best.pt").write_bytes(b"checkpoint")
    (tmp_path / "per_joint.csv").write_text("name,Head\n")
    result = FitResult(
        history=HISTORY,
        out_dir=tmp_path,
        best_epoch=2,
        best_metric=20.0,
        files={"best": tmp_path / "best.pt", "per_joint": tmp_path / "per_joint.csv"},
    )
    with MLflowTracker("tracking-test", uri, run_name="tiny") as tracker:  # as tdmi.run.train tracks
        tracker.log_config({"model": {"preset": "tdmi", "tde_stages": 3}, "train": {"lr": 1e-3}})
        tracker.set_tags("abc123", "cpu", "tdmi")
        for row in HISTORY:
            tracker.on_epoch_end(row["epoch"], row)
        tracker.log_result(result)
    return tracker.run_id


def _check_run(uri: str, run_id: str) -> None:
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["tracking-test"], output_format="list")
    assert [r.info.run_id for r in runs] == [run_id] and runs[0].info.status == "FINISHED"
    run = runs[0]
    assert run.data.params == {"model.preset": "tdmi", "model.tde_stages": "3", "train.lr": "0.001"}
    assert run.data.tags["data_fingerprint"] == "abc123" and run.data.tags["device"] == "cpu"
    assert run.data.tags["preset"] == "tdmi" and run.data.tags["torch_version"] and run.data.tags["git_commit"]
    client = mlflow.MlflowClient(uri)
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val/mAP")] == [(1, 10.0), (2, 20.0)]
    assert [m.step for m in client.get_metric_history(run_id, "val/AP/Ankle")] == [2]  # NaN not logged
    assert run.data.metrics["best/mAP"] == 20.0 and run.data.metrics["best/AP/Ankle"] == 5.0  # the best epoch's
    paths = {f.path for folder in ("checkpoints", "metrics", "plots") for f in client.list_artifacts(run_id, folder)}
    assert paths == {"checkpoints/best.pt", "metrics/per_joint.csv", "plots/learning_curve.png"}


def test_run_in_a_local_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    _check_run(uri, _log_run(uri, tmp_path))
    assert (tmp_path / "mlartifacts").is_dir()


def test_run_on_a_real_mlflow_server(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the job consumers it forks are stopped with it
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # about 60 s on a loaded 2-core machine
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                if urllib.request.urlopen(f"{uri}/health", timeout=1).status == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server did not answer /health within 180 s"
                time.sleep(0.2)
        _check_run(uri, _log_run(uri, tmp_path))
        assert any((tmp_path / "artifacts").rglob("learning_curve.png"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
