"""The paper's ablation grid over several seeds: which runs MLflow already holds, and the table.

A cell is (preset, seed); its identity is a hash of every config that shapes the result plus the
data fingerprint, stored as the run's ``config_hash`` tag beside ``ablation=true``, ``preset`` and
``seed``. A FINISHED run with the same three tags is that cell done, so re-running the grid after
a crash (or with more seeds) trains only what is missing, and a changed config trains anew.

The table: per preset and per metric (mAP and the joint groups, at each run's best epoch) the
mean, the sample std and n over seeds, and the difference to the baseline preset with a Welch
t interval: (mean_a - mean_b) +- t_{df, (1+c)/2} * sqrt(s_a^2/n_a + s_b^2/n_b), df by
Welch-Satterthwaite. It assumes nothing about equal variances; with fewer than 2 seeds per side
the interval is undefined (NaN).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from scipy import stats

from tdmi.data.joints import JOINT_GROUPS
from tdmi.utils.config import EXECUTION_ONLY

METRICS: tuple[str, ...] = ("mAP", *JOINT_GROUPS)
_COLUMN = {"mAP": "metrics.best/mAP", **{g: f"metrics.best/AP/{g}" for g in JOINT_GROUPS}}


def config_hash(configs: Mapping[str, Any]) -> str:
    """16 hex digits of sha256 over the configs (``RunSpec.identity``) as sorted JSON; the
    EXECUTION_ONLY train fields are left out."""
    train = {k: v for k, v in configs.get("train", {}).items() if k not in EXECUTION_ONLY}
    text = json.dumps({**configs, "train": train}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finished_runs(experiment: str, tracking_uri: str) -> pd.DataFrame:
    """Every FINISHED ablation run of ``experiment``, as ``mlflow.search_runs`` rows; the key
    columns exist even when there is none yet."""
    mlflow.set_tracking_uri(tracking_uri)
    runs = pd.DataFrame()
    if mlflow.get_experiment_by_name(experiment) is not None:
        runs = mlflow.search_runs(experiment_names=[experiment], filter_string="tags.ablation = 'true' and attributes.status = 'FINISHED'")
    keys = ["run_id", "start_time", "tags.preset", "tags.seed", "tags.config_hash"]
    return runs.reindex(columns=list(dict.fromkeys([*keys, *runs.columns])))


def cell_results(runs: pd.DataFrame, cells: Mapping[tuple[str, int], str]) -> pd.DataFrame:
    """One row per done cell of ``cells`` ((preset, seed) -> config hash), the newest run if
    several: preset, seed, run_id and the METRICS."""
    wanted = pd.DataFrame([(p, str(s), h) for (p, s), h in cells.items()], columns=["tags.preset", "tags.seed", "tags.config_hash"])
    done = runs.astype({c: str for c in wanted.columns}).merge(wanted, on=list(wanted.columns))
    done = done.sort_values("start_time").drop_duplicates(list(wanted.columns), keep="last")
    table = pd.DataFrame({"preset": done["tags.preset"], "seed": done["tags.seed"].astype(int), "run_id": done["run_id"]})
    for metric, column in _COLUMN.items():
        table[metric] = done[column] if column in done else np.nan
    return table.reset_index(drop=True)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean(a) - mean(b), low, high): the Welch t interval of the module docstring."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(a.mean() - b.mean()) if a.size and b.size else math.nan
    if a.size < 2 or b.size < 2:
        return diff, math.nan, math.nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    return diff, diff - half, diff + half


def summarize(results: pd.DataFrame, baseline: str, order: Sequence[str], confidence: float = 0.95) -> pd.DataFrame:
    """Long table: preset, metric, n, mean, std, diff (to ``baseline``), ci_low, ci_high."""
    rows = []
    for preset in [p for p in order if p in set(results["preset"])]:
        mine, base = results[results["preset"] == preset], results[results["preset"] == baseline]
        for metric in METRICS:
            a, b = mine[metric].dropna(), base[metric].dropna()
            diff, low, high = welch_interval(a, b, confidence)
            rows.append({"preset": preset, "metric": metric, "n": len(a), "mean": a.mean(), "std": a.std(ddof=1),
                         "diff": diff, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame, baseline: str, confidence: float = 0.95) -> str:
    """One row per preset: n, mean +- std per metric, and the mAP difference to the baseline."""
    def cell(mean: float, std: float) -> str:
        return f"{mean:.2f} ± {std:.2f}" if math.isfinite(std) else f"{mean:.2f}"

    rows = []
    for preset, group in summary.groupby("preset", sort=False):
        by = group.set_index("metric")
        m = by.loc["mAP"]
        delta = f"{m['diff']:+.2f} [{m['ci_low']:+.2f}, {m['ci_high']:+.2f}]" if preset != baseline else "—"
        rows.append({"preset": preset, "n": int(m["n"]), **{k: cell(by.loc[k, "mean"], by.loc[k, "std"]) for k in METRICS},
                     f"Δ mAP vs {baseline} ({confidence:.0%} CI)": delta})
    return pd.DataFrame(rows).to_markdown(index=False)
