"""Training engine: configs, checkpoints, non-finite losses, a real SIGKILL + resume, the entry point."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
from conftest import TINY_OVERRIDES
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn

from tdmi.data.clips import ClipConfig, PoseTrackClips
from tdmi.data.posetrack import load_posetrack
from tdmi.engine import (
    NonFiniteLossError,
    PoseTrackEvaluator,
    TrainConfig,
    fit,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)
from tdmi.engine.checkpoint import rng_state, set_rng_state
from tdmi.engine.tracking import MLflowTracker
from tdmi.engine.train import _Step, unused_parameters
from tdmi.losses import build_loss
from tdmi.models.presets import preset_configs
from tdmi.models.tdmi import build_model
from tdmi.run import RunSpec
from tdmi.utils.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "experiments" / "conf"

CLIP = ClipConfig(input_size=(48, 64))
TINY_MODEL = {"tiny_width": 8, "head_dilations": (3,), "mi_hidden": 16, "mi_dim": 8}
TINY = TINY_OVERRIDES


def _compose(overrides: list[str]):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides)


def _spec(overrides: list[str]) -> RunSpec:
    return RunSpec.from_dict(OmegaConf.to_container(_compose(overrides), resolve=True), REPO)


def _tiny(preset: str = "tdmi") -> tuple[nn.Module, nn.Module]:
    seed_everything(0)
    model_cfg, loss_cfg = preset_configs(preset, **TINY_MODEL)
    model = build_model(model_cfg)
    return model, build_loss(loss_cfg, model)


def _sets(root: Path) -> tuple[PoseTrackClips, PoseTrackClips]:
    """All training clips; the first validation video only (validation dominates a tiny epoch)."""
    return (
        PoseTrackClips(load_posetrack(root / "annotations" / "train"), CLIP, train=True),
        PoseTrackClips(load_posetrack(root / "annotations" / "val")[:1], CLIP),
    )


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_config_builds(experiment: str) -> None:
    spec = _spec([f"experiment={experiment}"])
    assert spec.model.tde_stages == 3 and spec.train.epochs >= 1
    if experiment.endswith("_w48"):
        assert spec.model.backbone == "hrnet_w48" and spec.clip.input_size == (288, 384) and spec.train.amp == "bf16"


def test_checkpoint_write_is_atomic_and_rng_state_round_trips(tmp_path: Path) -> None:
    path = save_checkpoint({"w": torch.arange(3), "rng": rng_state()}, tmp_path / "c.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    state = load_checkpoint(path)["rng"]
    first = (torch.rand(3), torch.randint(0, 9, (3,)))
    set_rng_state(state)
    assert all(torch.equal(a, b) for a, b in zip(first, (torch.rand(3), torch.randint(0, 9, (3,))), strict=True))


@pytest.mark.parametrize(
    ("preset", "unused"), [("rdm", True), ("mi_multimodal", True), ("mi_motion", False), ("tdmi", False)]
)
def test_probe_finds_the_parts_a_preset_leaves_without_gradient(synth_root: Path, preset: str, unused: bool) -> None:
    """RDM's noisy gate is read only by the mi_motion group: DDP must search without it."""
    step = _Step(*_tiny(preset))
    before = {k: v.clone() for k, v in step.state_dict().items()}
    names = unused_parameters(step, _sets(synth_root)[0][0], torch.device("cpu"))
    assert bool(names) == unused and all(".rdm.noisy." in n for n in names)
    assert all(torch.equal(v, before[k]) for k, v in step.state_dict().items()), "probe changed the state"
    assert all(p.grad is None for p in step.parameters())


class _Poisoned(nn.Module):
    """The real loss, with its last MI term (after "heatmap", before "total") made NaN on the calls listed."""

    def __init__(self, loss: nn.Module, bad_calls: set[int]):
        super().__init__()
        self.loss, self.bad_calls, self.calls, self.term = loss, bad_calls, 0, None

    def forward(self, outputs, target, weight):
        self.calls += 1
        terms = self.loss(outputs, target, weight)
        self.term = [k for k in terms if k not in ("heatmap", "total")][-1]
        if self.calls in self.bad_calls:
            terms[self.term] = terms[self.term] * float("nan")
            terms["total"] = terms["total"] + terms[self.term]
        return terms


