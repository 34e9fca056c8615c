"""The latest ``dvc repro`` metrics (``metrics/*.json``) and the MLflow run that produced them.

The evaluate stage writes ``metrics/eval.json`` with the paper's columns (Head ... Ankle, Mean) and
OKS; the train stage ``metrics/train.json`` (best_epoch, best_mAP, best{...}, last{...} and the
MLflow ``run_id``); prepare
``metrics/data.json`` (counts + data fingerprint). Files are read as they are, whatever their
nesting, so a stage adding keys needs no change here; an unreadable file is reported, not fatal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from tdmi.eval.results import COLUMNS
from tdmi.utils import flatten

OKS_SUMMARY = ("AP", "AP50", "AP75", "AR")


def read_metrics(project_dir: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """({file stem: parsed JSON}, {file name: why it could not be read}) for metrics/*.json."""
    found, errors = {}, {}
    for path in sorted((project_dir / "metrics").glob("*.json")):
        try:
            found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            errors[path.name] = str(err)
    return found, errors


def metrics_joint_ap(metrics: Mapping[str, Mapping]) -> tuple[dict[str, float], str] | None:
    """The paper's columns from the first file that has all of them (eval before train), with
    where they came from; keys match as ``Head`` or ``.../Head`` (e.g. ``best/val/AP/Head``)."""
    for stem in ("eval", "train", *sorted(set(metrics) - {"eval", "train"})):
        flat = flatten(metrics.get(stem, {}), "/")
        for prefix in sorted({k[: -len("Mean")] for k in flat if k.endswith("Mean")}, key=len):
            values = {c: flat.get(prefix + c) for c in COLUMNS}
            if all(isinstance(v, int | float) or v is None for v in values.values()) and values["Mean"] is not None:
                return {
                    c: math.nan if v is None else float(v) for c, v in values.items()
                }, f"metrics/{stem}.json: {prefix}*"
    return None


def metrics_oks(metrics: Mapping[str, Mapping]) -> dict[str, float]:
    """The OKS summary (AP, AP50, AP75, AR) of the first file that has one (eval before train), keyed
    "<file>: <key>", in points (0-100, as every AP on the dashboard; the files hold pycocotools'
    0-1). pycocotools' -1 (no ground truth in that area range) becomes NaN."""
    for stem in ("eval", "train", *sorted(set(metrics) - {"eval", "train"})):
        found = {
            f"{stem}: {k}": math.nan if float(v) < 0 else 100 * float(v)
            for k, v in flatten(metrics.get(stem, {}), "/").items()
            if "oks" in k.lower() and k.rsplit("/", 1)[-1] in OKS_SUMMARY and isinstance(v, int | float)
        }
        if found:
            return found
    return {}


def producing_run(metrics: Mapping[str, Mapping], runs: pd.DataFrame) -> tuple[pd.Series | None, str]:
    """The MLflow run behind the metrics, and how it was found (or why it was not).

    Only by the ``run_id`` the train stage writes into metrics/train.json (any metrics file's
    ``run_id`` is read, train.json first). Without one the answer is "unknown": runs with equal
    numbers are not the same run (an ablation run can have the pipeline's best mAP).
    """
    for stem in ("train", *sorted(set(metrics) - {"train"})):
        run_id = next((v for k, v in flatten(metrics.get(stem, {}), "/").items() if k.split("/")[-1] == "run_id"), None)
        if run_id:
            hit = runs[runs["run_id"] == run_id]
            if len(hit):
                return hit.iloc[0], f"run_id in metrics/{stem}.json"
            return None, f"run {run_id} (metrics/{stem}.json) is not in this MLflow store"
    return None, (
        "metrics/train.json has no run_id (written by an older train stage, or MLflow was off): "
        "rerun `dvc repro` to link these metrics to their run"
    )
