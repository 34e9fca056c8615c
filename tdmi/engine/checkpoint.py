"""Checkpoints that survive a kill at any instant, and the RNG states that make resume exact.

A checkpoint is written to a temporary file in the same folder, flushed to disk, then renamed over
the old one (``os.replace`` is atomic on POSIX and Windows), so a reader, or a resume after
SIGKILL, sees either the previous complete file or the new complete file, never half of one.

Resuming must continue *the same* run: besides model and optimiser, the state holds the RNG states
of Python, NumPy and torch (CPU and every CUDA device), which drive augmentation (the clip
dataset draws from torch's generator) and dropout. The data order needs no saved state: the
sampler is seeded by (seed, epoch).
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices): the start of a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state a training step may draw from."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to a temp file beside ``path``, fsync, then atomically rename onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    ``weights_only=False`` because the state holds NumPy and Python RNG states: load only
    checkpoints you wrote yourself (unpickling runs code).
    """
    return torch.load(path, map_location=map_location, weights_only=False)
