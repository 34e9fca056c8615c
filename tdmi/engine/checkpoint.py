"""Checkpoints that survive a kill at any instant, and the RNG states that make resume exact.

A checkpoint is written to a temporary file in the same folder, flushed to disk, then renamed over
the old one (``os.replace`` is atomic on POSIX and Windows), so a reader, or a resume after
SIGKILL, sees either the previous complete file or the new complete file, never half of one.

Resuming must continue *the same* run: besides model and optimiser, the state holds the RNG states
of Python, NumPy and torch (CPU and every CUDA device), which drive augmentation (the clip
dataset draws from torch's generator) and dropout. The data order needs no saved state: the
sampler is seeded by (seed, epoch).

Checkpoints written by ``experiments/train.py`` also carry the configs that built the model
(``model_config``, ``loss_config``, ``clip_config``, ``config``), so evaluation rebuilds the model
from the file alone (:func:`model_from_checkpoint`), and the MLflow run id, so a resumed run keeps
logging to the same run.

Loading never runs code from the file: ``torch.load(weights_only=True)`` accepts tensors and plain
Python containers and scalars only, so a crafted ``ckpt=`` (a pickle whose ``__reduce__`` calls
``os.system``) is refused with a :class:`CheckpointError` naming the file, before anything in it
runs. Everything a checkpoint holds is therefore stored in those types: configs as dicts
(``dataclasses.asdict``, ``OmegaConf.to_container``), Python's RNG state as its tuple of ints,
NumPy's as ``(name, list of ints, pos, has_gauss, gauss)`` rather than an array. Checkpoints
written before this (NumPy arrays inside) are refused the same way; retrain, or re-save them from
a trusted session.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tdmi.data.clips import ClipConfig
from tdmi.models.tdmi import TDMI, ModelConfig, build_model


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or lacks what the caller needs; names the file."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices): the start of a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state a training step may draw from, in types ``weights_only`` loading accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    numpy_state = (str(name), keys.tolist(), int(pos), int(has_gauss), float(gauss))
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
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
    """``torch.save`` to a temp file beside ``path``, fsync, then atomically rename to ``path``."""
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
    """A checkpoint written by :func:`save_checkpoint`; :class:`CheckpointError` names the file.

    Tensors and plain Python types only (``weights_only=True``): a file that would unpickle
    anything else is refused before any of it runs (module docstring).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # garbage unpickles into any error; weights_only ran none of it
        raise CheckpointError(f"{path}: {_reason(err)}") from err
    if not isinstance(state, dict):
        kind = type(state).__name__
        raise CheckpointError(f"{path}: not a checkpoint (holds a {kind}, not a dict)")
    return state


def _reason(err: Exception) -> str:
    """torch's multi-line message -> one line: what a refused file asked for, else line one."""
    text = str(err)
    if "Weights only load failed" in text:
        found = re.search(r"nsupported (global|operand|GLOBAL)\W*(?:GLOBAL )?([\w.]+)", text)
        what = f" (unsupported {found.group(1).lower()} {found.group(2)})" if found else ""
        return f"refused: holds more than tensors and plain Python types{what}; loading it could run code"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    return f"not a readable checkpoint ({type(err).__name__}: {first})"


def model_from_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[TDMI, ClipConfig, dict[str, Any]]:
    """The trained model (weights loaded, on ``device``), the clip config it was trained with, and
    the checkpoint itself. ``pretrained`` is dropped: the checkpoint's weights replace it anyway,
    and the backbone file need not exist where the model is evaluated."""
    state = load_checkpoint(path, device)
    missing = [k for k in ("model", "model_config", "clip_config") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: lacks {missing}; write checkpoints with experiments/train.py")
    model = build_model(ModelConfig(**{**state["model_config"], "pretrained": None}))
    model.load_state_dict(state["model"])
    return model.to(device), ClipConfig(**state["clip_config"]), state
