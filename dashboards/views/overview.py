"""Overview: the latest `dvc repro` metrics, the run that produced them, and the MLflow runs."""

import pandas as pd
import streamlit as st
import workbench as wb

from tdmi.results import dvc_metrics, run_table

cfg = wb.config()
st.title("Overview")
st.caption(
    f"Project {cfg.project_dir} · MLflow {cfg.mlflow_uri} · run links open the MLflow UI at {cfg.mlflow_ui} "
    f"(`mlflow ui --backend-store-uri {cfg.mlflow_uri}`)"
)

found, errors = wb.metrics(cfg.project_dir)
loaded, table = wb.runs_with_pipeline(cfg)
wb.show_errors(errors)
wb.show_errors(loaded.errors)

st.header("Latest `dvc repro` metrics")
if not found:
    st.info("No metrics/*.json yet. Run `dvc repro` (or `make repro`) to prepare, train and evaluate.")
else:
    dataset = found.get("data", {}).get("dataset", "?")
    st.markdown(f"Dataset: **{dataset}** (fingerprint `{found.get('data', {}).get('fingerprint', '?')}`)")
    joints = dvc_metrics.metrics_joint_ap(found)
    if joints:
        values, source = joints
        st.dataframe(
            pd.DataFrame([values]).round(1).assign(metric="PoseTrack AP (points)"), key="dvc_per_joint", hide_index=True
        )
        st.caption(f"From {source}")
    else:
        st.info("No per-joint mAP in metrics/ yet: the train/evaluate stages write it (`dvc repro`).")
    oks = dvc_metrics.metrics_oks(found)
    if oks:
        st.dataframe(pd.Series(oks, name="OKS (points)").round(1).to_frame(), key="dvc_oks")
    run, how = dvc_metrics.producing_run(found, loaded.table)
    st.subheader("The run that produced them")
    if run is None:
        st.warning(f"Unknown: {how}.")
    else:
        row = table[table["run_id"] == run["run_id"]].iloc[0]
        params, tags = wb.run_details(cfg.mlflow_uri, run["run_id"])
        st.markdown(
            f"**[{row['run_name'] or row['run_id']}]({row['mlflow']})** (run `{row['run_id']}`, found by: {how})  \n"
            f"commit `{row['git_commit'] or '?'}` · checkpoint `{row['checkpoint'] or '?'}` · "
            f"data fingerprint `{row['data_fingerprint'] or '?'}`"
        )
        with st.expander("params and tags"):
            st.json({"params": params, "tags": tags}, expanded=False)

st.header("MLflow runs")
if table.empty:
    st.info(
        "No MLflow runs yet. `dvc repro` or `python experiments/train.py` logs one; "
        "`python experiments/ablate.py` and `python experiments/sweep.py` log many."
    )
else:
    left, mid, right, far = st.columns(4)
    groups = [g for g in run_table.GROUPS if g in set(table["group"])]
    filters = {
        "group": left.multiselect(
            "group",
            groups,
            default=[g for g in groups if g != run_table.SWEEP_PARENT],
            help="a sweep parent summarises its trials: it is not a training run of its own",
        ),
        "preset": mid.multiselect("preset", sorted(p for p in table["preset"].unique() if p)),
        "dataset": right.multiselect("dataset", sorted(d for d in table["dataset"].unique() if d)),
        "health": far.multiselect("health", sorted(table["health"].unique())),
    }
    shown = run_table.filter_runs(table, **filters)
    limit = st.number_input("rows", 10, 5000, 100, step=50)
    bad = int((shown["health"] != run_table.OK).sum())
    if bad:
        st.warning(
            f"{bad} run(s) are unfinished, failed or incomplete: listed with their health, left out of comparisons."
        )
    columns = [
        "start_time",
        *run_table.TRACE_COLUMNS,
        "group",
        "experiment",
        "status",
        "health",
        "preset",
        "seed",
        "dataset",
        run_table.SUMMARY_METRIC,
        run_table.OKS,
        "run_id",
    ]
    st.dataframe(
        shown[columns].head(int(limit)).assign(**{run_table.OKS: lambda f: 100 * f[run_table.OKS]}),
        key="runs",
        hide_index=True,
        column_config=wb.TRACE_CONFIG
        | {
            run_table.SUMMARY_METRIC: st.column_config.NumberColumn("best mAP (points)", format="%.1f"),
            run_table.OKS: st.column_config.NumberColumn("OKS AP (points)", format="%.1f"),
        },
    )
