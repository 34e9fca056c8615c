"""Sweep: one Optuna study: its objective named with its unit, trial states, the best trial and its
override file, every trial with its run, and one plot at a time: per-trial curves (pruned ones
marked), the optimisation history, slices, or Optuna's importances and parallel coordinates.

The study is read once as a snapshot (tdmi/results/studies.py: plain SQL on SQLite) and only the
chosen plot is built, so the first render stays fast on 1,000 trials (benchmarks/dashboard_speed.py);
Optuna's own plots load the Optuna study and take seconds there, so they are drawn when chosen."""

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import workbench as wb
from plotly.subplots import make_subplots

from tdmi.results import studies

STATE_COLOURS = {"COMPLETE": "#1f77b4", "PRUNED": "#d62728", "FAIL": "#7f7f7f", "RUNNING": "#2ca02c"}
PLOTS = ("per-trial curves", "optimisation history", "slices", "importances", "parallel coordinates")


def curves_figure(curves: pd.DataFrame, unit: str) -> go.Figure:
    figure = go.Figure()
    for state, colour in STATE_COLOURS.items():  # one trace per state, trials split by gaps: fast for 1,000 trials
        mine = curves[curves["state"] == state]
        if len(mine):
            breaks = pd.DataFrame({"trial": mine["trial"].unique(), "epoch": math.inf, "value": math.nan})
            gaps = pd.concat([mine, breaks]).sort_values(["trial", "epoch"]).replace(math.inf, math.nan)
            figure.add_scatter(
                x=gaps["epoch"],
                y=gaps["value"],
                mode="lines+markers",
                name=state.lower(),
                line={"color": colour, "width": 1},
                marker={"size": 4},
                text=gaps["trial"],
                hovertemplate="trial %{text}: %{y:.2f} at epoch %{x}",
            )
    figure.update_layout(
        title="Value each trial reported to the pruner per epoch (red: pruned there)",
        height=380,
        xaxis_title="epoch",
        yaxis_title=unit,
    )
    return figure


def history_figure(done: pd.DataFrame, objective: str, maximize: bool) -> go.Figure:
    best_so_far = done[objective].cummax() if maximize else done[objective].cummin()
    figure = go.Figure()
    figure.add_scatter(x=done["trial"], y=done[objective], mode="markers", name="complete trial", marker={"size": 6})
    figure.add_scatter(x=done["trial"], y=best_so_far, mode="lines", name="best so far", line={"shape": "hv"})
    figure.update_layout(xaxis_title="trial", yaxis_title=objective, height=380)
    return figure


def slices_figure(points: pd.DataFrame, objective: str) -> go.Figure:
    names = list(dict.fromkeys(points["param"]))
    figure = make_subplots(rows=1, cols=max(len(names), 1), shared_yaxes=True, horizontal_spacing=0.03)
    for k, param in enumerate(names, start=1):
        mine = points[points["param"] == param]
        figure.add_scatter(
            x=mine["x"],
            y=mine["value"],
            mode="markers",
            marker={
                "size": 5,
                "color": mine["trial"],
                "colorscale": "Viridis",
                "showscale": k == 1,
                "colorbar": {"title": "trial"},
            },
            text=mine["trial"],
            hovertemplate="trial %{text}: %{y:.2f} at %{x:.4g}",
            showlegend=False,
            row=1,
            col=k,
        )
        figure.update_xaxes(
            title_text=param.split(".", 1)[-1], type="log" if mine["log"].all() else "linear", row=1, col=k
        )
    figure.update_yaxes(title_text=objective, row=1, col=1)
    figure.update_layout(
        height=380, title="Each complete trial's value against each swept value (a switched-off weight: not shown)"
    )
    return figure


cfg = wb.config()
st.title("Sweep")
st.caption(f"Optuna storage {cfg.optuna_storage}")
try:
    listing = wb.list_studies(cfg.optuna_storage)
