"""The authors' two-phase recipe through the run seam (tdmi/run.py): a single-frame network trained
first, loaded with ``model.init_from`` and frozen with ``train.freeze_backbone``; a TDMI built on it
predicts what it predicts before its first step, and the frozen tensors never move."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
from conftest import TINY_OVERRIDES
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tdmi.data.clips import PoseTrackClips, normalize_clips
from tdmi.data.datasets import load_dataset
from tdmi.engine import load_checkpoint
from tdmi.engine.checkpoint import model_from_checkpoint
from tdmi.engine.tracking import MLflowTracker
from tdmi.models.tdmi import build_model
from tdmi.recipe import pretrain_spec, temporal_config
from tdmi.run import RunSpec, init_single_frame, train
from tdmi.utils.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
TINY = [*TINY_OVERRIDES, "train.epochs=1"]


def _spec(tmp: Path, data: Path, name: str, *overrides: str) -> RunSpec:
    with initialize_config_dir(str(REPO / "experiments" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*TINY, f"data.root={data}", f"train_dir={tmp / name}", *overrides])
    return RunSpec.from_dict(OmegaConf.to_container(cfg, resolve=True), tmp)


@pytest.fixture(scope="module")
def single_frame(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Phase 1: a (tiny) single-frame network's best.pt."""
    tmp = tmp_path_factory.mktemp("pretrain")
    train(_spec(tmp, synth_root, "sf", "preset=single_frame"))
    return tmp / "sf" / "best.pt"


def test_init_from_and_freeze_errors_name_the_key(synth_root: Path, tmp_path: Path, single_frame: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model.init_from='absent.pt': does not exist: run the pretrain stage"):
        _spec(tmp_path, synth_root, "a", "model.init_from=absent.pt")
    with pytest.raises(ConfigError, match=r"^train.freeze_backbone=True: needs model.init_from"):
        _spec(tmp_path, synth_root, "a", "train.freeze_backbone=true")
    torch.save({"model": {"other.weight": torch.zeros(3)}}, tmp_path / "other.pt")
    spec = _spec(tmp_path, synth_root, "b", f"model.init_from={tmp_path / 'other.pt'}", "train.freeze_backbone=true")
    with pytest.raises(ConfigError, match=r"holds no tensor of the single-frame network"):
        train(spec)
    assert not (tmp_path / "b").exists()  # stopped before anything was written
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"text.pt': is not a readable checkpoint"):
        train(_spec(tmp_path, synth_root, "c", f"model.init_from={tmp_path / 'text.pt'}"))


def test_tdmi_on_the_pretrained_network_starts_from_its_predictions(
    synth_root: Path, tmp_path: Path, single_frame: Path
) -> None:
    spec = _spec(tmp_path, synth_root, "tdmi", f"model.init_from={single_frame}", "train.freeze_backbone=true")
    clips = PoseTrackClips(load_dataset("posetrack", synth_root, "val"), spec.clip)
    batch = torch.utils.data.default_collate([clips[i] for i in range(4)])
    frames = normalize_clips(batch["clip"])
    sf_model = model_from_checkpoint(single_frame)[0].eval()
    model = build_model(spec.model)
    tags = init_single_frame(model, spec)
    assert tags["frozen"] == "backbone,head" and tags["init_missing"] == "0" and int(tags["init_loaded"]) > 0
    key = frames.shape[1] // 2
    with torch.no_grad():
        expected = sf_model(frames[:, key : key + 1].expand_as(frames))["heatmaps"]
        assert torch.equal(model.eval()(frames)["heatmaps"], expected)
        assert torch.equal(model.train()(frames)["heatmaps"], expected)  # frozen BN: training mode too


