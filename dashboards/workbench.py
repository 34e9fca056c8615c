"""The dashboard's cached reads: every page gets its data here, through tdmi.results.

``st.cache_data`` with a TTL: a page re-renders from memory and picks up new runs within ``TTL``
seconds without a restart; a study read from a SQLite store is keyed on the store's modification
time as well, so a new trial shows at once. The Sweep page reads its study as a
:class:`tdmi.results.studies.StudyTrials` snapshot; the Optuna study object (``cache_resource``)
is loaded only for Optuna's own plots.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import plotly.graph_objects as go
import settings
import streamlit as st

from tdmi.reference import load_reference
from tdmi.results import ablation, dvc_metrics, qualitative, run_table, sqlite, studies
from tdmi.results.config import DashboardConfig

TTL = 60  # seconds: new runs and trials appear within a minute; a sweep trial takes longer
TRACE_CONFIG = {  # the columns that lead from a row to its run (tdmi.results.run_table.TRACE_COLUMNS)
    "run_name": st.column_config.TextColumn("run"),
    "mlflow": st.column_config.LinkColumn("MLflow", display_text="open run", help="the run in the MLflow UI"),
    "checkpoint": st.column_config.TextColumn("best checkpoint"),
    "git_commit": st.column_config.TextColumn("git commit"),
}


def config() -> DashboardConfig:
    """Arguments after ``--`` on the streamlit command line, then TDMI_* variables, then defaults."""
    return settings.parse(sys.argv[1:])


@st.cache_data(ttl=TTL, show_spinner=False)
def load_runs(uri: str) -> run_table.Runs:
    return run_table.load_runs(uri)


def runs_with_pipeline(cfg: DashboardConfig) -> tuple[run_table.Runs, pd.DataFrame]:
    """(the runs as loaded, their table with the pipeline's run marked and the trace columns)."""
    loaded = load_runs(cfg.mlflow_uri)
    found, _ = metrics(cfg.project_dir)
    run, _ = dvc_metrics.producing_run(found, loaded.table)
    table = run_table.mark_pipeline(loaded.table, None if run is None else run["run_id"])
    return loaded, run_table.trace(table, cfg.mlflow_ui)


@st.cache_data(ttl=TTL, show_spinner=False)
def learning_curves(uri: str, run_ids: tuple[str, ...], keys: tuple[str, ...]) -> pd.DataFrame:
    return run_table.learning_curves(uri, run_ids, keys)


@st.cache_data(ttl=TTL, show_spinner=False)
def reference(path: Path | None) -> pd.DataFrame:
    return load_reference(path)


@st.cache_data(ttl=TTL, show_spinner=False)
def verdict_table(uri: str, reference_path: Path | None, baseline: str, confidence: float) -> pd.DataFrame:
    return ablation.verdict_table(load_runs(uri).table, reference(reference_path), baseline, confidence)


@st.cache_data(ttl=TTL, show_spinner=False)
def joint_ap_tables(uri: str, baseline: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(each comparable run's AP per joint group, the ablation means): long tables."""
    usable = run_table.comparable(load_runs(uri).table)
    return run_table.joint_ap(usable), ablation.joint_ap_means(usable, baseline)


@st.cache_data(ttl=TTL, show_spinner=False)
def metrics(project_dir: Path) -> tuple[dict, dict]:
    return dvc_metrics.read_metrics(project_dir)


@st.cache_data(ttl=TTL, show_spinner=False)
def run_details(uri: str, run_id: str) -> tuple[dict, dict]:
    return run_table.run_details(uri, run_id)


def list_studies(storage: str) -> pd.DataFrame:
    return _list_studies(storage, sqlite.version(storage))


def study_trials(storage: str, name: str) -> studies.StudyTrials:
    return _study_trials(storage, name, sqlite.version(storage))


@st.cache_data(ttl=TTL, show_spinner=False)
def _list_studies(storage: str, version: tuple[float, ...] | None) -> pd.DataFrame:
    """``version``: the SQLite store's modification times, so a write to it is seen at once."""
    return studies.list_studies(storage)


@st.cache_data(ttl=TTL, show_spinner=False)
def _study_trials(storage: str, name: str, version: tuple[float, ...] | None) -> studies.StudyTrials:
    return studies.read_study(storage, name)


@st.cache_resource(ttl=TTL, show_spinner=False)
def optuna_storage(url: str) -> optuna.storages.BaseStorage | None:
    return studies.open_storage(url)


@st.cache_resource(ttl=TTL, show_spinner=False)
def study(storage: str, name: str) -> optuna.Study:
    """The Optuna study itself: only for Optuna's own plots, drawn on request on large studies."""
    return studies.load_study(optuna_storage(storage), name)


@st.cache_data(ttl=TTL, show_spinner=False)
def study_figure(storage: str, name: str, kind: str, params: tuple[str, ...] = ()) -> go.Figure:
    """One of Optuna's own plots (plotly figures pickle, so they cache as data) of the first
    objective (a cost objective beside it would make Optuna refuse to plot); importances with
    Optuna's default evaluator (PED-ANOVA in Optuna 5, which ranks parameters by how they reach
    *low* target values: a maximised first objective is negated for it)."""
    s = study(storage, name)
    target_name = studies.objective_names(s)[0]
    target = (lambda t: t.values[0]) if len(s.directions) > 1 else None
    if kind == "importances" and target is not None and s.directions[0] == optuna.study.StudyDirection.MAXIMIZE:
        target = lambda t: -t.values[0]  # noqa: E731
    plot = {
        "importances": optuna.visualization.plot_param_importances,
        "parallel": optuna.visualization.plot_parallel_coordinate,
    }[kind]
    return plot(s, params=list(params) or None, target=target, target_name=target_name)


@st.cache_data(ttl=TTL, show_spinner=False)
def artifact(uri: str, run_id: str, path: str) -> Path | None:
    """A run's artifact downloaded (or found locally); None when the run has none there."""
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=uri))
    except Exception:  # no such artifact, or the artifact store is gone: the page says so
        return None


@st.cache_resource(ttl=TTL, show_spinner=False)
def run_sample(predictions: Path, data_root: Path, offsets: tuple[int, ...], loader: str) -> qualitative.Sample:
    return qualitative.run_sample(predictions, data_root, offsets, loader)


@st.cache_resource(ttl=TTL, show_spinner=False)
def predict_sample(folder: Path) -> qualitative.Sample:
    return qualitative.predict_output_sample(folder)


def show_errors(errors: list[str] | dict[str, str]) -> None:
    """Problems with part of the data, shown above the rest (which still renders)."""
    items = errors.items() if isinstance(errors, dict) else [(None, e) for e in errors]
    for name, error in items:
        st.warning(f"{name}: {error}" if name else error)
