"""Name -> builder registries for the parts a researcher swaps (issue 10: a dict and a decorator).

    from tdmi.models.registry import TEMPORAL, register

    @register(TEMPORAL, "my_motion")
    class MyMotion(nn.Module): ...

`BACKBONES[name](**kwargs)` returns a module whose forward gives one feature map per stage (all at
1/4 input size) and whose `stage_channels` lists their widths. `TEMPORAL[name](stage_channels,
num_frames, **cfg)` returns a module with `out_channels` whose forward maps those per-stage
features, each (B, T, C, h, w), to {"motion": ..., optionally "useful", "noisy"} (B, C', h, w).
`MI_ESTIMATORS[name]` is an estimator family for tdmi/losses.py (see tdmi/models/mi.py).

A name of the form "package.module:name" imports that module first, so a part registered in a
user's own file is reachable from a config (`model.temporal=my_lab.motion:frame_diff`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

BACKBONES: dict[str, Callable[..., Any]] = {}
TEMPORAL: dict[str, Callable[..., Any]] = {}
MI_ESTIMATORS: dict[str, Callable[..., Any]] = {}


def register(registry: dict[str, Callable[..., Any]], name: str) -> Callable:
    """Decorator: `registry[name] = builder`; a second builder under one name is an error."""

    def add(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in registry:
            raise ValueError(f"{name!r} is already registered ({registry[name].__qualname__})")
        registry[name] = builder
        return builder

    return add


def lookup(registry: dict[str, Callable[..., Any]], name: str, key: str) -> Callable[..., Any]:
    """`registry[name]`, or a one-line error naming the config `key` and the allowed values."""
    if name not in registry and ":" in name:
        module, _, name = name.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"{key}: cannot import {module!r} ({err})") from err
    if name not in registry:
        raise ValueError(f"{key}={name!r} is not registered; known: {sorted(registry)}")
    return registry[name]
