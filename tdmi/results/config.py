"""Where the dashboard reads from, and the one gate every path chosen in the UI goes through.

Sources, first found wins: command-line arguments after ``--`` (``streamlit run dashboards/app.py
-- --mlflow-uri URI``), environment variables (``TDMI_PROJECT_DIR``, ``TDMI_MLFLOW_URI``,
``TDMI_OPTUNA_STORAGE``, ``TDMI_REFERENCE_CSV``), then the project's defaults (the same ones the
training and sweep entry points write to), so tests and benchmarks point the app at fixtures
without touching the real stores.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTPUT_FOLDERS = ("outputs", "metrics", "reports", "checkpoints", "plots")  # what the UI may open


@dataclass(frozen=True)
class DashboardConfig:
    project_dir: Path
    mlflow_uri: str
    optuna_storage: str
    reference_csv: Path | None = None  # None: the packaged tdmi/reference/paper_reference.csv

    @classmethod
    def from_sources(cls, argv: Sequence[str] = (), env: Mapping[str, str] = os.environ) -> DashboardConfig:
        parser = argparse.ArgumentParser(prog="streamlit run dashboards/app.py --")
        parser.add_argument("--project-dir", default=env.get("TDMI_PROJECT_DIR"))
        parser.add_argument("--mlflow-uri", default=env.get("TDMI_MLFLOW_URI") or env.get("MLFLOW_TRACKING_URI"))
        parser.add_argument("--optuna-storage", default=env.get("TDMI_OPTUNA_STORAGE"))
        parser.add_argument("--reference-csv", default=env.get("TDMI_REFERENCE_CSV"))
        args, _ = parser.parse_known_args(list(argv))
        project = Path(args.project_dir or REPO).resolve()
        return cls(
            project_dir=project,
            mlflow_uri=args.mlflow_uri or f"sqlite:///{project / 'mlruns.db'}",
            optuna_storage=args.optuna_storage or f"sqlite:///{project / 'optuna.db'}",
            reference_csv=Path(args.reference_csv) if args.reference_csv else None,
        )


def inside_outputs(project_dir: Path, path: str | Path) -> Path:
    """``path`` resolved, if it lies inside one of the project's output folders; else ValueError.

    The dashboard is read-only and may be reached by others on a shared machine: a path chosen in
    the UI must not walk to arbitrary files (``..``, symlinks and absolute paths are resolved first).
    """
    project_dir = project_dir.resolve()
    resolved = (project_dir / path).resolve()
    for folder in OUTPUT_FOLDERS:
        if resolved.is_relative_to(project_dir / folder):
            return resolved
    raise ValueError(f"{path} is outside the project's output folders {OUTPUT_FOLDERS}")
