"""TDMI Workbench dashboard: the workbench's results beside the paper's, read-only.

    tdmi-dashboard                                       # http://127.0.0.1:8501, from any folder
    streamlit run dashboards/app.py -- --mlflow-uri sqlite:///other.db --optuna-storage URL

Sources (dashboards/settings.py: arguments after ``--``, else TDMI_* variables, else the project's
defaults): MLflow runs, the Optuna storage, metrics/*.json and the paper's reference numbers
(tdmi/reference). The pages are in dashboards/views/ (paths are
relative to this file), not pages/: that folder name puts Streamlit in its legacy multipage mode,
which never runs this script's st.navigation.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="TDMI Workbench", layout="wide")
page = st.navigation(
    [
        st.Page("views/overview.py", title="Overview", default=True),
        st.Page("views/runs.py", title="Runs: curves and comparison"),
        st.Page("views/ablations.py", title="Ablations vs paper"),
        st.Page("views/per_joint.py", title="Per joint"),
        st.Page("views/sweep.py", title="Sweep"),
        st.Page("views/qualitative.py", title="Qualitative"),
    ]
)
page.run()
