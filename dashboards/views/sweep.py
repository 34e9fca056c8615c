"""Sweep: one Optuna study: its objective named with its unit, trial states, the best trial and its
override file, every trial with its run, per-trial curves (pruned ones marked) and Optuna's plots.
The optimisation history and the slices are drawn here from the trials (Optuna's own plots take
seconds on 1,000 trials); importances and parallel coordinates are drawn at once up to :data:`EAGER_TRIALS`
complete trials and on request above, so the page's first render stays fast."""

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import workbench as wb
from plotly.subplots import make_subplots

from tdmi.results import studies

EAGER_TRIALS = 200  # up to this many complete trials every plot is drawn at once
STATE_COLOURS = {"COMPLETE": "#1f77b4", "PRUNED": "#d62728", "FAIL": "#7f7f7f", "RUNNING": "#2ca02c"}

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
study = wb.study(cfg.optuna_storage, name)
objectives = studies.objective_names(study)
directions = [d.name.lower() for d in study.directions]
st.markdown("Objective: " + "; ".join(f"**{o}**, {d}d" for o, d in zip(objectives, directions, strict=True)))
states = studies.trial_states(study)
cols = st.columns(len(states))
for col, row in zip(cols, states.to_dict("records"), strict=True):
    col.metric(row["state"].lower(), row["trials"])

best = studies.best_trial(study)
if best is None:
    st.info("No trial has completed yet: plots appear after the first complete trial.")
    st.stop()
values = ", ".join(f"{o} = {v:.4g}" for o, v in zip(objectives, best.values, strict=True))
st.subheader(f"Best trial: #{best.number} ({values})")
if len(study.directions) > 1:
    st.caption("Several objectives: the best trial is the Pareto-optimal trial of highest first objective.")
shown = studies.display_params(best.params)
st.dataframe({"param": list(shown), "value": [str(v) for v in shown.values()]}, key="best_params", hide_index=True)
override = studies.override_file(study, cfg.project_dir)
if override:
    st.markdown(
        f"Hydra override file: `{override.relative_to(cfg.project_dir)}` "
        f"(retrain: `python experiments/train.py $(cat {override.relative_to(cfg.project_dir)})`)"
    )
    st.code(override.read_text(encoding="utf-8"), language="bash")
else:
    st.info("The sweep's override file for this study (its `best_overrides_file` attribute) is not in the project.")

loaded, table = wb.runs_with_pipeline(cfg)
trials = studies.trials_table(study, table, cfg.mlflow_ui)
st.subheader(f"Trials ({len(trials)})")
st.caption(f"A switched-off MI weight is shown as `{studies.OFF}`. Run links open the MLflow UI at {cfg.mlflow_ui}.")
st.dataframe(
    trials,
    key="trials",
    hide_index=True,
    column_config={
        **wb.TRACE_CONFIG,
        **{o: st.column_config.NumberColumn(o, format="%.2f") for o in objectives},
        "duration (s)": st.column_config.NumberColumn(format="%.0f"),
    },
)

curves = studies.trial_curves(study)
if len(curves):
    st.subheader("Per-trial curves")
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
        yaxis_title=objectives[0].removeprefix("best "),
    )
    st.plotly_chart(figure, key="trial_curves")

params = tuple(studies.swept_params(study))
complete = int(states.set_index("state").loc["COMPLETE", "trials"])
st.subheader("Optimisation history")
done = trials[trials["state"] == "COMPLETE"]
best_so_far = done[objectives[0]].cummax() if directions[0] == "maximize" else done[objectives[0]].cummin()
history = go.Figure()
history.add_scatter(x=done["trial"], y=done[objectives[0]], mode="markers", name="complete trial", marker={"size": 6})
history.add_scatter(x=done["trial"], y=best_so_far, mode="lines", name="best so far", line={"shape": "hv"})
history.update_layout(xaxis_title="trial", yaxis_title=objectives[0], height=380)
st.plotly_chart(history, key="history")

st.subheader("Parameter importances")
if complete < studies.IMPORTANCE_MIN_TRIALS:
    st.warning(
        f"Only {complete} complete trials: importances from fewer than ~{studies.IMPORTANCE_MIN_TRIALS} trials "
        "are mostly noise. Read them as a hint at best."
    )
# Optuna's importances and parallel coordinates take seconds on a large study: drawn on request there.
heavy = complete <= EAGER_TRIALS or st.toggle(
    f"draw importances and parallel coordinates ({complete} trials: a few seconds)"
)
if heavy:
    st.plotly_chart(wb.study_figure(cfg.optuna_storage, name, "importances", params), key="importances")
    st.subheader("Parallel coordinates")
    st.plotly_chart(wb.study_figure(cfg.optuna_storage, name, "parallel", params), key="parallel")
st.subheader("Slices: each swept value")
points = studies.slice_points(study)
if len(points):
    names = list(dict.fromkeys(points["param"]))
    slices = make_subplots(rows=1, cols=len(names), shared_yaxes=True, horizontal_spacing=0.03)
    for k, param in enumerate(names, start=1):
        mine = points[points["param"] == param]
        slices.add_scatter(
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
        slices.update_xaxes(
            title_text=param.split(".", 1)[-1], type="log" if mine["log"].all() else "linear", row=1, col=k
        )
    slices.update_yaxes(title_text=objectives[0], row=1, col=1)
    slices.update_layout(
        height=380, title="Each complete trial's value against each swept value (a switched-off weight: not shown)"
    )
    st.plotly_chart(slices, key="slice")
