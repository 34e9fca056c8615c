"""Ablations vs paper: per preset, our mean +- std over seeds, the gain over our baseline with its
interval, the paper's number and gain with its kind, source and verification, the verdict from the
stated rule (colour-coded), the per-joint-group table, and every seed's run. mAP in points (0-100)."""

import plotly.graph_objects as go
import streamlit as st
import workbench as wb

from tdmi.reference import ablation_rows
from tdmi.results import ablation, run_table

NUMBER = "%.1f"
LABELS = {
    "mean": st.column_config.NumberColumn("mean mAP (points)", format=NUMBER),
    "std": st.column_config.NumberColumn("± std", format=NUMBER),
    "gain": st.column_config.NumberColumn("gain (points)", format=NUMBER),
    "gain_low": st.column_config.NumberColumn("CI low", format=NUMBER),  # its level: ablate.confidence
    "gain_high": st.column_config.NumberColumn("CI high", format=NUMBER),
    "paper_mean": st.column_config.NumberColumn("paper mAP (points)", format=NUMBER),
    "paper_gain": st.column_config.NumberColumn("paper gain", format=NUMBER),
    "paper_dataset": "paper data",
    "paper_kind": "paper kind",
    "paper_verified": "verified in the paper",
    "paper_source": "paper source",
    "paper_note": "paper note",
}
COLOURS = {ablation.REPRODUCED: "#c8efd0", ablation.NOT_REPRODUCED: "#f9c9c4", ablation.INCONCLUSIVE: "#fbe8b0"}


def colour(verdict: str) -> str:
    return f"background-color: {COLOURS[verdict]}" if verdict in COLOURS else ""


cfg = wb.config()
st.title("Ablations vs paper")
loaded, table = wb.runs_with_pipeline(cfg)
wb.show_errors(loaded.errors)
ref = wb.reference(cfg.reference_csv)
summary = wb.verdict_table(cfg.mlflow_uri, cfg.reference_csv, cfg.baseline, cfg.confidence)
paper = ablation_rows(ref)

with st.expander("How the verdict is decided", expanded=False):
    st.markdown(ablation.rule(cfg.confidence))
    st.markdown(
        f"Baseline preset: `{cfg.baseline}` (experiments/conf/ablate's `baseline`, or `--baseline`); "
        f"interval level {cfg.confidence:.0%} (its `confidence`). "
        "Reference kinds: *paper* = the TDMI paper's own table; *secondary* = quoted by another paper; "
        "*author_notes* = the first author's notes (not peer-reviewed)."
    )
if paper.empty:
    st.info(
        "The paper's reference has no ablation rows yet (tdmi/reference/paper_reference.csv, tables "
        "`ablation_<name>`): our ablations are shown alone and judged against the paper's claim that "
        "each module improves on the baseline (direction only)."
    )

usable, left_out = ablation.ablation_runs(table)
if summary.empty:
    st.info(
        "No finished ablation runs (tag ablation=true). Run `python experiments/ablate.py` "
        "(after `dvc repro` has prepared the data)."
    )
groups = ablation.joint_group_table(table, cfg.baseline)
for dataset, rows in summary.groupby("dataset", sort=True):
    kind = rows["data"].iloc[0]
    st.header(f"Dataset: {dataset} ({kind})")
    if kind != "PoseTrack":
        st.warning(
            f"Our numbers here are on {kind} data: they are never compared with the paper's "
            "PoseTrack numbers as equals. Verdicts are about the direction of each gain only."
        )
    counts = rows["verdict"].value_counts()
    cols = st.columns(3)
    for col, name in zip(cols, (ablation.REPRODUCED, ablation.NOT_REPRODUCED, ablation.INCONCLUSIVE), strict=True):
        col.metric(name, int(counts.get(name, 0)))
    st.dataframe(
        rows.style.map(colour, subset=["verdict"]),
        key=f"ablation_{dataset}",
        hide_index=True,
        column_order=ablation.DISPLAY_COLUMNS,
        column_config=LABELS,
    )

    claims = rows[rows["preset"] != cfg.baseline]
    gain = go.Figure()
    gain.add_bar(
        x=claims["preset"],
        y=claims["gain"],
        name=f"ours ({dataset})",
        marker_color="#1f77b4",
        error_y={
            "type": "data",
            "symmetric": False,
            "array": claims["gain_high"] - claims["gain"],
            "arrayminus": claims["gain"] - claims["gain_low"],
        },
    )
    with_paper = claims[claims["paper_gain"].notna()]
    if len(with_paper):
        gain.add_scatter(
            x=with_paper["preset"],
            y=with_paper["paper_gain"],
            mode="markers",
            name="paper",
            marker={"size": 12, "symbol": "diamond", "color": "#d62728"},
            text=with_paper["paper_dataset"] + " · " + with_paper["paper_source"],
            hoverinfo="text+y",
        )
    gain.update_layout(
        title=f"Gain over our {cfg.baseline} ({dataset}), {cfg.confidence:.0%} CI",
        xaxis_title="preset",
        yaxis_title="Δ mAP (points)",
        height=360,
    )
    st.plotly_chart(gain, key=f"gain_{dataset}")

    st.subheader("Per joint group (best epoch, mean ± std over seeds, points)")
    st.dataframe(groups[groups["dataset"] == dataset].drop(columns="dataset"), key=f"groups_{dataset}", hide_index=True)
    seeds = usable[usable["dataset"] == dataset].sort_values(["preset", "seed"])
    with st.expander(f"The {len(seeds)} runs behind these numbers"):
        st.dataframe(
            seeds[[*run_table.TRACE_COLUMNS, "preset", "seed", run_table.SUMMARY_METRIC]],
            key=f"seeds_{dataset}",
            hide_index=True,
            column_config=wb.TRACE_CONFIG,
        )

if len(left_out):
    st.subheader("Ablation runs left out")
    st.dataframe(
        left_out[[*run_table.TRACE_COLUMNS, "preset", "seed", "dataset", "status", "health", "run_id"]],
        key="left_out",
        hide_index=True,
        column_config=wb.TRACE_CONFIG,
    )
if not paper.empty:
    st.subheader("The paper's ablation rows (reference)")
    st.dataframe(
        paper[["table", "dataset", "split", "method", "mean", "kind", "verified_against_tdmi_paper", "source", "note"]],
        key="paper_rows",
        hide_index=True,
        column_config={"mean": st.column_config.NumberColumn("mAP (points)", format=NUMBER)},
    )
