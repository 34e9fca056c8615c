"""MLflow runs as one DataFrame, each run labelled with its health and its group instead of failing
the page, and everything a row needs to be traced back: run name, MLflow UI link, best checkpoint,
git commit.

Training runs carry (tdmi/engine/tracking.py) the flattened Hydra config as params, tags preset /
data_fingerprint / git_commit / device / torch_version (ablation runs add seed and ablation=true,
sweep trials trial_number / study_name / state) and per-epoch metrics ``train/*`` (loss terms,
estimator health), ``val/mAP``, ``val/AP/<group>``, ``val/oks/AP`` plus the summaries ``best/*``.
The table keeps the columns pages filter and compare on; :func:`run_details` gives one run's full
params and tags, :func:`learning_curves` its per-epoch metrics.

Groups (:data:`GROUPS`): an ``ablation`` cell, a ``sweep trial`` (a nested run of a study), the
study's ``sweep parent`` (tag ``sweep=true``: a summary of its trials, never a run of its own),
``pipeline`` (the run ``metrics/train.json`` names, marked by :func:`mark_pipeline`) and any other
``training`` run. Only healthy runs that are not sweep parents are compared (:func:`comparable`).

A run killed mid-epoch stays RUNNING with part of its metrics; a crashed one is FAILED; one that
finished without validating has no best/mAP. Such runs are listed with a ``health`` saying so. An
experiment whose runs cannot be read at all is reported in ``errors`` while the others still load.

The best checkpoint: the run's ``checkpoint`` tag where the engine sets one, else where
MLflowTracker.log_result puts it (``<artifact_uri>/checkpoints/best.pt``, logged whenever the run
had a best epoch; in a local artifact store only if the file exists, so a run logged without it
shows none). Runs from before ``best/AP/*`` was logged for every run keep their per-joint AP
through the last validated epoch's ``val/AP/*``, labelled as such (:func:`joint_ap`).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from tdmi.eval.results import COLUMNS
from tdmi.results.sqlite import query, read_only, sqlite_file

SUMMARY_METRIC = "best/mAP"  # the best validation epoch's PoseTrack mAP, what ablations compare
OKS = "val/oks/AP"  # COCO OKS AP as logged (0-1); shown in points like every AP
METRICS = (SUMMARY_METRIC, "val/mAP", *(f"{p}/AP/{c}" for p in ("best", "val") for c in COLUMNS), OKS)
TAGS = (
    "preset",
    "seed",
    "ablation",
    "data_fingerprint",
    "git_commit",
    "device",
    "trial_number",
    "study_name",
    "state",
    "sweep",
    "checkpoint",
)
PARAMS = {"dataset": "data.name", "data_root": "data.root", "param_seed": "seed", "param_preset": "preset"}
OK = "ok"
PIPELINE, ABLATION, SWEEP_TRIAL, SWEEP_PARENT, TRAINING = (
    "pipeline",
    "ablation",
    "sweep trial",
    "sweep parent",
    "training",
)
GROUPS = (PIPELINE, ABLATION, SWEEP_TRIAL, TRAINING, SWEEP_PARENT)
CURVE_PREFIXES = ("train/", "val/")


@dataclass
class Runs:
    table: pd.DataFrame  # one row per run, newest first
    errors: list[str] = field(default_factory=list)  # experiments that could not be read


COLUMNS_OUT = [
    "run_id",
    "experiment",
    "experiment_id",
    "run_name",
    "group",
    "status",
    "start_time",
    "duration_s",
    *TAGS,
    "parent_run_id",
    "artifact_uri",
    "dataset",
    "data_root",
    *METRICS,
    "curves",
    "health",
]


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


def _group(row: dict) -> str:
    if row["sweep"] == "true":
        return SWEEP_PARENT
    if row["trial_number"] != "" or row["parent_run_id"]:
        return SWEEP_TRIAL
    return ABLATION if row["ablation"] else TRAINING


@dataclass
class _Record:
    """One run as either reader gives it: MLflow's client or the SQLite tables."""

    run_id: str
    experiment_id: str
    experiment: str
    run_name: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, run: mlflow.entities.Run, experiment: str) -> _Record:
        info = run.info
        return cls(
            info.run_id,
            info.experiment_id,
            experiment,
            info.run_name or "",
            info.status,
            info.start_time,
            info.end_time,
            info.artifact_uri or "",
            run.data.tags,
            run.data.params,
            run.data.metrics,
        )


