"""The dashboard's cached reads: every page gets its data here, through tdmi.results.

``st.cache_data`` with a TTL: a page re-renders from memory (500 runs, 1,000 trials: 0.01-0.25 s,
against 0.9-2.2 s uncached; benchmarks/dashboard_speed.py) and picks up new runs within ``TTL``
seconds without a restart. Optuna studies are ``cache_resource`` (Optuna's RDB storage caches
finished trials inside the object).
"""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from tdmi.reference import load_reference
from tdmi.results import ablation, dvc_metrics, qualitative, runs, studies
from tdmi.results.config import DashboardConfig

TTL = 60  # seconds: new runs and trials appear within a minute; a sweep trial takes longer


def config() -> DashboardConfig:
    """Arguments after ``--`` on the streamlit command line, then TDMI_* variables, then defaults."""
    return DashboardConfig.from_sources(sys.argv[1:])


@st.cache_data(ttl=TTL, show_spinner=False)
def load_runs(uri: str) -> runs.Runs:
    return runs.load_runs(uri)


@st.cache_data(ttl=TTL, show_spinner=False)
def reference(path: Path | None) -> pd.DataFrame:
    return load_reference(path)


@st.cache_data(ttl=TTL, show_spinner=False)
def ablation_summary(uri: str, reference_path: Path | None) -> pd.DataFrame:
    return ablation.summarise(load_runs(uri).table, reference(reference_path))


@st.cache_data(ttl=TTL, show_spinner=False)
def metrics(project_dir: Path) -> tuple[dict, dict]:
    return dvc_metrics.read_metrics(project_dir)


@st.cache_data(ttl=TTL, show_spinner=False)
def run_details(uri: str, run_id: str) -> tuple[dict, dict]:
    return runs.run_details(uri, run_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def list_studies(storage: str) -> pd.DataFrame:
    return studies.list_studies(storage)


@st.cache_resource(ttl=TTL, show_spinner=False)
def study(storage: str, name: str) -> optuna.Study:
    return studies.load_study(storage, name)


@st.cache_data(ttl=TTL, show_spinner=False)
def study_figure(storage: str, name: str, kind: str, params: tuple[str, ...] = ()) -> go.Figure:
    """One of Optuna's own plots (plotly figures pickle, so they cache as data); importances with
    Optuna's default evaluator (fANOVA), about 0.3 s on 1,000 trials here."""
    s = study(storage, name)
    vis = optuna.visualization
    if kind == "history":
        return vis.plot_optimization_history(s)
    if kind == "importances":
        return vis.plot_param_importances(s, params=list(params) or None)
    if kind == "parallel":
        return vis.plot_parallel_coordinate(s, params=list(params) or None)
    return vis.plot_slice(s, params=list(params) or None)


@st.cache_data(ttl=TTL, show_spinner=False)
def artifact(uri: str, run_id: str, path: str) -> Path | None:
    """A run's artifact downloaded (or found locally); None when the run has none there."""
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=uri))
    except Exception:  # no such artifact, or the artifact store is gone: the page says so
        return None


@st.cache_resource(ttl=TTL, show_spinner=False)
def run_sample(predictions: Path, data_root: Path, offsets: tuple[int, ...]) -> qualitative.Sample:
    return qualitative.run_sample(predictions, data_root, offsets)


@st.cache_resource(ttl=TTL, show_spinner=False)
def predict_sample(folder: Path) -> qualitative.Sample:
    return qualitative.predict_output_sample(folder)


def show_errors(errors: list[str] | dict[str, str]) -> None:
    """Problems with part of the data, shown above the rest (which still renders)."""
    items = errors.items() if isinstance(errors, dict) else [(None, e) for e in errors]
    for name, error in items:
        st.warning(f"{name}: {error}" if name else error)
