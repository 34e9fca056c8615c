"""Shared fixtures: the real PoseTrack18 sample (vendored under tests/data) and a tiny synthetic set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tdmi.data.synth import SynthConfig, generate

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "data" / "posetrack18_sample"  # 1.4 MB, Apache-2.0: see its SOURCE.md


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


# Hydra overrides for a tiny model and a two-step epoch: the entry-point and run-seam tests share them.
TINY_OVERRIDES = [
    "model.tiny_width=8",
    "model.head_dilations=[3]",
    "loss.mi_hidden=16",
    "loss.mi_dim=8",
    "train.clip.input_size=[48,64]",
    "train.batch_size=8",
    "train.steps_per_epoch=2",
    "pretrain.steps_per_epoch=2",
    "train.num_workers=0",
    "train.progress=false",
]

TINY_SYNTH = SynthConfig(videos=3, val_videos=2, frames=8, width=160, height=120, workers=1, seed=7)


@pytest.fixture(scope="session")
def tiny_synth() -> SynthConfig:
    return TINY_SYNTH


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic set in the PoseTrack18 layout, made once per test session."""
    root = tmp_path_factory.mktemp("synth")
    generate(TINY_SYNTH, root, progress=False)
    return root


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny tensors on a shared 2-core machine: a second intra-op thread only adds contention
    (measured 30 ms vs 500 ms per training step here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
