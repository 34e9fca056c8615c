"""Per joint: AP per joint group for chosen runs beside the paper's main-results rows."""

import pandas as pd
import plotly.express as px
import streamlit as st
import workbench as wb

from tdmi.eval.results import COLUMNS
from tdmi.reference import main_rows, reference_dataset
from tdmi.results import runs

cfg = wb.config()
st.title("Per joint")
all_runs = wb.load_runs(cfg.mlflow_uri)
wb.show_errors(all_runs.errors)
ref = wb.reference(cfg.reference_csv)
table = all_runs.table
with_joints = table[table["health"].eq(runs.OK) & table[[f"best/AP/{COLUMNS[-1]}", f"val/AP/{COLUMNS[-1]}"]].notna().any(axis=1)]
if with_joints.empty:
    st.info("No finished run with per-joint validation AP yet: run `dvc repro` or `python experiments/train.py`.")
    st.stop()

labels = {runs.run_label(r): r["run_id"] for r in with_joints.to_dict("records")}
chosen = st.multiselect("runs", list(labels), default=list(labels)[:3])
datasets = list(dict.fromkeys(ref[ref["table"] == "main"]["dataset"]))
ours = {reference_dataset(d) for d in with_joints[with_joints["run_id"].isin([labels[c] for c in chosen])]["dataset"]}
default = next((i for i, d in enumerate(datasets) if d in ours), 0)
dataset = st.selectbox("paper's dataset", datasets, index=default)
paper = main_rows(ref, dataset)
methods = st.multiselect("paper's rows", list(paper["method"]), default=list(paper["method"])[-2:])
if dataset not in ours:
    st.warning(f"The chosen runs are not on {dataset}: the paper's rows are shown for scale, not as a comparison.")

long = runs.per_joint(with_joints[with_joints["run_id"].isin([labels[c] for c in chosen])])
picked = paper[paper["method"].isin(methods)]
for row in picked.to_dict("records"):
    long = pd.concat([long, pd.DataFrame({"run": f"paper: {row['method']} ({dataset})", "run_id": "", "column": list(COLUMNS),
                                          "AP": [row[c.lower()] for c in COLUMNS], "source": row["source"]})], ignore_index=True)
figure = px.bar(long, x="column", y="AP", color="run", barmode="group", hover_data=["source"],
                category_orders={"column": list(COLUMNS)}, title=f"PoseTrack AP per joint group (paper: {dataset})")
st.plotly_chart(figure, key="per_joint_chart")
wide = long.pivot_table(index=["run", "source"], columns="column", values="AP", sort=False)[list(COLUMNS)].round(2)
st.dataframe(wide.reset_index(), key="per_joint_table", hide_index=True)
