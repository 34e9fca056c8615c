"""Datasets by name: ``load_dataset(name, root, split) -> list[Video]``, the one place that knows
where a dataset keeps a split's annotations.

A dataset is one loader function registered under the name its data config gives
(``experiments/conf/data/<name>.yaml``: ``loader: <name>``); adding one is one module with a
``@register_dataset("name")`` function plus one YAML file. The registry is a plain dict, so an
unknown name fails with the known ones listed, before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tdmi.data.posetrack import Video, load_posetrack

Loader = Callable[[Path, str], list[Video]]
DATASETS: dict[str, Loader] = {}


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Register ``load(root, split) -> list[Video]`` under ``name``."""

    def add(loader: Loader) -> Loader:
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} is already registered (by {DATASETS[name].__module__})")
        DATASETS[name] = loader
        return loader

    return add


def load_dataset(name: str, root: str | Path, split: str) -> list[Video]:
    """The videos of ``split`` of the dataset ``name`` stored under ``root``."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset loader {name!r}; registered: {sorted(DATASETS)}")
    return DATASETS[name](Path(root), split)


@register_dataset("posetrack")
def load_posetrack_split(root: Path, split: str) -> list[Video]:
    """PoseTrack17 (converted), 18, 21 and the synthetic set: ``root/annotations/<split>/*.json``."""
    return load_posetrack(root / "annotations" / split)


import tdmi.data.hieve  # noqa: E402, F401  (registers "hieve")
