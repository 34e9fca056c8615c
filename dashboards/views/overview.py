"""Overview: the latest `dvc repro` metrics, the run behind them, and recent MLflow runs."""

import pandas as pd
import streamlit as st
import workbench as wb

from tdmi.results import dvc_metrics, runs

cfg = wb.config()
st.title("Overview")
st.caption(f"Project {cfg.project_dir} · MLflow {cfg.mlflow_uri}")

found, errors = wb.metrics(cfg.project_dir)
all_runs = wb.load_runs(cfg.mlflow_uri)
wb.show_errors(errors)
wb.show_errors(all_runs.errors)

st.header("Latest `dvc repro` metrics")
if not found:
    st.info("No metrics/*.json yet. Run `dvc repro` (or `make repro`) to prepare, train and evaluate.")
else:
    dataset = found.get("data", {}).get("dataset", "?")
    st.markdown(f"Dataset: **{dataset}** (fingerprint `{found.get('data', {}).get('fingerprint', '?')}`)")
    joints = dvc_metrics.per_joint(found)
    if joints:
        values, source = joints
        st.dataframe(pd.DataFrame([values]).round(2).assign(metric="PoseTrack AP (%)"), key="dvc_per_joint", hide_index=True)
        st.caption(f"From {source}")
    else:
        st.info("No per-joint mAP in metrics/ yet: the train/evaluate stages write it (`dvc repro`).")
    oks = dvc_metrics.oks(found)
    if oks:
        st.dataframe(pd.Series(oks, name="OKS").to_frame(), key="dvc_oks")
    run, how = dvc_metrics.producing_run(found, all_runs.table)
    st.subheader("The run that produced them")
    if run is None:
        st.info(f"Not found: {how}.")
    else:
        params, tags = wb.run_details(cfg.mlflow_uri, run["run_id"])
        st.markdown(f"Run `{run['run_id']}` ({run['run_name']}), commit `{run['git_commit'] or '?'}`, "
                    f"data fingerprint `{run['data_fingerprint'] or '?'}` · found by: {how}")
        with st.expander("params and tags"):
            st.json({"params": params, "tags": tags}, expanded=False)

st.header("Recent MLflow runs")
table = all_runs.table
if table.empty:
    st.info("No MLflow runs yet. `dvc repro` or `python experiments/train.py` logs one; "
            "`python experiments/ablate.py` and `python experiments/sweep.py` log many.")
else:
    left, mid, right, far = st.columns(4)
    filters = {
        "experiment": left.multiselect("experiment", sorted(table["experiment"].unique())),
        "preset": mid.multiselect("preset", sorted(p for p in table["preset"].unique() if p)),
        "dataset": right.multiselect("dataset", sorted(d for d in table["dataset"].unique() if d)),
        "health": far.multiselect("health", sorted(table["health"].unique())),
    }
    shown = runs.filter_runs(table, **filters)
    limit = st.number_input("rows", 10, 5000, 100, step=50)
    bad = int((shown["health"] != runs.OK).sum())
    if bad:
        st.warning(f"{bad} run(s) are unfinished, failed or incomplete: listed with their health, left out of comparisons.")
    columns = ["start_time", "run_name", "experiment", "status", "health", "preset", "seed", "dataset",
               runs.SUMMARY_METRIC, "val/oks/AP", "git_commit", "run_id"]
    st.dataframe(shown[columns].head(int(limit)), key="runs", hide_index=True)
