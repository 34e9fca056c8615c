"""``tdmi-dashboard``: the dashboard bound to this machine, without usage statistics, from any folder.

    tdmi-dashboard [STREAMLIT OPTIONS] [-- --project-dir DIR --mlflow-uri URI ...]

Streamlit reads ``.streamlit/config.toml`` only from the working directory, so ``streamlit run``
started elsewhere listens on every interface and reports usage statistics. This launcher puts
``--server.address 127.0.0.1 --browser.gatherUsageStats false --server.headless true`` on the
command line itself (options given after them, e.g. ``--server.port 8600``, still apply; sharing
the dashboard on a network is an explicit ``--server.address 0.0.0.0``). Arguments after ``--``
go to the app (dashboards/settings.py). The app is ``$TDMI_DASHBOARD_APP``, else
``dashboards/app.py`` of the checkout this package is installed from (``pip install -e .``): the
dashboard is not part of the wheel.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import tdmi

SAFE_OPTIONS = ("--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.headless", "true")


def app_path() -> Path:
    """The Streamlit script to run; SystemExit with the reason when there is none."""
    configured = os.environ.get("TDMI_DASHBOARD_APP")
    path = Path(configured) if configured else Path(tdmi.__file__).resolve().parents[1] / "dashboards" / "app.py"
    if not path.is_file():
        raise SystemExit(
            f"tdmi-dashboard: no dashboard app at {path} (set TDMI_DASHBOARD_APP, or install the "
            "workbench from its checkout with `pip install -e .`)"
        )
    return path


def command(argv: Sequence[str]) -> list[str]:
    """``python -m streamlit run APP`` with the safe options first, then the user's."""
    return [sys.executable, "-m", "streamlit", "run", str(app_path()), *SAFE_OPTIONS, *argv]


def main(argv: Sequence[str] | None = None) -> None:
    """Replace this process with Streamlit (signals and the exit status are then Streamlit's own)."""
    cmd = command(sys.argv[1:] if argv is None else argv)
    os.execv(cmd[0], cmd)
