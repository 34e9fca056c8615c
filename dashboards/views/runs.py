"""Runs: learning curves of chosen runs overlaid (every per-epoch ``train/*`` and ``val/*`` metric
they logged, estimator health included), and a comparison of 2-5 runs: the config keys that
differ and their per-joint APs side by side."""

import charts
import streamlit as st
import workbench as wb
from plotly.subplots import make_subplots

from tdmi.eval.results import COLUMNS
from tdmi.results import run_table

MAX_COMPARED = 5
DEFAULT_CURVES = ("val/mAP", "train/total", "train/heatmap")

cfg = wb.config()
st.title("Runs: learning curves and comparison")
loaded, table = wb.runs_with_pipeline(cfg)
wb.show_errors(loaded.errors)
usable = run_table.comparable(table)
if usable.empty:
    st.info("No finished training run yet: run `dvc repro` or `python experiments/train.py`.")
    st.stop()

groups = [g for g in run_table.GROUPS if g in set(usable["group"])]
chosen_groups = st.multiselect("groups", groups, default=groups)
pool = usable[usable["group"].isin(chosen_groups)]
labels = dict(zip(run_table.run_labels(pool) + " · " + pool["group"], pool["run_id"], strict=True))
pipeline = [label for label, run_id in labels.items() if label.endswith(run_table.PIPELINE)]
chosen = st.multiselect(
    "runs",
    list(labels),
    default=pipeline or list(labels)[:1],
    max_selections=MAX_COMPARED,
    help=f"up to {MAX_COMPARED} runs; the pipeline's run (metrics/train.json) is chosen first",
)
picked = table[table["run_id"].isin([labels[c] for c in chosen])]
if picked.empty:
    st.stop()

st.dataframe(
    picked[[*run_table.TRACE_COLUMNS, "group", "preset", "dataset", run_table.SUMMARY_METRIC]],
    key="picked",
    hide_index=True,
    column_config=wb.TRACE_CONFIG,
)

st.header("Learning curves")
available = sorted({k for keys in picked["curves"] for k in keys})
metrics = st.multiselect(
    "per-epoch metrics",
    available,
    default=[k for k in DEFAULT_CURVES if k in available] or available[:2],
    help="train/* are epoch means of the loss terms and estimator-health diagnostics; val/* validation",
)
if metrics:
    curves = wb.learning_curves(cfg.mlflow_uri, tuple(picked["run_id"]), tuple(metrics))
    names = dict(zip(picked["run_id"], run_table.run_labels(picked), strict=True))
    curves = curves.assign(run=curves["run_id"].map(names))
    colour, rows = charts.colours(names.values()), (len(metrics) + 1) // 2
    figure = make_subplots(rows=rows, cols=2, subplot_titles=metrics, vertical_spacing=0.12 if rows > 1 else 0.2)
    for k, metric in enumerate(metrics):
        panel = curves[curves["metric"] == metric]
        charts.add_runs(figure, panel, "epoch", "value", colour, "line", row=k // 2 + 1, col=k % 2 + 1)
    figure.update_xaxes(title_text="epoch", row=rows)  # the bottom row only: above, it would cover a panel title
    figure.update_layout(height=320 * rows, legend={"orientation": "h", "y": -0.15})
    st.plotly_chart(figure, key="curves")
    st.caption(
        "val/mAP and val/AP/* in points (0-100); val/oks/* as pycocotools reports them (0-1); "
        "train/* are the loss module's named terms (epoch means)."
    )

st.header("Comparison")
if len(picked) < 2:
    st.info(f"Choose 2 to {MAX_COMPARED} runs above to compare their configs and per-joint APs.")
    st.stop()
params = {
    label: wb.run_details(cfg.mlflow_uri, run_id)[0]
    for label, run_id in zip(run_table.run_labels(picked), picked["run_id"], strict=True)
}
differences = run_table.config_differences(params)
st.subheader(f"Config keys that differ ({len(differences)})")
st.dataframe(differences, key="config_diff")
joints = (
    run_table.joint_ap(picked)
    .pivot_table(index="column", columns="run", values="AP", sort=False)
    .reindex(list(COLUMNS))
)
st.subheader("Per-joint AP (points), side by side")
st.dataframe(joints.round(1), key="compare_joints")
if (run_table.joint_ap(picked)["source"] != "ours: best epoch").any():
    st.caption(
        "Older runs without best/AP/* show their last validated epoch (the source column of the Per joint page)."
    )
