"""Ablations vs paper: per preset, our mean +- std over seeds, the gain over our baseline with its
interval, the paper's number and gain with its source, and the verdict from the stated rule."""

import plotly.graph_objects as go
import streamlit as st
import workbench as wb

from tdmi.reference import ablation_rows
from tdmi.results import ablation

SHOWN = ["preset", "verdict", "n", "mean", "std", "gain", "gain_low", "gain_high", "paper_mean", "paper_gain",
         "paper_dataset", "paper_source", "comparison", "reason", "seeds"]
LABELS = {"mean": "mean mAP", "std": "± std", "gain": "gain", "gain_low": f"CI {ablation.CONFIDENCE:.0%} low",
          "gain_high": "CI high", "paper_mean": "paper mAP", "paper_gain": "paper gain", "paper_dataset": "paper data",
          "paper_source": "paper source"}

cfg = wb.config()
st.title("Ablations vs paper")
all_runs = wb.load_runs(cfg.mlflow_uri)
wb.show_errors(all_runs.errors)
ref = wb.reference(cfg.reference_csv)
summary = wb.ablation_summary(cfg.mlflow_uri, cfg.reference_csv)
paper = ablation_rows(ref)

with st.expander("How the verdict is decided", expanded=False):
    st.markdown(ablation.RULE)
if paper.empty:
    st.info("The paper's reference has no ablation rows yet (tdmi/reference/paper_reference.csv, tables "
            "`ablation_<name>`): our ablations are shown alone and judged against the paper's claim that "
            "each module improves on the baseline (direction only).")

_, left_out = ablation.ablation_runs(all_runs.table)
if summary.empty:
    st.info("No finished ablation runs (tag ablation=true). Run `python experiments/ablate.py` "
            "(after `dvc repro` has prepared the data).")
for dataset, rows in summary.groupby("dataset", sort=True):
    kind = rows["data"].iloc[0]
    st.header(f"Dataset: {dataset} ({kind})")
    if kind != "PoseTrack":
        st.warning(f"Our numbers here are on {kind} data: they are never compared with the paper's "
                   "PoseTrack numbers as equals. Verdicts are about the direction of each gain only.")
    counts = rows["verdict"].value_counts()
    cols = st.columns(3)
    for col, name in zip(cols, (ablation.REPRODUCED, ablation.NOT_REPRODUCED, ablation.INCONCLUSIVE), strict=True):
        col.metric(name, int(counts.get(name, 0)))
    st.dataframe(rows.round(2), key=f"ablation_{dataset}", hide_index=True, column_order=SHOWN, column_config=LABELS)

    claims = rows[rows["preset"] != ablation.BASELINE]
    gain = go.Figure()
    gain.add_bar(x=claims["preset"], y=claims["gain"], name=f"ours ({dataset})",
                 error_y={"type": "data", "symmetric": False, "array": claims["gain_high"] - claims["gain"],
                          "arrayminus": claims["gain"] - claims["gain_low"]})
    with_paper = claims[claims["paper_gain"].notna()]
    if len(with_paper):
        gain.add_scatter(x=with_paper["preset"], y=with_paper["paper_gain"], mode="markers", marker={"size": 12, "symbol": "diamond"},
                         name="paper", text=with_paper["paper_dataset"] + " · " + with_paper["paper_source"], hoverinfo="text+y")
    gain.update_layout(title=f"Gain over our baseline ({dataset}), {ablation.CONFIDENCE:.0%} CI", yaxis_title="Δ mAP (points)", height=360)
    st.plotly_chart(gain, key=f"gain_{dataset}")
    versus = go.Figure()
    versus.add_bar(x=rows["preset"], y=rows["mean"], name=f"ours ({dataset})", error_y={"type": "data", "array": rows["std"]})
    if rows["paper_mean"].notna().any():
        versus.add_bar(x=rows["preset"], y=rows["paper_mean"], name="paper", text=rows["paper_dataset"], hovertext=rows["paper_source"])
    versus.update_layout(title=f"mAP: ours ({dataset}) vs paper ({', '.join(sorted(set(rows['paper_dataset']) - {''})) or 'no rows'})",
                         barmode="group", yaxis_title="mAP (%)", height=360)
    st.plotly_chart(versus, key=f"versus_{dataset}")

if len(left_out):
    st.subheader("Ablation runs left out")
    st.dataframe(left_out[["run_name", "preset", "seed", "dataset", "status", "health", "run_id"]], key="left_out", hide_index=True)
if not paper.empty:
    st.subheader("The paper's ablation rows (reference)")
    st.dataframe(paper, key="paper_rows", hide_index=True)
