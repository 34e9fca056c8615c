"""Optuna studies (the sweep's storage) read for the dashboard: names, trials with their runs,
per-trial curves, the best trial and the Hydra override file the sweep wrote for it.

Studies are read through Optuna's own storage classes, so any RDB URL the sweep uses (SQLite by
default, PostgreSQL for many workers) works here too. What the sweep optimises
(tdmi/studies/objective.py): the best epoch's validation PoseTrack mAP in points (0-100),
maximised, and with ``sweep.cost_objective=true`` training seconds as a second, minimised
objective; a study that names its metrics (``study.set_metric_names``) is shown with those names.
Where 0 ("term off") is a choice on a log axis the sweep adds a ``<key>:on`` switch
(tdmi/studies/search_space.py); the trials table shows such a weight as ``off`` instead.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from tdmi.results.run_table import mlflow_link

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
OBJECTIVES = ("best val PoseTrack mAP (points, 0-100)", "training time (s)")  # the sweep's, in order
IMPORTANCE_MIN_TRIALS = 20  # fewer complete trials: fANOVA importances are mostly noise
SWITCH = ":on"
OFF = "off"


def open_storage(url: str) -> optuna.storages.BaseStorage | None:
    """The Optuna storage at ``url``, opened once (its set-up costs most of a page's first render;
    Optuna caches finished trials inside it); None for a SQLite file that does not exist yet, which
    reading must never create."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    return optuna.storages.get_storage(url)


def list_studies(storage: optuna.storages.BaseStorage | None) -> pd.DataFrame:
    """One row per study: name, directions, trials; empty when there is no storage or no study."""
    columns = ["study", "direction", "trials"]
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False) if storage is not None else []
    return pd.DataFrame(
        [
            {"study": s.study_name, "direction": ", ".join(d.name.lower() for d in s.directions), "trials": s.n_trials}
            for s in summaries
        ],
        columns=columns,
    )


def load_study(storage: optuna.storages.BaseStorage | str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def objective_names(study: optuna.Study) -> list[str]:
    """Each objective's name with its unit: the study's own metric names, else the sweep's."""
    named = study.metric_names
    return list(named) if named else list(OBJECTIVES[: len(study.directions)])


def trial_states(study: optuna.Study) -> pd.DataFrame:
    """Trials per state (complete / pruned / failed / running / waiting), zeros included."""
    counts = pd.Series([t.state.name for t in study.get_trials(deepcopy=False)]).value_counts()
    return pd.DataFrame({"state": STATES, "trials": [int(counts.get(s, 0)) for s in STATES]})


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial; with cost as a second objective, the Pareto trial of highest mAP
    (the first objective); None when no trial completed. The one definition the sweep's outputs
    (tdmi/studies/study.py) and the dashboard share."""
    if len(study.directions) > 1:
        front = study.best_trials
        return max(front, key=lambda t: t.values[0]) if front else None
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def display_params(params: dict[str, object]) -> dict[str, object]:
    """Trial params as a reader wants them: a switched-off weight is ``off`` under its own name,
    and the ``<key>:on`` switches disappear."""
    shown = {k: v for k, v in params.items() if not k.endswith(SWITCH)}
    for key, on in params.items():
        if key.endswith(SWITCH) and not on:
            shown[key.removesuffix(SWITCH)] = OFF
    return shown


def swept_params(study: optuna.Study) -> list[str]:
    """The values the study tunes (switches left out), in name order: the axes of its plots."""
    seen = {name for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) for name in t.params}
    return sorted(p for p in seen if not p.endswith(SWITCH))


def trials_table(study: optuna.Study, runs: pd.DataFrame, ui: str) -> pd.DataFrame:
    """One row per trial: number, state, objective value(s), duration, params (``off`` shown),
    failure reason, and its MLflow run (name, link), matched by the tags ``study_name`` and
    ``trial_number`` the sweep puts on each trial's run."""
    names = objective_names(study)
    mine = runs[(runs["study_name"] == study.study_name) & (runs["trial_number"] != "")]
    by_number = {int(r["trial_number"]): r for r in mine.sort_values("start_time").to_dict("records")}
    rows = []
    for t in study.get_trials(deepcopy=False):
        run = by_number.get(t.number)
        duration = t.duration.total_seconds() if t.duration is not None else float("nan")
        values = t.values if t.state == TrialState.COMPLETE else [float("nan")] * len(names)  # pruned: no objective
        params = {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in display_params(t.params).items()}
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                **dict(zip(names, values, strict=True)),
                "duration (s)": duration,
                **params,
                "fail reason": t.user_attrs.get("fail_reason", ""),
                "run_name": run["run_name"] if run else "",
                "mlflow": mlflow_link(ui, run["experiment_id"], run["run_id"]) if run else None,
                "checkpoint": run["checkpoint"] if run else "",
                "git_commit": run["git_commit"] if run else "",
            }
        )
    return pd.DataFrame(rows)


def trial_curves(study: optuna.Study) -> pd.DataFrame:
    """Long table (trial, epoch, value, state): the per-epoch value each trial reported to the
    pruner (validation mAP), so pruned trials show where they were stopped."""
    rows = [
        (t.number, epoch, value, t.state.name)
        for t in study.get_trials(deepcopy=False)
        for epoch, value in sorted(t.intermediate_values.items())
    ]
    return pd.DataFrame(rows, columns=["trial", "epoch", "value", "state"])


def override_file(study: optuna.Study, project_dir: Path) -> Path | None:
    """The Hydra override file the sweep wrote for the best trial (the path it records as the
    study's ``best_overrides_file`` attribute), if it exists inside the project."""
    recorded = study.user_attrs.get("best_overrides_file")
    if not isinstance(recorded, str):
        return None
    path = Path(recorded) if Path(recorded).is_absolute() else project_dir / recorded
    return path if path.is_file() and path.resolve().is_relative_to(project_dir.resolve()) else None


def slice_points(study: optuna.Study) -> pd.DataFrame:
    """Long table (trial, param, x, value, log) for slice plots: each complete trial's value of the
    first objective against each swept value it had (a switched-off weight has none), ``log``
    where the parameter was sampled on a log scale."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        for name, x in t.params.items():
            if name.endswith(SWITCH) or not isinstance(x, int | float):
                continue
            log = bool(getattr(t.distributions.get(name), "log", False))
            rows.append((t.number, name, x, t.values[0], log))
    return pd.DataFrame(rows, columns=["trial", "param", "x", "value", "log"]).sort_values(
        ["param", "trial"], ignore_index=True
    )