def _row(record: _Record) -> dict:
    tags, params, metrics, info = record.tags, record.params, record.metrics, record
    row = {
        "run_id": info.run_id,
        "experiment": info.experiment,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name or "",
        "status": info.status,
        "start_time": info.start_time,  # ms: one vectorised conversion in _table
        "duration_s": (info.end_time - info.start_time) / 1000 if info.end_time and info.start_time else math.nan,
        **{tag: tags.get(tag, "") for tag in TAGS},
        "parent_run_id": tags.get("mlflow.parentRunId", ""),
        "artifact_uri": info.artifact_uri or "",
        **{name: params.get(param, "") for name, param in PARAMS.items()},
        **{metric: metrics.get(metric, math.nan) for metric in METRICS},
        "curves": tuple(sorted(k for k in metrics if k.startswith(CURVE_PREFIXES))),
    }
    param_preset, param_seed = row.pop("param_preset"), row.pop("param_seed")
    row["preset"] = row["preset"] or param_preset
    row["seed"] = row["seed"] or param_seed
    row["ablation"] = row["ablation"].lower() == "true"
    row["health"] = _health(row)
    row["group"] = _group(row)
    if not row["checkpoint"] and row["artifact_uri"] and math.isfinite(row[SUMMARY_METRIC]):
        row["checkpoint"] = _logged_checkpoint(row["artifact_uri"])
    return row


def _logged_checkpoint(artifact_uri: str) -> str:
    """Where MLflowTracker.log_result puts the best checkpoint; for a local artifact store only if
    the file is there (a run made without the tracker has none), a remote one is not listed."""
    uri = f"{artifact_uri}/checkpoints/best.pt"
    local = uri.removeprefix("file://") if uri.startswith("file://") else uri if "://" not in uri else None
    return uri if local is None or Path(local).is_file() else ""


def load_runs(uri: str) -> Runs:
    """Every active run of every active experiment in the store at ``uri``; an empty table if there
    is none.

    A local SQLite store is read with plain SQL, read-only, fetching only the params and tags the
    table keeps (MLflow's client builds every param of every run: 4-5x slower on 500 runs, the
    dashboard's first render); any other store, or a SQLite file whose schema this reader does not
    know, goes through an ``MlflowClient`` bound to ``uri`` (never the global tracking URI, which
    other sessions of a Streamlit server share). Both give the same table (tests/test_dashboard.py).
    """
    path = sqlite_file(uri)
    if path is not None:
        if not path.is_file():
            return Runs(pd.DataFrame(columns=COLUMNS_OUT))  # nothing logged yet; never create the file
        try:
            return _table([_row(r) for r in _sqlite_records(path)], [])
        except sqlite3.Error:
            pass  # not a store this reader knows: MLflow's client says what is wrong with it
    return load_runs_with_client(uri)


def load_runs_with_client(uri: str) -> Runs:
    """:func:`load_runs` through MLflow's client, for any tracking URI."""
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
                rows += [_row(_Record.of(run, experiment.name)) for run in page]
                token = page.token
                if not token:
                    break
        except Exception as err:
            errors.append(f"experiment {experiment.name!r}: {err}")
    return _table(rows, errors)


def _table(rows: list[dict], errors: list[str]) -> Runs:
    table = pd.DataFrame(rows, columns=COLUMNS_OUT)
    table["start_time"] = pd.to_datetime(table["start_time"], unit="ms")  # UTC
    return Runs(table.sort_values("start_time", ascending=False, ignore_index=True), errors)


def _sqlite_records(path: Path) -> list[_Record]:
    """The runs of MLflow's SQLite schema (tables experiments, runs, tags, params, latest_metrics),
    opened read-only; the metrics are the latest values, as the client's ``run.data.metrics``."""
    with read_only(path) as db:
        records = {
            run_id: _Record(run_id, str(exp_id), exp_name, name or "", status, start, end, artifact or "")
            for run_id, exp_id, exp_name, name, status, start, end, artifact in db.execute(
                "SELECT r.run_uuid, r.experiment_id, e.name, r.name, r.status, r.start_time, r.end_time, "
                "r.artifact_uri "
                "FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
                "WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'"
            )
        }
        wanted_tags = (*TAGS, "mlflow.parentRunId")
        marks = ", ".join("?" * len(wanted_tags))
        for run_id, key, value in db.execute(
            f"SELECT run_uuid, key, value FROM tags WHERE key IN ({marks})", wanted_tags
        ):
            if run_id in records:
                records[run_id].tags[key] = value
        keys = tuple(PARAMS.values())
        marks = ", ".join("?" * len(keys))
        for run_id, key, value in db.execute(f"SELECT run_uuid, key, value FROM params WHERE key IN ({marks})", keys):
            if run_id in records:
                records[run_id].params[key] = value
        for run_id, key, value, is_nan in db.execute("SELECT run_uuid, key, value, is_nan FROM latest_metrics"):
            if run_id in records:
                records[run_id].metrics[key] = math.nan if is_nan else value
    return list(records.values())


def mark_pipeline(table: pd.DataFrame, run_id: str | None) -> pd.DataFrame:
    """``table`` with the run ``metrics/train.json`` names (if any) in the ``pipeline`` group."""
    if not run_id or not (table["run_id"] == run_id).any():
        return table
    return table.assign(group=table["group"].mask(table["run_id"] == run_id, PIPELINE))


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """The runs any comparison may use: healthy, and not a sweep's summary parent."""
    return table[table["health"].eq(OK) & table["group"].ne(SWEEP_PARENT)]


