"""Optuna studies (the sweep's storage) read for the dashboard: names, trials with their runs,
per-trial curves, the best trial and the Hydra override file the sweep wrote for it.

A study is read once into a :class:`StudyTrials` snapshot (a few DataFrames) that every view of the
page draws from. The sweep's default SQLite storage is read with plain SQL, read-only: Optuna's
storage classes import alembic and build an ORM object per trial (3.5 s for 1,000 trials on a loaded
2-core machine, against 0.16 s wall, 0.07 s CPU here; benchmarks/dashboard_speed.py). Any other URL
the sweep uses (PostgreSQL for many workers), or a SQLite file whose schema this reader does not
know, goes through Optuna's own storage (:func:`snapshot`); both give the same snapshot
(tests/test_dashboard.py).

What the sweep optimises (tdmi/studies/objective.py): the best epoch's validation PoseTrack mAP in
points (0-100), maximised, and with ``sweep.cost_objective=true`` training seconds as a second,
minimised objective; a study that names its metrics (``study.set_metric_names``) is shown with
those names. Where 0 ("term off") is a choice on a log axis the sweep adds a ``<key>:on`` switch
(tdmi/studies/search_space.py); the trials table shows such a weight as ``off`` instead.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.trial import FrozenTrial, TrialState

from tdmi.results.run_table import mlflow_link
from tdmi.results.sqlite import read_only, sqlite_file

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
OBJECTIVES = ("best val PoseTrack mAP (points, 0-100)", "training time (s)")  # the sweep's, in order
IMPORTANCE_MIN_TRIALS = 20  # fewer complete trials: fANOVA importances are mostly noise
SWITCH = ":on"
OFF = "off"
METRIC_NAMES_ATTR = "study:metric_names"  # where Optuna keeps study.set_metric_names
TRIAL_COLUMNS = ("trial", "state", "duration (s)", "fail reason")  # then one column per objective
VALUE_TYPES = {"FINITE": None, "INF_POS": math.inf, "INF_NEG": -math.inf, "NAN": math.nan}


@dataclass
class StudyTrials:
    """One study as the dashboard shows it, read once. ``trials``: one row per trial (TRIAL_COLUMNS
    and one column per objective, named by :attr:`objectives`, NaN unless COMPLETE), by number;
    ``params``: (trial, param, value, log) per trial and parameter, values as the trial saw them;
    ``curves``: (trial, epoch, value, state), what each trial reported to the pruner."""

    name: str
    directions: tuple[str, ...]  # "maximize" / "minimize", per objective
    objectives: tuple[str, ...]  # their names with units (:func:`objective_names`)
    user_attrs: dict[str, Any]
    trials: pd.DataFrame
    params: pd.DataFrame
    curves: pd.DataFrame


def objective_names(study: optuna.Study) -> list[str]:
    """Each objective's name with its unit: the study's own metric names, else the sweep's."""
    return _names(study.metric_names, len(study.directions))


def _names(metric_names: list[str] | None, n: int) -> list[str]:
    return list(metric_names) if metric_names else list(OBJECTIVES[:n])


def open_storage(url: str) -> optuna.storages.BaseStorage | None:
    """The Optuna storage at ``url`` (for what only Optuna draws: importances, parallel
    coordinates); None for a SQLite file that does not exist yet, which reading must never create."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    return optuna.storages.get_storage(url)


def load_study(storage: optuna.storages.BaseStorage | str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def list_studies(url: str) -> pd.DataFrame:
    """One row per study at ``url``: name, directions, trials; empty when there is no storage or no study."""
    columns = ["study", "direction", "trials"]
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return pd.DataFrame(columns=columns)
    if path is not None:
        try:
            with read_only(path) as db:
                rows = db.execute(
                    "SELECT s.study_name, (SELECT group_concat(lower(d.direction), ', ') FROM "
                    "(SELECT direction FROM study_directions WHERE study_id = s.study_id ORDER BY objective) d), "
                    "(SELECT count(*) FROM trials t WHERE t.study_id = s.study_id) FROM studies s ORDER BY s.study_id"
                ).fetchall()
            return pd.DataFrame(rows, columns=columns)
        except sqlite3.Error:
            pass  # not a schema this reader knows: Optuna says what is wrong with it
    summaries = optuna.get_all_study_summaries(optuna.storages.get_storage(url), include_best_trial=False)
    rows = [(s.study_name, ", ".join(d.name.lower() for d in s.directions), s.n_trials) for s in summaries]
    return pd.DataFrame(rows, columns=columns)


def read_study(url: str, name: str) -> StudyTrials:
    """The study ``name`` at ``url`` as a snapshot: plain SQL for a SQLite file, else Optuna's API."""
    path = sqlite_file(url)
    if path is not None and path.is_file():
        try:
            return _read_sqlite(path, name)
        except sqlite3.Error:
            pass
    return snapshot(load_study(url, name))


