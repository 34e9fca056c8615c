"""The dashboard's command line: arguments after ``--``, then TDMI_* variables, then defaults.

    streamlit run dashboards/app.py -- --project-dir DIR --mlflow-uri URI --optuna-storage URL \
        --reference-csv FILE --mlflow-ui http://127.0.0.1:5000 --baseline baseline

Environment: TDMI_PROJECT_DIR (else TDMI_ROOT, else the working directory), TDMI_MLFLOW_URI (else
MLFLOW_TRACKING_URI), TDMI_OPTUNA_STORAGE, TDMI_REFERENCE_CSV, TDMI_MLFLOW_UI, TDMI_BASELINE. The
ablation baseline defaults to ``baseline:`` in experiments/conf/ablate/default.yaml (this checkout's), so
renaming the baseline preset there renames it here; the intervals' level is its ``confidence:``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from tdmi.results.config import MLFLOW_UI, DashboardConfig
from tdmi.utils import project_root

ABLATE_CONF = Path(__file__).resolve().parents[1] / "experiments" / "conf" / "ablate" / "default.yaml"


def configured_ablation(path: Path = ABLATE_CONF) -> tuple[str, float]:
    """The ablation config's ``baseline`` preset and ``confidence`` (the one source of both)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the ablation config (baseline, confidence) is missing")
    ablate = OmegaConf.load(path)
    return str(ablate.baseline), float(ablate.confidence)


def parse(argv: Sequence[str] = (), env: Mapping[str, str] = os.environ) -> DashboardConfig:
    parser = argparse.ArgumentParser(prog="streamlit run dashboards/app.py --")
    parser.add_argument("--project-dir", default=env.get("TDMI_PROJECT_DIR"))
    parser.add_argument("--mlflow-uri", default=env.get("TDMI_MLFLOW_URI") or env.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--optuna-storage", default=env.get("TDMI_OPTUNA_STORAGE"))
    parser.add_argument("--reference-csv", default=env.get("TDMI_REFERENCE_CSV"))
    parser.add_argument("--mlflow-ui", default=env.get("TDMI_MLFLOW_UI") or MLFLOW_UI, help="where run links point")
    parser.add_argument(
        "--baseline", default=env.get("TDMI_BASELINE"), help="the ablation preset gains are measured from"
    )
    args, _ = parser.parse_known_args(list(argv))
    baseline, confidence = configured_ablation()
    return DashboardConfig.under(
        project_root(args.project_dir),
        args.mlflow_uri,
        args.optuna_storage,
        reference_csv=Path(args.reference_csv) if args.reference_csv else None,
        mlflow_ui=args.mlflow_ui.rstrip("/"),
        baseline=args.baseline or baseline,
        confidence=confidence,
    )
