"""TDMI Workbench dashboard: the workbench's results beside the paper's, read-only.

    streamlit run dashboards/app.py                      # http://127.0.0.1:8501
    streamlit run dashboards/app.py -- --mlflow-uri sqlite:///other.db --optuna-storage URL

Sources (arguments after ``--``, else TDMI_PROJECT_DIR / TDMI_MLFLOW_URI / TDMI_OPTUNA_STORAGE /
TDMI_REFERENCE_CSV, else the project's defaults): MLflow runs, the Optuna storage, metrics/*.json
and the paper's reference numbers (tdmi/reference). The pages are in dashboards/views/ (paths are
relative to this file), not pages/: that folder name puts Streamlit in its legacy multipage mode,
which never runs this script's st.navigation.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="TDMI Workbench", layout="wide")
page = st.navigation([
    st.Page("views/overview.py", title="Overview", default=True),
    st.Page("views/ablations.py", title="Ablations vs paper"),
    st.Page("views/per_joint.py", title="Per joint"),
    st.Page("views/sweep.py", title="Sweep"),
    st.Page("views/qualitative.py", title="Qualitative"),
])
page.run()
