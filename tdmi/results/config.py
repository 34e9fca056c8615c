"""Where the dashboard reads from, and the one gate every path chosen in the UI goes through.

:class:`DashboardConfig` holds plain values; the dashboard (dashboards/settings.py) fills it from
its command line and the environment. Defaults follow the training entry points (tdmi/utils/paths):
the project root is ``$TDMI_ROOT`` or the working directory, the MLflow store
``<root>/mlruns.db``, the Optuna storage ``<root>/optuna.db``. Links to runs point at the MLflow UI
(``mlflow ui`` serves http://127.0.0.1:5000 by default; a tracking server's address otherwise).
The ablation baseline is the preset every gain is measured from and the confidence the level of
its intervals (experiments/conf/ablate's ``baseline`` and ``confidence``: one source, read by
dashboards/settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OUTPUT_FOLDERS = ("outputs", "metrics", "reports", "checkpoints", "plots")  # what the UI may open
MLFLOW_UI = "http://127.0.0.1:5000"  # `mlflow ui`'s default address


@dataclass(frozen=True)
class DashboardConfig:
    project_dir: Path
    mlflow_uri: str
    optuna_storage: str
    baseline: str
    confidence: float
    reference_csv: Path | None = None  # None: the packaged tdmi/reference/paper_reference.csv
    mlflow_ui: str = MLFLOW_UI

    @classmethod
    def under(
        cls, project_dir: Path, mlflow_uri: str | None = None, optuna_storage: str | None = None, **more: object
    ) -> DashboardConfig:
        """The project's own stores where no other is given."""
        project = project_dir.resolve()
        return cls(
            project,
            mlflow_uri or f"sqlite:///{project / 'mlruns.db'}",
            optuna_storage or f"sqlite:///{project / 'optuna.db'}",
            **more,
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