def test_non_finite_losses_are_skipped_then_stop_the_run(synth_root: Path, tmp_path: Path) -> None:
    train_set, _ = _sets(synth_root)
    cfg = TrainConfig(epochs=1, batch_size=2, steps_per_epoch=3, max_nonfinite=2, progress=False)
    model, loss = _tiny()
    result = fit(model, _Poisoned(loss, {2}), train_set, None, cfg, tmp_path / "a")
    assert result.skipped_steps == 1 and result.history[0]["train/skipped"] == 1
    model, loss = _tiny()
    poisoned = _Poisoned(loss, {2, 3})
    with pytest.raises(NonFiniteLossError, match=r"was nan at step 3 \(epoch 1, batch 3\)") as err:
        fit(model, poisoned, train_set, None, cfg, tmp_path / "b")
    assert f"loss term {poisoned.term!r} was nan" in str(err.value)


def test_fit_bf16_channels_last_validates_and_callbacks_can_stop(synth_root: Path, tmp_path: Path) -> None:
    train_set, val_set = _sets(synth_root)
    cfg = TrainConfig(
        epochs=3,
        batch_size=4,
        steps_per_epoch=2,
        amp="bf16",
        channels_last=True,
        schedule="step",
        lr_steps=(1,),
        val_every=2,
        progress=False,
    )
    seen = []

    class Prune:
        def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
            seen.append(dict(metrics))
            if epoch == 2:
                raise RuntimeError("pruned")

    model, loss = _tiny("tde1")
    with pytest.raises(RuntimeError, match="pruned"):
        fit(model, loss, train_set, PoseTrackEvaluator.for_training(val_set, cfg), cfg, tmp_path, [Prune()])
    assert [m["epoch"] for m in seen] == [1, 2] and "val/mAP" not in seen[0] and 0 <= seen[1]["val/mAP"] <= 100
    assert seen[1]["lr"] == pytest.approx(1e-4) and seen[0]["train/clips_per_s"] > 0
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["progress"]["epoch"] == 2 and load_checkpoint(tmp_path / "best.pt")["progress"]["best_epoch"] == 2
    assert json.loads((tmp_path / "predictions.json").read_text())["annotations"]
    assert (tmp_path / "per_joint.csv").read_text().startswith("name,Head,")


def test_zero_epochs_records_the_starting_network_as_is(synth_root: Path, tmp_path: Path) -> None:
    train_set, val_set = _sets(synth_root)
    cfg = TrainConfig(epochs=0, batch_size=2, progress=False)
    model, loss = _tiny("single_frame")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    evaluator = PoseTrackEvaluator.for_training(val_set, cfg)
    result = fit(model, loss, train_set, evaluator, cfg, tmp_path)
    assert result.best_epoch == 0 and [row["epoch"] for row in result.history] == [0]
    assert (
        result.best_metric
        == result.history[0]["val/mAP"]
        == evaluator(model, torch.device("cpu"), contextlib.nullcontext()).metrics["mAP"]
    )
    assert all(torch.equal(before[k], v) for k, v in load_checkpoint(tmp_path / "best.pt")["model"].items())
    with pytest.raises(ConfigError, match="train.epochs"):
        TrainConfig(epochs=-1)