def mlflow_link(ui: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI at ``ui`` (``mlflow ui`` or a tracking server)."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


TRACE_COLUMNS = ["run_name", "mlflow", "checkpoint", "git_commit"]  # from a row to its run


def trace(table: pd.DataFrame, ui: str) -> pd.DataFrame:
    """``table`` with the ``mlflow`` link column, so every :data:`TRACE_COLUMNS` exists."""
    links = [mlflow_link(ui, e, r) for e, r in zip(table["experiment_id"], table["run_id"], strict=True)]
    return table.assign(mlflow=links)


def run_details(uri: str, run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """One run's full params and tags (the table keeps only what pages filter on)."""
    path = sqlite_file(uri)
    if path is not None:
        try:
            params = query(path, "SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))
            tags = query(path, "SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,))
            return dict(params), {k: v for k, v in tags if not k.startswith("mlflow.")}
        except sqlite3.Error:
            pass
    run = mlflow.MlflowClient(uri).get_run(run_id)
    return dict(run.data.params), {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}


def learning_curves(uri: str, run_ids: Iterable[str], keys: Iterable[str]) -> pd.DataFrame:
    """Long table (run_id, metric, epoch, value): every step MLflow holds of each ``keys`` metric
    the run logged (per-epoch metrics use the epoch as step)."""
    run_ids, keys, columns = list(run_ids), list(keys), ["run_id", "metric", "epoch", "value"]
    path = sqlite_file(uri)
    if path is not None:
        try:
            rows = query(
                path,
                f"SELECT run_uuid, key, step, CASE WHEN is_nan THEN NULL ELSE value END FROM metrics "
                f"WHERE run_uuid IN ({', '.join('?' * len(run_ids))}) AND key IN ({', '.join('?' * len(keys))}) "
                "ORDER BY run_uuid, key, step, timestamp",
                (*run_ids, *keys),
            )
            return pd.DataFrame(rows, columns=columns).astype({"value": float})
        except sqlite3.Error:
            pass
    client, rows = mlflow.MlflowClient(uri), []
    for run_id in run_ids:
        for key in keys:
            rows += [(run_id, key, m.step, m.value) for m in client.get_metric_history(run_id, key)]
    return pd.DataFrame(rows, columns=columns)


def config_differences(params: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """One row per config key whose value differs between the runs (or that some run lacks), one
    column per run; keys every run shares with one value are left out."""
    keys = sorted({k for p in params.values() for k in p})
    rows = {k: {run: p.get(k, "—") for run, p in params.items()} for k in keys}
    differ = {k: v for k, v in rows.items() if len(set(v.values())) > 1}
    return pd.DataFrame.from_dict(differ, orient="index", columns=list(params)).rename_axis("config key")


BEST_SOURCE = "ours: best epoch"
LAST_SOURCE = "ours: last validated epoch (older run without best/AP/*)"


def joint_ap(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table (run, run_id, column, AP, source) per joint group in the paper's order: the best
    epoch's ``best/AP/*``; a run from before every run logged them falls back to its last validated
    epoch's ``val/AP/*`` and says so in ``source``."""
    k = len(COLUMNS)
    best = np.isfinite(runs[f"best/AP/{COLUMNS[-1]}"].to_numpy(float))
    ap = np.where(
        best[:, None],
        runs[[f"best/AP/{c}" for c in COLUMNS]].to_numpy(float),
        runs[[f"val/AP/{c}" for c in COLUMNS]].to_numpy(float),
    )
    return pd.DataFrame(
        {
            "run": np.repeat(run_labels(runs).to_numpy(str), k),
            "run_id": np.repeat(runs["run_id"].to_numpy(str), k),
            "column": np.tile(np.asarray(COLUMNS, dtype=object), len(runs)),
            "AP": ap.ravel(),
            "source": np.repeat(np.where(best, BEST_SOURCE, LAST_SOURCE), k),
        },
        columns=["run", "run_id", "column", "AP", "source"],
    )


def run_label(row: Mapping) -> str:
    """How a run is named on every page: its name, preset and dataset (never shown without it)."""
    return f"{row['run_name'] or row['run_id'][:8]} [{row['preset'] or '?'}, {row['dataset'] or '?'}]"


def run_labels(runs: pd.DataFrame) -> pd.Series:
    """:func:`run_label` of every row (reads only the four columns it needs: fast on 500 runs)."""
    rows = runs[["run_name", "run_id", "preset", "dataset"]].to_dict("records")
    return pd.Series([run_label(r) for r in rows], index=runs.index, dtype=object)


def filter_runs(table: pd.DataFrame, **equal: list[str]) -> pd.DataFrame:
    """Rows whose column ``name`` is one of ``values`` for every non-empty filter given."""
    mask = pd.Series(True, index=table.index)
    for column, values in equal.items():
        if values:
            mask &= table[column].isin(values)
    return table[mask]
