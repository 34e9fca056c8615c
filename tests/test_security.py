"""Nothing a user hands the workbench runs as code, and no password reaches a log or a run:
checkpoints load with ``weights_only=True`` (a crafted ``ckpt=`` is refused, naming the file),
and URL passwords are redacted before MLflow sees a param or tag (issue 9, items 7 and 9)."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

from tdmi.engine import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from tdmi.engine.checkpoint import rng_state, set_rng_state
from tdmi.engine.tracking import MLflowTracker
from tdmi.redact import redact

REPO = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickled, it runs ``touch <marker>``: what a crafted checkpoint does with os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _crafted(tmp: Path, kind: str) -> tuple[Path, Path]:
    """A .pt whose unpickling creates a marker file: torch.save's zip, or a protocol-2 pickle."""
    marker, path = tmp / f"ran-{kind}", tmp / f"crafted-{kind}.pt"
    state = {"model": _Payload(marker), "model_config": {}, "clip_config": {}}
    if kind == "zip":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state, protocol=2))
    return path, marker


def _unpickle_unsafely(path: Path) -> None:
    """What a plain pickle load does with the file: proves the payload is live."""
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            data = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    pickle.loads(data)


@pytest.mark.parametrize("kind", ["zip", "raw"])
def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path: Path, kind: str) -> None:
    path, marker = _crafted(tmp_path, kind)
    for load in (load_checkpoint, model_from_checkpoint):
        with pytest.raises(CheckpointError) as info:
            load(path)
        message = str(info.value)
        assert message.startswith(f"{path}: refused") and "\n" not in message, message
    assert not marker.exists()
    _unpickle_unsafely(path)
    assert marker.exists(), "the payload is inert: this test would prove nothing"


def test_evaluate_refuses_a_crafted_checkpoint_in_one_line(synth_root: Path, tmp_path: Path) -> None:
    path, marker = _crafted(tmp_path, "zip")
    cmd = [
        sys.executable,
        "experiments/evaluate.py",
        f"ckpt={path}",
        f"data.root={synth_root}",
        f"eval_dir={tmp_path / 'eval'}",
        f"metrics_dir={tmp_path / 'metrics'}",
        f"plots_dir={tmp_path / 'plots'}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and not marker.exists()
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {path}: refused: holds more than tensors and plain Python types "
        f"(unsupported global posix.system); loading it could run code"
    ], out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "metrics").exists()


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    random.seed(1), np.random.seed(2), np.random.randn()  # a cached Gaussian is part of the state
    path = save_checkpoint({"rng": rng_state()}, tmp_path / "rng.pt")
    first = (random.random(), np.random.rand(3).tolist(), np.random.randn(), torch.rand(2).tolist())
    set_rng_state(load_checkpoint(path)["rng"])
    again = (random.random(), np.random.rand(3).tolist(), np.random.randn(), torch.rand(2).tolist())
    assert again == first


def test_no_unsafe_torch_load_anywhere_in_the_repo() -> None:
    unsafe = "weights_only=" + "False"  # split so that this file does not match itself
    out = subprocess.run(
        ["git", "grep", "-n", "--untracked", "-e", unsafe, "--", ".", ":!.github"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and out.stdout == "", out.stdout  # 1: no match


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://user:secret@127.0.0.1/db", "postgresql://user:***@127.0.0.1/db"),
        ("postgresql+psycopg2://u:p:a/ss@h:5432/optuna", "postgresql+psycopg2://u:***@h:5432/optuna"),
        ("postgresql://:secret@h/db", "postgresql://:***@h/db"),
        ("postgresql://h/db?user=u&password=secret&x=1", "postgresql://h/db?user=u&password=***&x=1"),
        ("['a://u:secret@h', 'b://v:secret@k']", "['a://u:***@h', 'b://v:***@k']"),
        ("sqlite:////tmp/optuna.db", "sqlite:////tmp/optuna.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_removes_url_passwords_and_nothing_else(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_tracked_config_and_tags_never_hold_a_password(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    url = "postgresql://user:secret@127.0.0.1/db"
    config = {"sweep": {"storage": url, "study": "s"}, "mlflow": {"tracking_uri": "http://u:secret@h:5000"}}
    with MLflowTracker("redact-test", uri) as tracker:
        tracker.log_config(config)
        tracker.set_tags("f" * 16, "cpu", "tdmi", optuna_storage=url)
        resumed = {**config, "sweep": {"storage": url.replace("db", "db2")}}
        tracker.log_config(resumed)  # a changed value on a reopened run becomes a tag
    run = mlflow.MlflowClient(uri).get_run(tracker.run_id)
    values = {**run.data.params, **run.data.tags}
    assert not [k for k, v in values.items() if "secret" in v]
    assert run.data.params["sweep.storage"] == "postgresql://user:***@127.0.0.1/db"
    assert run.data.tags["resumed.sweep.storage"] == "postgresql://user:***@127.0.0.1/db2"
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=REPO).returncode != 0
    assert run.data.tags["git_dirty"] == str(dirty).lower()
