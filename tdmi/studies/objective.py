"""One Optuna trial = one training run through the engine, as a nested MLflow run.

The trial's run carries tags ``trial_number``, ``study_name`` and ``state`` (COMPLETE, PRUNED or
FAIL, Optuna's names) and, on failure, ``fail_reason``; so MLflow's compare view shows the study
without Optuna. A failure (exception, non-finite loss, NaN mAP) is re-raised for Optuna, which
records the trial as FAIL and, with ``catch``, goes on; the reason is also a trial user attribute,
which is what marks it as a real outcome rather than a worker that died (tdmi/studies/study.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mlflow
import optuna

from tdmi.engine.tracking import MLflowTracker
from tdmi.studies.runs import RunSpec, train_run
from tdmi.studies.search_space import suggest

METRIC = "val/mAP"


class PruningCallback:
    """fit() callback: report each validated epoch's mAP; raising TrialPruned stops fit()."""

    def __init__(self, trial: optuna.Trial, metric: str = METRIC):
        self.trial, self.metric = trial, metric

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.metric not in metrics:
            return
        self.trial.report(metrics[self.metric], epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"{self.metric} {metrics[self.metric]:.2f} at epoch {epoch} is below the pruner's bar")


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
                result = train_run(self.build(overrides, trial.number), tracker, callbacks)
                if result.best_metric is None or not math.isfinite(result.best_metric):
                    raise ValueError(f"best {METRIC} is {result.best_metric}: nothing to optimise")
            except optuna.TrialPruned as err:
                pruned = err
            except Exception as err:
                reason = f"{type(err).__name__}: {err}"
                trial.set_user_attr("fail_reason", reason)
                mlflow.set_tags({"state": "FAIL", "fail_reason": reason[:5000]})
                raise
            mlflow.set_tag("state", "PRUNED" if pruned else "COMPLETE")
        if pruned:
            raise pruned
        return (result.best_metric, result.seconds) if self.cost else result.best_metric