def _train(tmp: Path, name: str, root: Path, *extra: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "experiments/train.py",
        *TINY,
        f"data.root={root}",
        "train.epochs=2",
        "train.deterministic=true",
        f"train_dir={tmp / name}",
        f"metrics_dir={tmp / name / 'metrics'}",
        f"plots_dir={tmp / name / 'plots'}",
        f"hydra.run.dir={tmp / name / 'hydra'}",
        *extra,
    ]
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _wait(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def test_killed_run_resumes_to_the_same_weights_and_mlflow_run(synth_root: Path, tmp_path: Path) -> None:
    """Run A uninterrupted; run B (tracked) SIGKILLed after its first checkpoint, then resumed."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    tracked = [f"mlflow.tracking_uri={uri}", "mlflow.experiment=resume-test"]
    a = _train(tmp_path, "a", synth_root, "mlflow.enabled=false")
    b = _train(tmp_path, "b", synth_root, *tracked)
    last = tmp_path / "b" / "last.pt"
    while not last.exists() and b.poll() is None:
        time.sleep(0.02)
    b.send_signal(signal.SIGKILL)
    b.wait()
    assert b.returncode == -signal.SIGKILL and load_checkpoint(last)["progress"]["epoch"] == 1
    _wait(_train(tmp_path, "b", synth_root, *tracked))
    _wait(a)
    ckpt_a, ckpt_b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(last)
    assert ckpt_b["progress"]["epoch"] == 2
    for part in ("model", "loss"):
        for key, value in ckpt_a[part].items():
            assert torch.equal(value, ckpt_b[part][key]), f"{part}.{key} differs after resume"
    assert ckpt_a["progress"]["history"][-1]["val/mAP"] == ckpt_b["progress"]["history"][-1]["val/mAP"]

    metrics = json.loads((tmp_path / "a" / "metrics" / "train.json").read_text())
    assert metrics["epochs"] == 2 and metrics["best_epoch"] in (1, 2)
    assert (
        (tmp_path / "a" / "plots" / "learning_curve.csv")
        .read_text()
        .splitlines()[0]
        .startswith("epoch,lr,train/heatmap")
    )
    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(experiment_names=["resume-test"], output_format="list")  # one run for both parts
    assert run.info.run_id == ckpt_b["mlflow_run_id"] and run.info.status == "FINISHED"
    assert run.data.params["preset"] == "tdmi_scaled" and run.data.params["train.epochs"] == "2"
    assert run.data.tags["preset"] == "tdmi_scaled" and len(run.data.tags["data_fingerprint"]) == 16
    assert any(k.startswith("best/AP/") for k in run.data.metrics)  # as sweep trials and ablation cells log them
    assert json.loads((tmp_path / "b" / "metrics" / "train.json").read_text())["run_id"] == run.info.run_id
    history = mlflow.MlflowClient(uri).get_metric_history(run.info.run_id, "val/mAP")
    assert [(m.step, m.value) for m in history] == [
        (row["epoch"], row["val/mAP"]) for row in ckpt_b["progress"]["history"]
    ]
    artifacts = {f.path for f in mlflow.MlflowClient(uri).list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/learning_curve.png"}


def test_reopened_run_keeps_its_params_and_gets_the_epochs_it_missed(tmp_path: Path) -> None:
    """A kill between an epoch's checkpoint and its metrics: the resume logs that epoch once."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    history = [{"epoch": e, "lr": 1e-3 / e, "val/mAP": 10.0 * e} for e in (1, 2, 3)]
    with MLflowTracker("reopen-test", uri) as first:
        first.log_config({"train": {"epochs": 2}})
        first.on_epoch_end(1, history[0])
    with MLflowTracker("reopen-test", uri, run_id=first.run_id) as again:
        again.log_config({"train": {"epochs": 3}, "seed": 0})
        again.log_missing_epochs(history[:2])
        again.on_epoch_end(3, history[2])
    assert again.run_id == first.run_id
    run = mlflow.MlflowClient(uri).get_run(first.run_id)
    assert run.data.params == {"train.epochs": "2", "seed": "0"} and run.data.tags["resumed.train.epochs"] == "3"
    assert [m.step for m in mlflow.MlflowClient(uri).get_metric_history(first.run_id, "val/mAP")] == [1, 2, 3]
    with MLflowTracker("reopen-test", uri, run_id="0" * 32) as elsewhere:  # a checkpoint from another store
        assert elsewhere.run_id != "0" * 32


def test_bad_override_gives_hydra_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "experiments/train.py", "preset=tdmi9", f"hydra.run.dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "tdmi9" in out.stderr and "Traceback" not in out.stderr
