"""MLflow runs as one DataFrame, each run labelled with its health instead of failing the page.

Training runs carry (tdmi/engine/tracking.py) the flattened Hydra config as params, tags preset /
data_fingerprint / git_commit / device / torch_version (ablation runs add seed and ablation=true,
sweep trials trial_number / study_name / state) and per-epoch metrics "val/mAP", "val/AP/<group>",
"val/oks/AP" plus the summary "best/mAP". The table keeps the few columns pages filter and compare
on; :func:`run_details` gives one run's full params and tags.

A run killed mid-epoch stays RUNNING with part of its metrics; a crashed one is FAILED; one that
finished without validating has no best/mAP. Such runs are listed with a ``health`` saying so and
left out of every comparison. An experiment whose runs cannot be read at all is reported in
``errors`` while the others still load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from tdmi.eval.results import COLUMNS

SUMMARY_METRIC = "best/mAP"  # the best validation epoch's PoseTrack mAP, what ablations compare
METRICS = (SUMMARY_METRIC, "val/mAP", *(f"{p}/AP/{c}" for p in ("best", "val") for c in COLUMNS), "val/oks/AP")
TAGS = ("preset", "seed", "ablation", "data_fingerprint", "git_commit", "device", "trial_number", "study_name")
PARAMS = {"dataset": "data.name", "data_root": "data.root", "param_seed": "seed", "param_preset": "model.preset"}
OK = "ok"


@dataclass
class Runs:
    table: pd.DataFrame  # one row per run, newest first
    errors: list[str] = field(default_factory=list)  # experiments that could not be read


COLUMNS_OUT = ["run_id", "experiment", "run_name", "status", "start_time", *TAGS, "dataset", "data_root", *METRICS, "health"]


def _health(row: dict) -> str:
    status = row["status"]
    if status == "RUNNING":
        return "unfinished: still RUNNING (killed or in progress)"
    if status != "FINISHED":
        return f"not finished: {status}"
    value = row.get(SUMMARY_METRIC)
    if value is None or not math.isfinite(value):
        return f"incomplete: no {SUMMARY_METRIC}"
    if row["ablation"] and not row["preset"]:
        return "incomplete: ablation run without a preset tag"
    return OK


def _row(run: mlflow.entities.Run, experiment: str) -> dict:
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    row = {
        "run_id": run.info.run_id, "experiment": experiment, "run_name": run.info.run_name or "",
        "status": run.info.status, "start_time": pd.to_datetime(run.info.start_time, unit="ms"),  # UTC
        **{tag: tags.get(tag, "") for tag in TAGS},
        **{name: params.get(param, "") for name, param in PARAMS.items()},
        **{metric: metrics.get(metric, math.nan) for metric in METRICS},
    }
    param_preset, param_seed = row.pop("param_preset"), row.pop("param_seed")
    row["preset"] = row["preset"] or param_preset
    row["seed"] = row["seed"] or param_seed
    row["ablation"] = row["ablation"].lower() == "true"
    row["health"] = _health(row)
    return row


def load_runs(uri: str) -> Runs:
    """Every run of every experiment in the store at ``uri``; an empty table if there is none.

    Goes through an ``MlflowClient`` bound to ``uri`` (never the global tracking URI, which other
    sessions of a Streamlit server share).
    """
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return Runs(pd.DataFrame(columns=COLUMNS_OUT))  # nothing logged yet; never create the file
    rows, errors = [], []
    try:
        client = mlflow.MlflowClient(uri)
        experiments = client.search_experiments()
    except Exception as err:  # a missing or unreadable store: the page explains, it does not crash
        return Runs(pd.DataFrame(columns=COLUMNS_OUT), [f"cannot read MLflow store {uri}: {err}"])
    for experiment in experiments:
        token = None
        try:
            while True:
                page = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
                rows += [_row(run, experiment.name) for run in page]
                token = page.token
                if not token:
                    break
        except Exception as err:
            errors.append(f"experiment {experiment.name!r}: {err}")
    table = pd.DataFrame(rows, columns=COLUMNS_OUT)
    return Runs(table.sort_values("start_time", ascending=False, ignore_index=True), errors)


def run_details(uri: str, run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """One run's full params and tags (the table keeps only what pages filter on)."""
    run = mlflow.MlflowClient(uri).get_run(run_id)
    return dict(run.data.params), {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}


def per_joint(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table (run, column, AP, source) per joint group in the paper's order: the best epoch's
    AP where the run logged ``best/AP/*`` (ablation and sweep runs do), else the last validated
    epoch's ``val/AP/*``; ``source`` says which."""
    rows = []
    for r in runs.to_dict("records"):
        prefix = "best" if math.isfinite(r[f"best/AP/{COLUMNS[-1]}"]) else "val"
        source = "ours: best epoch" if prefix == "best" else "ours: last validated epoch"
        rows += [{"run": run_label(r), "run_id": r["run_id"], "column": c, "AP": r[f"{prefix}/AP/{c}"], "source": source}
                 for c in COLUMNS]
    return pd.DataFrame(rows, columns=["run", "run_id", "column", "AP", "source"])


def run_label(row: dict) -> str:
    """How a run is named on every page: its name, preset and dataset (never shown without it)."""
    return f"{row['run_name'] or row['run_id'][:8]} [{row['preset'] or '?'}, {row['dataset'] or '?'}]"


def filter_runs(table: pd.DataFrame, **equal: list[str]) -> pd.DataFrame:
    """Rows whose column ``name`` is one of ``values`` for every non-empty filter given."""
    mask = pd.Series(True, index=table.index)
    for column, values in equal.items():
        if values:
            mask &= table[column].isin(values)
    return table[mask]
