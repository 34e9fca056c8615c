"""Per joint: AP per joint group for chosen runs (default: the pipeline's run and the ablation
means) beside the paper's main-results rows, on separate axes (our numbers and the paper's may be
on different data and scales) or as the gap to one reference row. AP in points (0-100)."""

import charts
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import workbench as wb
from plotly.subplots import make_subplots

from tdmi.eval.results import COLUMNS
from tdmi.reference import main_rows, reference_dataset
from tdmi.results import run_table

cfg = wb.config()
st.title("Per joint")
loaded, table = wb.runs_with_pipeline(cfg)
wb.show_errors(loaded.errors)
ref = wb.reference(cfg.reference_csv)
usable = run_table.comparable(table)
with_joints = usable[usable[[f"best/AP/{COLUMNS[-1]}", f"val/AP/{COLUMNS[-1]}"]].notna().any(axis=1)]
if with_joints.empty:
    st.info("No finished run with per-joint validation AP yet: run `dvc repro` or `python experiments/train.py`.")
    st.stop()

singles, means = wb.joint_ap_tables(cfg.mlflow_uri, cfg.baseline)
singles = singles[singles["run_id"].isin(with_joints["run_id"])]
candidates = pd.concat([means, singles], ignore_index=True)  # long: one row per (run or mean, joint group)
labels = run_table.run_labels(with_joints)
groups = dict(zip(labels, with_joints["group"], strict=True))
pipeline = [label for label, group in groups.items() if group == run_table.PIPELINE]
chosen = st.multiselect(
    "ours: runs and ablation means",
    list(dict.fromkeys(candidates["run"])),
    default=pipeline + list(means["run"].unique()),
    help="default: the pipeline's run (metrics/train.json) and the mean over seeds of each ablation preset",
)
datasets = list(dict.fromkeys(ref[ref["table"] == "main"]["dataset"]))
ours_data = {reference_dataset(d) for d in with_joints["dataset"]}
default = next((i for i, d in enumerate(datasets) if d in ours_data), 0)
dataset = st.selectbox("paper's dataset", datasets, index=default)
paper = main_rows(ref, dataset)
methods = st.multiselect("paper's rows", list(paper["method"]), default=list(paper["method"])[-2:])
if dataset not in ours_data:
    st.warning(f"Our runs are not on {dataset}: the paper's rows are shown for scale, not as a comparison.")

ours = candidates[candidates["run"].isin(chosen)]
ours = ours.iloc[ours["run"].map({c: k for k, c in enumerate(chosen)}).argsort(kind="stable")]  # in chosen order
picked = paper[paper["method"].isin(methods)]
theirs = pd.DataFrame(
    [
        {
            "run": f"paper: {r['method']} ({dataset})",
            "run_id": "",
            "column": c,
            "AP": r[c.lower()],
            "source": f"{r['source']} ({r['kind']})",
        }
        for r in picked.to_dict("records")
        for c in COLUMNS
    ],
    columns=ours.columns,
)

view = st.radio("view", ["side by side (separate axes)", "gap to a paper row"], horizontal=True)
colour = {**charts.colours(ours["run"]), **charts.colours(theirs["run"], charts.PAPER)}
if view.startswith("side"):
    figure = make_subplots(rows=1, cols=2, subplot_titles=("ours", f"paper ({dataset})"), horizontal_spacing=0.08)
    charts.add_runs(figure, ours, "column", "AP", colour, row=1, col=1)
    charts.add_runs(figure, theirs, "column", "AP", colour, row=1, col=2, marker_line={"color": "#444", "width": 1})
    figure.update_yaxes(title_text="PoseTrack AP (points)")
    title = "AP per joint group: each side on its own axis"
elif len(picked):
    against = st.selectbox("paper row", list(picked["method"]))
    row = picked[picked["method"] == against].iloc[0]
    gap = ours.assign(gap=[ap - row[c.lower()] for ap, c in zip(ours["AP"], ours["column"], strict=True)])
    figure = charts.add_runs(go.Figure(), gap, "column", "gap", colour)
    figure.update_yaxes(title_text=f"our AP − {against} (points)")
    title = f"Gap to {against} ({dataset}, {row['source']}): below 0 = below the paper"
else:
    figure = None
    st.info("Choose a paper row above to see the gap to it.")
if figure is not None:
    figure.update_xaxes(title_text="joint group", categoryorder="array", categoryarray=list(COLUMNS))
    figure.update_layout(barmode="group", height=460, legend={"orientation": "h", "y": -0.25}, title=title)
    st.plotly_chart(figure, key="per_joint_chart")

long = pd.concat([ours, theirs], ignore_index=True)
if len(long):
    wide = long.pivot_table(index=["run", "source"], columns="column", values="AP", sort=False)[list(COLUMNS)].round(1)
    st.dataframe(wide.reset_index(), key="per_joint_table", hide_index=True)
traced = with_joints[labels.isin(chosen)]
if len(traced):
    st.dataframe(
        traced[[*run_table.TRACE_COLUMNS, "group", "preset", "dataset"]],
        key="per_joint_runs",
        hide_index=True,
        column_config=wb.TRACE_CONFIG,
    )