except Exception as err:  # unreachable database, foreign schema: say so instead of a traceback
    st.error(f"Cannot read the Optuna storage: {err}")
    st.stop()
if listing.empty:
    st.info(
        "No Optuna study yet. Run `python experiments/sweep.py` (studies are stored in optuna.db, "
        "or the storage URL given to the sweep; point the dashboard at it with TDMI_OPTUNA_STORAGE)."
    )
    st.stop()

name = st.selectbox("study", list(listing["study"]))
trials = wb.study_trials(cfg.optuna_storage, name)
objectives, directions = list(trials.objectives), list(trials.directions)
st.markdown("Objective: " + "; ".join(f"**{o}**, {d}d" for o, d in zip(objectives, directions, strict=True)))
states = studies.trial_states(trials)
cols = st.columns(len(states))
for col, row in zip(cols, states.to_dict("records"), strict=True):
    col.metric(row["state"].lower(), row["trials"])

best = studies.best_number(trials)
if best is None:
    st.info("No trial has completed yet: plots appear after the first complete trial.")
    st.stop()
best_row = trials.trials.set_index("trial").loc[best]
values = ", ".join(f"{o} = {best_row[o]:.4g}" for o in objectives)
st.subheader(f"Best trial: #{best} ({values})")
if len(directions) > 1:
    st.caption("Several objectives: the best trial is the Pareto-optimal trial of highest first objective.")
shown = studies.best_params(trials, best)
st.dataframe({"param": list(shown), "value": [str(v) for v in shown.values()]}, key="best_params", hide_index=True)
override = studies.override_file(trials, cfg.project_dir)
if override:
    st.markdown(
        f"Hydra override file: `{override.relative_to(cfg.project_dir)}` "
        f"(retrain: `python experiments/train.py $(cat {override.relative_to(cfg.project_dir)})`)"
    )
    st.code(override.read_text(encoding="utf-8"), language="bash")
else:
    st.info("The sweep's override file for this study (its `best_overrides_file` attribute) is not in the project.")

loaded, table = wb.runs_with_pipeline(cfg)
rows = studies.trials_table(trials, table, cfg.mlflow_ui)
st.subheader(f"Trials ({len(rows)})")
st.caption(f"A switched-off MI weight is shown as `{studies.OFF}`. Run links open the MLflow UI at {cfg.mlflow_ui}.")
st.dataframe(
    rows,
    key="trials",
    hide_index=True,
    column_config={
        **wb.TRACE_CONFIG,
        **{o: st.column_config.NumberColumn(o, format="%.2f") for o in objectives},
        "duration (s)": st.column_config.NumberColumn(format="%.0f"),
    },
)

complete = int(states.set_index("state").loc["COMPLETE", "trials"])
if complete < studies.IMPORTANCE_MIN_TRIALS:
    st.warning(
        f"Only {complete} complete trials: importances from fewer than ~{studies.IMPORTANCE_MIN_TRIALS} trials "
        "are mostly noise. Read them as a hint at best."
    )
plot = st.segmented_control("plot", PLOTS, default=PLOTS[0], key="plot") or PLOTS[0]
st.subheader(plot.capitalize())
if plot == "per-trial curves":
    st.plotly_chart(curves_figure(trials.curves, objectives[0].removeprefix("best ")), key="trial_curves")
elif plot == "optimisation history":
    done = rows[rows["state"] == "COMPLETE"]
    st.plotly_chart(history_figure(done, objectives[0], directions[0] == "maximize"), key="history")
elif plot == "slices":
    st.plotly_chart(slices_figure(studies.slice_points(trials), objectives[0]), key="slice")
else:  # Optuna's own plots: they load the Optuna study (seconds on a large one)
    kind = "importances" if plot == "importances" else "parallel"
    with st.spinner(f"Optuna draws the {plot} of {complete} trials"):
        figure = wb.study_figure(cfg.optuna_storage, name, kind, tuple(studies.swept_params(trials)))
    st.plotly_chart(figure, key=kind)