def test_frozen_tensors_are_bit_equal_after_training_and_the_run_records_the_recipe(
    synth_root: Path, tmp_path: Path, single_frame: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    spec = _spec(
        tmp_path, synth_root, "tdmi", f"model.init_from={single_frame}", "train.freeze_backbone=true", "train.lr=0.01"
    )
    result = train(spec, MLflowTracker("recipe", uri))
    before = load_checkpoint(single_frame)["model"]
    after = load_checkpoint(tmp_path / "tdmi" / "last.pt")["model"]
    frozen = [k for k in before if k.startswith(("backbone.", "head."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # weights and BN statistics
    assert not torch.equal(after["aggregate.zero.weight"], torch.zeros_like(after["aggregate.zero.weight"]))
    run = mlflow.MlflowClient(uri).get_run(result.run_id)
    assert run.data.tags["init_from"] == str(single_frame) and run.data.tags["frozen"] == "backbone,head"
    assert run.data.params["train.freeze_backbone"] == "True" and run.data.params["model.init_from"] == str(
        single_frame
    )
    # another starting network is another run: its identity holds the checkpoint's digest
    assert spec.identity("x")["init"]["freeze_backbone"] is True and len(spec.identity("x")["init"]["digest"]) == 16


def test_single_frame_on_its_own_checkpoint_keeps_its_head_learning(
    synth_root: Path, tmp_path: Path, single_frame: Path
) -> None:
    """The same recipe for the baseline: frozen backbone, the head is all there is to learn."""
    spec = _spec(
        tmp_path,
        synth_root,
        "sf2",
        "preset=single_frame",
        f"model.init_from={single_frame}",
        "train.freeze_backbone=true",
    )
    model = build_model(spec.model)
    assert init_single_frame(model, spec)["frozen"] == "backbone"
    assert all(p.requires_grad for p in model.head.parameters())
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_a_pose_networks_own_names_load_into_the_backbone_and_its_head_learns(
    synth_root: Path, tmp_path: Path, single_frame: Path
) -> None:
    """A pose HRNet's checkpoint has no "backbone." prefix and no head of ours: the backbone loads
    and freezes, the head stays trainable."""
    state = load_checkpoint(single_frame)["model"]
    plain = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    torch.save({"state_dict": {f"module.{k}": v for k, v in plain.items()}}, tmp_path / "pose.pth")
    spec = _spec(tmp_path, synth_root, "t", f"model.init_from={tmp_path / 'pose.pth'}", "train.freeze_backbone=true")
    model = build_model(spec.model)
    tags = init_single_frame(model, spec)
    assert tags["frozen"] == "backbone" and int(tags["init_loaded"]) == len(plain)
    assert all(torch.equal(model.state_dict()[f"backbone.{k}"], v) for k, v in plain.items())
    assert all(p.requires_grad for p in model.head.parameters())


def test_pretrain_is_skipped_for_a_given_network_and_refuses_a_missing_one(tmp_path: Path, single_frame: Path) -> None:
    def pretrain(checkpoint: Path) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(REPO / "experiments" / "pretrain.py"), f"pretrain.checkpoint={checkpoint}",
               f"pretrain.train_dir={tmp_path / 'pre'}", f"metrics_dir={tmp_path / 'm'}", "mlflow.enabled=false",
               f"hydra.run.dir={tmp_path / 'h'}", "hydra.output_subdir=null"]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)

    missing = pretrain(tmp_path / "absent.pth")
    assert (
        missing.returncode == 2
        and "error: pretrain.checkpoint=" in missing.stderr
        and "does not exist" in missing.stderr
    )
    assert not (tmp_path / "m").exists()
    given = pretrain(single_frame)
    assert given.returncode == 0, given.stderr[-2000:]
    assert json.loads((tmp_path / "m" / "pretrain.json").read_text()) == {
        "skipped": True,
        "checkpoint": str(single_frame),
    }
    assert (tmp_path / "pre" / "SKIPPED").is_file() and not (tmp_path / "pre" / "best.pt").exists()


def test_phase_one_has_its_own_budget_and_phase_two_the_train_settings(tmp_path: Path) -> None:
    """pretrain.lr / pretrain.steps_per_epoch replace train's in phase 1 only; phase 2 keeps train's."""
    with initialize_config_dir(str(REPO / "experiments" / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "train.lr=0.003",
                "train.steps_per_epoch=60",
                "pretrain.lr=0.0005",
                "pretrain.steps_per_epoch=7",
            ],
        )
    config = OmegaConf.to_container(cfg, resolve=True)
    phase1 = pretrain_spec(config, tmp_path)
    assert (phase1.train.lr, phase1.train.steps_per_epoch, phase1.train.epochs) == (
        0.0005,
        7,
        config["pretrain"]["epochs"],
    )
    assert phase1.preset == "single_frame" and phase1.init_from is None and not phase1.freeze_backbone
    phase2 = temporal_config(config)
    assert (phase2["train"]["lr"], phase2["train"]["steps_per_epoch"]) == (0.003, 60)
    assert phase2["model"]["init_from"] == config["pretrain"]["checkpoint"] and phase2["train"]["freeze_backbone"]
