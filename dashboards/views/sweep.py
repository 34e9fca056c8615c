"""Sweep: one Optuna study through Optuna's own plots, its trial states and its best trial."""

import streamlit as st
import workbench as wb

from tdmi.results import studies

cfg = wb.config()
st.title("Sweep")
st.caption(f"Optuna storage {cfg.optuna_storage}")
try:
    listing = wb.list_studies(cfg.optuna_storage)
except Exception as err:  # unreachable database, foreign schema: say so instead of a traceback
    st.error(f"Cannot read the Optuna storage: {err}")
    st.stop()
if listing.empty:
    st.info("No Optuna study yet. Run `python experiments/sweep.py` (studies are stored in optuna.db, "
            "or the storage URL given to the sweep; point the dashboard at it with TDMI_OPTUNA_STORAGE).")
    st.stop()

name = st.selectbox("study", list(listing["study"]))
study = wb.study(cfg.optuna_storage, name)
states = studies.trial_states(study)
cols = st.columns(len(states))
for col, row in zip(cols, states.to_dict("records"), strict=True):
    col.metric(row["state"].lower(), row["trials"])

best = studies.best_trial(study)
if best is None:
    st.info("No trial has completed yet: plots appear after the first complete trial.")
    st.stop()
st.subheader(f"Best trial: #{best['number']}, value {best['value']:.4g}")
st.dataframe({"param": list(best["params"]), "value": list(best["params"].values())}, key="best_params", hide_index=True)
override = studies.override_file(study, cfg.project_dir)
if override:
    st.markdown(f"Hydra override file: `{override.relative_to(cfg.project_dir)}`")
    st.code(override.read_text(encoding="utf-8"), language="bash")
else:
    st.info("The sweep's override file for this study was not found in the project's output folders.")

params = tuple(studies.swept_params(study))
st.subheader("Optimisation history")
st.plotly_chart(wb.study_figure(cfg.optuna_storage, name, "history"), key="history")
for kind, title in (("importances", "Parameter importances"), ("parallel", "Parallel coordinates")):
    st.subheader(title)
    st.plotly_chart(wb.study_figure(cfg.optuna_storage, name, kind, params), key=kind)
st.subheader("Slices: each MI weight and the TDE stage count")
st.plotly_chart(wb.study_figure(cfg.optuna_storage, name, "slice", tuple(studies.swept_params(study, switches=False))), key="slice")
