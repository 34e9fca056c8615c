"""Optuna studies (the sweep's storage) read for the dashboard: names, trial states, best trial
and the Hydra override file the sweep wrote for it.

The sweep tunes the MI-loss weights and the TDE stage count (:data:`SWEEP_PARAMS`, named as the
presets' fields). Studies are read through Optuna's own storage classes, so any RDB URL the
sweep uses (SQLite by default, PostgreSQL for many workers) works here too.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd

from tdmi.losses import MI_TERMS
from tdmi.results.config import OUTPUT_FOLDERS

SWEEP_PARAMS = (*MI_TERMS, "tde_stages")  # config fields; the sweep names them "model.<field>"
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


def list_studies(storage: str) -> pd.DataFrame:
    """One row per study: name, direction, trials; empty when the storage has none (or no file)."""
    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).is_file():
        return pd.DataFrame(columns=["study", "direction", "trials"])  # never create an empty DB
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    return pd.DataFrame(
        [{"study": s.study_name, "direction": s.direction.name.lower(), "trials": s.n_trials} for s in summaries],
        columns=["study", "direction", "trials"],
    )


def load_study(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def trial_states(study: optuna.Study) -> pd.DataFrame:
    """Trials per state (complete / pruned / failed / running / waiting), zeros included."""
    counts = pd.Series([t.state.name for t in study.get_trials(deepcopy=False)]).value_counts()
    return pd.DataFrame({"state": STATES, "trials": [int(counts.get(s, 0)) for s in STATES]})


def _field(param: str) -> str:
    """"model.mi_task" and its on/off switch "model.mi_task:on" -> "mi_task"."""
    return param.split(":")[0].rsplit(".", 1)[-1]


def swept_params(study: optuna.Study, switches: bool = True) -> list[str]:
    """The study's parameters for the MI weights and the TDE stage count, in :data:`SWEEP_PARAMS`
    order; with ``switches`` also the ``<key>:on`` switches the sweep adds where 0 (term off) is
    a choice (tdmi/studies/search_space.py). Slices want the values only."""
    seen = {name for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) for name in t.params}
    order = {field: i for i, field in enumerate(SWEEP_PARAMS)}
    chosen = [p for p in seen if _field(p) in order and (switches or ":" not in p)]
    return sorted(chosen, key=lambda p: (order[_field(p)], p))


def override_file(study: optuna.Study, project_dir: Path) -> Path | None:
    """The Hydra override file the sweep wrote for the best trial, if it lies inside the project:
    the path in a study user attribute whose key mentions "override" (experiments/sweep.py sets
    ``best_overrides_file``), else a file named ``*override*`` in a folder named after the study
    under the project's output folders."""
    candidates = [Path(v) for k, v in study.user_attrs.items() if "override" in k and isinstance(v, str)]
    for folder in OUTPUT_FOLDERS + ("experiments/conf",):
        root = project_dir / folder
        if root.is_dir():
            candidates += sorted(root.rglob(f"{study.study_name}/*override*"))
    for path in candidates:
        path = path if path.is_absolute() else project_dir / path
        if path.is_file() and path.resolve().is_relative_to(project_dir.resolve()):
            return path
    return None


def best_trial(study: optuna.Study) -> dict | None:
    """Number, value and params of the best complete trial; None when no trial completed."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    return {"number": best.number, "value": best.value, "params": dict(best.params)}