def snapshot(study: optuna.Study) -> StudyTrials:
    """The snapshot of a loaded study (any storage) through Optuna's API."""
    directions = tuple(d.name.lower() for d in study.directions)
    names = _names(study.metric_names, len(directions))
    trials, params, curves = [], [], []
    for t in study.get_trials(deepcopy=False):
        values = t.values if t.state == TrialState.COMPLETE and t.values else [math.nan] * len(names)
        duration = t.duration.total_seconds() if t.duration is not None else math.nan
        trials.append((t.number, t.state.name, duration, t.user_attrs.get("fail_reason", ""), *values))
        params += [(t.number, k, v, _log(t.distributions[k])) for k, v in t.params.items()]
        curves += [(t.number, step, value, t.state.name) for step, value in sorted(t.intermediate_values.items())]
    return _frames(study.study_name, directions, names, dict(study.user_attrs), trials, params, curves)


def _read_sqlite(path: Path, name: str) -> StudyTrials:
    """:func:`snapshot` from Optuna's RDB schema with a handful of queries (module docstring)."""
    with read_only(path) as db:
        found = db.execute("SELECT study_id FROM studies WHERE study_name = ?", (name,)).fetchone()
        if found is None:
            raise KeyError(f"no study {name!r} in {path}")
        study_id = found[0]

        def rows(sql: str) -> list[tuple]:
            return db.execute(sql, (study_id,)).fetchall()

        directions = tuple(
            d.lower() for (d,) in rows("SELECT direction FROM study_directions WHERE study_id = ? ORDER BY objective")
        )
        attrs = dict(rows("SELECT key, value_json FROM study_user_attributes WHERE study_id = ?"))
        system = dict(rows("SELECT key, value_json FROM study_system_attributes WHERE study_id = ?"))
        names = _names(json.loads(system[METRIC_NAMES_ATTR]) if METRIC_NAMES_ATTR in system else None, len(directions))
        of_study = "FROM {} x JOIN trials t ON x.trial_id = t.trial_id WHERE t.study_id = ?"
        base = rows("SELECT number, state, datetime_start, datetime_complete FROM trials WHERE study_id = ?")
        values = rows(f"SELECT t.number, x.objective, x.value, x.value_type {of_study.format('trial_values')}")
        reasons = rows(
            f"SELECT t.number, x.value_json {of_study.format('trial_user_attributes')} AND x.key = 'fail_reason'"
        )
        raw_params = rows(
            f"SELECT t.number, x.param_name, x.param_value, x.distribution_json {of_study.format('trial_params')}"
        )
        steps = rows(
            "SELECT t.number, x.step, x.intermediate_value, x.intermediate_value_type, t.state "
            f"{of_study.format('trial_intermediate_values')}"
        )
    frame = pd.DataFrame(base, columns=["trial", "state", "start", "complete"])
    duration = (pd.to_datetime(frame["complete"]) - pd.to_datetime(frame["start"])).dt.total_seconds()
    reason = {n: json.loads(v) for n, v in reasons}
    value = {(n, k): _typed(v, kind) for n, k, v, kind in values}
    trials = [
        (
            n,
            state,
            d,
            reason.get(n, ""),
            *(value.get((n, k), math.nan) if state == "COMPLETE" else math.nan for k in range(len(names))),
        )
        for n, state, d in zip(frame["trial"], frame["state"], duration, strict=True)
    ]
    params = [(n, k, *_external(v, spec)) for n, k, v, spec in raw_params]
    curves = [(n, step, _typed(v, kind), state) for n, step, v, kind, state in steps]
    return _frames(name, directions, names, {k: json.loads(v) for k, v in attrs.items()}, trials, params, curves)


def _typed(value: float | None, kind: str) -> float:
    """A stored value with its type (Optuna keeps infinities and NaN as a type beside NULL)."""
    special = VALUE_TYPES.get(kind)
    if special is not None:
        return special
    return math.nan if value is None else float(value)


@functools.lru_cache(maxsize=256)
def _distribution(spec: str) -> BaseDistribution:
    return json_to_distribution(spec)


def _external(internal: float, spec: str) -> tuple[Any, bool]:
    distribution = _distribution(spec)
    return distribution.to_external_repr(internal), _log(distribution)


def _log(distribution: BaseDistribution) -> bool:
    return bool(getattr(distribution, "log", False))


def _frames(
    name: str,
    directions: tuple[str, ...],
    names: list[str],
    user_attrs: dict[str, Any],
    trials: list[tuple],
    params: list[tuple],
    curves: list[tuple],
) -> StudyTrials:
    trial_frame = pd.DataFrame(trials, columns=[*TRIAL_COLUMNS, *names]).sort_values("trial", ignore_index=True)
    param_frame = pd.DataFrame(params, columns=["trial", "param", "value", "log"], dtype=object)  # ints stay ints
    param_frame = param_frame.astype({"trial": int, "param": str, "log": bool})
    curve_frame = pd.DataFrame(curves, columns=["trial", "epoch", "value", "state"])
    return StudyTrials(
        name,
        directions,
        tuple(names),
        user_attrs,
        trial_frame,
        param_frame.sort_values(["trial", "param"], ignore_index=True),
        curve_frame.sort_values(["trial", "epoch"], ignore_index=True),
    )


