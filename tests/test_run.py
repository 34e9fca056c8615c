"""tdmi/run.py, the one training seam: config checks that name the key (exit 2 from every entry
point), the resume policy (a changed config never resumes another run), writes that survive a
full disk, and a study name that could break an MLflow filter refused before anything exists."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import pytest
from conftest import TINY_OVERRIDES
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import tdmi.engine.train
from tdmi.engine import load_checkpoint
from tdmi.engine.tracking import MLflowTracker
from tdmi.inference import PredictSpec
from tdmi.losses import MI_TERMS
from tdmi.run import RunSpec, train
from tdmi.utils.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "experiments" / "conf"
TINY = [*TINY_OVERRIDES, "train.epochs=1"]


def run_entry_point(script: str, *overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``experiments/<script>`` with Hydra's outputs in ``tmp_path``, one intra-op thread."""
    return subprocess.run(
        [
            sys.executable,
            f"experiments/{script}",
            *overrides,
            f"hydra.run.dir={tmp_path}/h",
            "hydra.output_subdir=null",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _config(*overrides: str) -> dict:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def _spec(tmp: Path, root: Path, *overrides: str, files: bool = False) -> RunSpec:
    paths = [
        f"data.root={root}",
        f"train_dir={tmp / 'run'}",
        f"metrics_dir={tmp / 'metrics'}",
        f"plots_dir={tmp / 'plots'}",
    ]
    return RunSpec.from_dict(_config(*TINY, *paths, *overrides), tmp, files=files)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=abc", "train.epochs='abc': must be an integer"),
        ("train.batch_size=2.5", "train.batch_size=2.5: must be an integer"),
        ("model.tde_stages=2.7", "model.tde_stages=2.7: must be an integer"),
        ("train.steps_per_epoch=0", "train.steps_per_epoch=0: must be an integer >= 1, or null"),
        (f"loss.{MI_TERMS[0]}=-0.5", f"loss.{MI_TERMS[0]}=-0.5: must be a weight >= 0"),
        ("loss.mi_tau=fast", "loss.mi_tau='fast': must be a number"),
        ("train.clip.sigma=0", "train.clip.sigma=0: must be a number > 0"),
        ("train.schedule=linear", "train.schedule='linear': must be one of ('cosine', 'step')"),
        ("train.lr=-1", "train.lr=-1: must be a number > 0"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _spec(tmp_path, tmp_path, override)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_default_experiment_is_the_default_composition() -> None:
    """experiment/cpu_default.yaml says what `dvc repro` trains; it must not drift from it."""
    assert _config("experiment=cpu_default") == _config()


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("train.py", ["train.epochs=abc"], "error: train.epochs='abc': must be an integer"),
        ("ablate.py", ["ablate.presets=[nope]"], "error: ablate.presets=['nope']: must be presets of"),
        ("evaluate.py", ["ckpt=absent.pt"], "absent.pt: no such checkpoint file"),
        ("predict.py", ["ckpt=absent.pt", "frames=."], "absent.pt: no such checkpoint file"),
    ],
)
def test_entry_points_print_one_line_and_exit_2(tmp_path: Path, script: str, args: list[str], message: str) -> None:
    out = run_entry_point(script, *args, f"paths.root={tmp_path}", tmp_path=tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_a_changed_config_never_resumes_a_finished_run(synth_root: Path, tmp_path: Path) -> None:
    """Before: `train.lr=0.05` "resumed" the finished run and reported its mAP; `model.tde_stages`
    crashed on load_state_dict and turned the finished MLflow run FAILED."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    spec = _spec(tmp_path, synth_root)
    first = train(spec, MLflowTracker("resume-policy", uri))
    stages = 1 if spec.model.tde_stages != 1 else 2
    for override, differs in (
        ("train.lr=0.05", f"train.lr: {spec.train.lr} -> 0.05"),
        (f"model.tde_stages={stages}", f"model.tde_stages: {spec.model.tde_stages} -> {stages}"),
    ):
        with pytest.raises(ConfigError, match="its last.pt was trained with another config") as err:
            train(_spec(tmp_path, synth_root, override), MLflowTracker("resume-policy", uri))
        assert f"train_dir='{spec.out_dir}'" in str(err.value) and differs in str(err.value)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["resume-policy"], output_format="list")
    assert [(r.info.run_id, r.info.status) for r in runs] == [(first.run_id, "FINISHED")]

    again = train(spec, MLflowTracker("resume-policy", uri))  # the same config: the finished run, nothing trained
    assert again.run_id == first.run_id and again.history == first.history
    elsewhere = train(replace(_spec(tmp_path, synth_root, "train.lr=0.05"), out_dir=tmp_path / "lr"))
    assert elsewhere.history[0]["lr"] == 0.05


@pytest.mark.parametrize("full", ["best.pt", "last.pt"])
def test_a_full_disk_at_any_checkpoint_leaves_a_resumable_run(
    synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: str
) -> None:
    """Before: last.pt was written first, so ENOSPC on best.pt left a run whose best epoch had no
    file: every resume "finished" at once and train.json named a best.pt that did not exist."""
    spec = _spec(tmp_path, synth_root, files=True)
    save = tdmi.engine.train.save_checkpoint

    def disk_full(state: dict, path: Path) -> Path:
        if Path(path).name == full:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return save(state, path)

    monkeypatch.setattr(tdmi.engine.train, "save_checkpoint", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train(spec)
    assert not spec.metrics_file.exists()
    monkeypatch.undo()
    spec.out_dir.mkdir(exist_ok=True)
    (spec.out_dir / ".last.pt.killed.tmp").write_bytes(b"half a checkpoint")  # what a kill mid-save leaves

    result = train(spec)
    metrics = json.loads(spec.metrics_file.read_text())
    best = load_checkpoint(spec.out_dir / "best.pt")
    assert metrics["best_epoch"] == result.best_epoch == best["progress"]["best_epoch"] == 1
    assert load_checkpoint(spec.out_dir / "last.pt")["progress"]["epoch"] == 1
    assert not list(spec.out_dir.glob(".*.tmp"))


def test_a_study_name_with_a_quote_is_refused_before_anything_is_created(synth_root: Path, tmp_path: Path) -> None:
    storage, uri = tmp_path / "optuna.db", tmp_path / "mlruns.db"
    out = run_entry_point(
        "sweep.py",
        'sweep.study="it\'s"',
        f"data.root={synth_root}",
        f"sweep.storage=sqlite:///{storage}",
        f"mlflow.tracking_uri=sqlite:///{uri}",
        tmp_path=tmp_path,
    )
    assert out.returncode == 2 and 'error: sweep.study="it\'s": must be letters, digits' in out.stderr, out.stderr[
        -2000:
    ]
    assert not storage.exists() and not uri.exists()


def test_relative_paths_and_stores_are_under_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """paths.root, else $TDMI_ROOT, else the working directory: never the installed package's folder."""
    from tdmi.engine.tracking import resolve_tracking_uri
    from tdmi.studies.study import resolve_storage

    monkeypatch.delenv("TDMI_ROOT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    config = _config(*TINY)
    here, env = tmp_path.resolve(), tmp_path.resolve() / "env"
    spec = RunSpec.from_dict(config, files=True)
    assert spec.out_dir == here / config["train_dir"] and spec.metrics_file == here / "metrics" / "train.json"
    assert spec.data_root == here / config["data"]["root"]
    assert (resolve_tracking_uri(), resolve_storage()) == (f"sqlite:///{here}/mlruns.db", f"sqlite:///{here}/optuna.db")
    monkeypatch.setenv("TDMI_ROOT", str(env))
    assert RunSpec.from_dict(config).out_dir == env / config["train_dir"]
    assert resolve_storage() == f"sqlite:///{env}/optuna.db"
    assert RunSpec.from_dict(config, tmp_path / "given").out_dir == here / "given" / config["train_dir"]


def test_predict_spec_checks_the_composed_config(tmp_path: Path) -> None:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        base = OmegaConf.to_container(compose("predict", overrides=["frames=clips/a"]), resolve=True)
    spec = PredictSpec.from_dict({**base, "ckpt": "run/best.pt"}, tmp_path)
    assert (spec.checkpoint, spec.source, spec.out_dir) == (
        tmp_path / "run" / "best.pt",
        tmp_path / "clips" / "a",
        tmp_path / "outputs" / "predict" / "latest",
    )
    assert not spec.annotated and spec.detections is None and spec.batch_size == 16
    for bad, message in [
        ({}, "ckpt='???': must be a checkpoint path"),
        ({"ckpt": "x.pt", "annotations": "a.json"}, "frames='clips/a': give exactly one of frames=DIR or annotations"),
        ({"ckpt": "x.pt", "frames": None}, "frames=None: give exactly one of"),
        ({"ckpt": "x.pt", "batch_size": 0}, "batch_size=0: must be an integer >= 1"),
    ]:
        with pytest.raises(ConfigError) as err:
            PredictSpec.from_dict({**base, **bad}, tmp_path)
        assert str(err.value).startswith(message)
