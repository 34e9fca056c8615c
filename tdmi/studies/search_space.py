"""The sweep's search space as data (the Hydra group ``sweep/``), turned into Optuna suggestions.

A space maps config keys to specs, nested like the config itself (so that
``sweep.space.model.tde_stages.high=3`` or ``~sweep.space.loss.mi_regularisation`` work as
overrides)::

    model:
      tde_stages:  {type: int, low: 1, high: 4}
    loss:
      mi_motion:    {type: float, low: 1.0e-3, high: 1.0e+1, log: true, zero: true}
      mi_estimator: {type: categorical, choices: [kl_proxy, bounds]}

``zero: true`` makes 0 ("term off") part of a log-scale axis, which a log distribution cannot
hold: a categorical ``<key>:on`` switch decides first, and the log value is only sampled when on
(a conditional parameter, which TPE with ``multivariate``/``group`` models as such). ``grid``
enumerates the same space (log axes at ``points`` geometric steps, plus 0), so a grid search and
a study cover one space.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import optuna

TYPES = ("int", "float", "categorical")


def flatten_space(nested: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """{"loss": {"mi_motion": spec}} -> {"loss.mi_motion": spec}; a spec is a mapping with
    ``type``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in nested.items():
        if "type" in value:
            out[f"{prefix}{key}"] = dict(value)
        else:
            out.update(flatten_space(value, f"{prefix}{key}."))
    return out


def check_space(space: Mapping[str, Mapping[str, Any]]) -> None:
    """Fail before any trial on a spec Optuna would only reject mid-study."""
    for key, spec in space.items():
        kind = spec.get("type")
        if kind not in TYPES:
            raise ValueError(f"sweep.space.{key}: type must be one of {TYPES}, got {kind!r}")
        if kind == "categorical" and not spec.get("choices"):
            raise ValueError(f"sweep.space.{key}: a categorical needs choices")
        if kind != "categorical" and not spec["low"] <= spec["high"]:
            raise ValueError(f"sweep.space.{key}: low {spec['low']} > high {spec['high']}")
        if spec.get("zero") and not (kind == "float" and spec.get("log")):
            raise ValueError(f"sweep.space.{key}: zero: true is for log-scale floats")


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One value per key, as config overrides ({"loss.mi_motion": 0.0, ...})."""
    values: dict[str, Any] = {}
    for key, spec in space.items():
        if spec.get("zero") and not trial.suggest_categorical(f"{key}:on", [True, False]):
            values[key] = 0.0
        elif spec["type"] == "int":
            values[key] = trial.suggest_int(
                key, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False)
            )
        elif spec["type"] == "float":
            values[key] = trial.suggest_float(key, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            values[key] = trial.suggest_categorical(key, list(spec["choices"]))
    return values


def _axis(spec: Mapping[str, Any], points: int) -> list[Any]:
    if spec["type"] == "categorical":
        return list(spec["choices"])
    if spec["type"] == "int":
        return list(range(spec["low"], spec["high"] + 1, spec.get("step", 1)))
    scale = np.geomspace if spec.get("log") else np.linspace
    return [0.0] * bool(spec.get("zero")) + [float(v) for v in scale(spec["low"], spec["high"], points)]


def grid(space: Mapping[str, Mapping[str, Any]], points: int = 3) -> Iterator[dict[str, Any]]:
    """Every combination over the space, float axes at ``points`` values (plus 0 where allowed)."""
    axes = [_axis(spec, points) for spec in space.values()]
    for combo in itertools.product(*axes):
        yield dict(zip(space, combo, strict=True))