def trial_states(trials: StudyTrials) -> pd.DataFrame:
    """Trials per state (complete / pruned / failed / running / waiting), zeros included."""
    counts = trials.trials["state"].value_counts()
    return pd.DataFrame({"state": STATES, "trials": [int(counts.get(s, 0)) for s in STATES]})


def best_number(trials: StudyTrials) -> int | None:
    """The best complete trial's number: the best first objective, ties broken by the next ones
    (with cost as a second objective this is the Pareto-optimal trial of highest mAP: the best
    first objective is never dominated, and among equals the cheapest is not); None when no
    trial completed. The one definition the sweep's outputs and the dashboard share."""
    done = trials.trials[trials.trials["state"] == "COMPLETE"]
    if done.empty:
        return None
    order = [d == "maximize" for d in trials.directions]
    ranked = done.sort_values([*trials.objectives, "trial"], ascending=[not up for up in order] + [True])
    return int(ranked["trial"].iloc[0])


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """:func:`best_number`'s trial of a loaded study (the sweep's best_overrides.txt)."""
    number = best_number(snapshot(study))
    return None if number is None else next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def best_params(trials: StudyTrials, number: int) -> dict[str, object]:
    """Trial ``number``'s params as :func:`display_params` shows them."""
    mine = trials.params[trials.params["trial"] == number]
    return display_params(dict(zip(mine["param"], mine["value"], strict=True)))


def display_params(params: dict[str, object]) -> dict[str, object]:
    """Trial params as a reader wants them: a switched-off weight is ``off`` under its own name,
    and the ``<key>:on`` switches disappear."""
    shown = {k: v for k, v in params.items() if not k.endswith(SWITCH)}
    for key, on in params.items():
        if key.endswith(SWITCH) and not on:
            shown[key.removesuffix(SWITCH)] = OFF
    return shown


def swept_params(trials: StudyTrials) -> list[str]:
    """The values the study tunes (switches left out), in name order: the axes of its plots."""
    complete = set(trials.trials.loc[trials.trials["state"] == "COMPLETE", "trial"])
    seen = set(trials.params.loc[trials.params["trial"].isin(complete), "param"])
    return sorted(p for p in seen if not p.endswith(SWITCH))


def trials_table(trials: StudyTrials, runs: pd.DataFrame, ui: str) -> pd.DataFrame:
    """One row per trial: number, state, objective value(s), duration, params (``off`` shown),
    failure reason, and its MLflow run (name, link), matched by the tags ``study_name`` and
    ``trial_number`` the sweep puts on each trial's run."""
    mine = runs[(runs["study_name"] == trials.name) & (runs["trial_number"] != "")]
    by_number = {int(r["trial_number"]): r for r in mine.sort_values("start_time").to_dict("records")}
    shown = trials.params.assign(value=[f"{v:.4g}" if isinstance(v, float) else v for v in trials.params["value"]])
    wide = {n: {} for n in trials.trials["trial"]}
    for n, param, value in zip(shown["trial"], shown["param"], shown["value"], strict=True):
        wide[n][param] = value
    columns = ["trial", "state", *trials.objectives, "duration (s)"]
    rows = []
    for row in trials.trials.to_dict("records"):
        run = by_number.get(row["trial"])
        rows.append(
            {
                **{c: row[c] for c in columns},
                **display_params(wide[row["trial"]]),
                "fail reason": row["fail reason"],
                "run_name": run["run_name"] if run else "",
                "mlflow": mlflow_link(ui, run["experiment_id"], run["run_id"]) if run else None,
                "checkpoint": run["checkpoint"] if run else "",
                "git_commit": run["git_commit"] if run else "",
            }
        )
    return pd.DataFrame(rows)


def override_file(trials: StudyTrials, project_dir: Path) -> Path | None:
    """The Hydra override file the sweep wrote for the best trial (the path it records as the
    study's ``best_overrides_file`` attribute), if it exists inside the project."""
    recorded = trials.user_attrs.get("best_overrides_file")
    if not isinstance(recorded, str):
        return None
    path = Path(recorded) if Path(recorded).is_absolute() else project_dir / recorded
    return path if path.is_file() and path.resolve().is_relative_to(project_dir.resolve()) else None


def slice_points(trials: StudyTrials) -> pd.DataFrame:
    """Long table (trial, param, x, value, log) for slice plots: each complete trial's value of the
    first objective against each swept value it had (a switched-off weight has none), ``log``
    where the parameter was sampled on a log scale."""
    done = trials.trials.loc[trials.trials["state"] == "COMPLETE", ["trial", trials.objectives[0]]]
    numeric = trials.params[
        ~trials.params["param"].str.endswith(SWITCH)
        & trials.params["value"].map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    ]
    points = numeric.merge(done, on="trial").rename(columns={"value": "x", trials.objectives[0]: "value"})
    return points[["trial", "param", "x", "value", "log"]].sort_values(["param", "trial"], ignore_index=True)
