"""One Optuna trial = one training run through the engine, as a nested MLflow run.

The trial's run carries tags ``trial_number``, ``study_name`` and ``state`` (COMPLETE, PRUNED or
FAIL, Optuna's names) and, on failure, ``fail_reason``; so MLflow's compare view shows the study
without Optuna. A failure (exception, non-finite loss, NaN mAP) is re-raised for Optuna, which
records the trial as FAIL and, with ``catch``, goes on; the reason is also a trial user attribute,
which is what marks it as a real outcome rather than a worker that died (tdmi/studies/study.py).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna

from tdmi.engine.tracking import MLflowTracker
from tdmi.redact import redact
from tdmi.run import RunSpec, train
from tdmi.studies.search_space import suggest
from tdmi.utils.config import ConfigError

METRIC = "val/mAP"
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_study_name(name: object) -> str:
    """``name`` when it is safe as a folder name and inside an MLflow filter's quotes; else a
    ConfigError, raised before any study or run is created (a quote broke the filter after the
    Optuna study existed)."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name):
        raise ConfigError(
            "sweep.study",
            name,
            "must be letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names a folder and is quoted in MLflow filters)",
        )
    return name


def with_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with dotted keys set (``{"loss.mi_motion": 0.0}``); a key the
    config lacks is a ConfigError (a typo in the search space fails before any trial)."""
    out = copy.deepcopy(dict(config))
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError(key, value, "not a key of the composed config (check sweep.space)")
        node[leaf] = value
    return out


def trial_spec(
    config: Mapping[str, Any], overrides: Mapping[str, Any], out_dir: Path, root: str | Path | None = None
) -> RunSpec:
    """One trial's RunSpec: the composed config with the trial's values, trained afresh in ``out_dir``."""
    spec = RunSpec.from_dict(with_overrides(config, overrides), root)
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, resume=False), out_dir=out_dir)


class PruningCallback:
    """fit() callback: report each validated epoch's mAP; raising TrialPruned stops fit()."""

    def __init__(self, trial: optuna.Trial, metric: str = METRIC):
        self.trial, self.metric = trial, metric

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.metric not in metrics:
            return
        self.trial.report(metrics[self.metric], epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"{self.metric} {metrics[self.metric]:.2f} at epoch {epoch} is below the pruner's bar"
            )


@dataclass
class Objective:
    """``build(overrides, trial_number)`` turns suggested values into a RunSpec (the entry point
    owns the config); ``cost`` adds training seconds as a second objective (minimised)."""

    space: Mapping[str, Mapping[str, Any]]
    build: Callable[[dict[str, Any], int], RunSpec]
    experiment: str
    tracking_uri: str | None = None
    cost: bool = False

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        overrides = suggest(trial, self.space)
        trial.set_user_attr("overrides", overrides)
        pruned: optuna.TrialPruned | None = None
        with MLflowTracker(self.experiment, self.tracking_uri, f"trial-{trial.number}", nested=True) as tracker:
            mlflow.set_tags({"trial_number": trial.number, "study_name": trial.study.study_name})
            try:
                callbacks = [] if self.cost else [PruningCallback(trial)]  # Optuna prunes single-objective studies only
                result = train(self.build(overrides, trial.number), tracker, callbacks)
                if result.best_metric is None or not math.isfinite(result.best_metric):
                    raise ValueError(f"best {METRIC} is {result.best_metric}: nothing to optimise")
            except optuna.TrialPruned as err:
                pruned = err
            except Exception as err:
                reason = redact(f"{type(err).__name__}: {err}")  # an error may quote a storage URL
                trial.set_user_attr("fail_reason", reason)
                mlflow.set_tags({"state": "FAIL", "fail_reason": reason[:5000]})
                raise
            mlflow.set_tag("state", "PRUNED" if pruned else "COMPLETE")
        if pruned:
            raise pruned
        return (result.best_metric, result.seconds) if self.cost else result.best_metric
