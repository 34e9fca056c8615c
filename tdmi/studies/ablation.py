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

The claimed order: the author's development rows (tdmi/reference, ``table=ablation_author_notes``,
``kind=author_notes``: align 82.8 < tde1 83.1 < tde4 83.2 < tdmi 83.7) claim that each row improves
on the one before. :func:`claimed_steps` lists those steps; :func:`step_intervals` gives our mean
difference between the two presets of each step with its Welch interval (the same seeds' runs as
the table); tdmi/results/ablation.py's rule (``order_verdicts``) judges them.
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
        runs = mlflow.search_runs(
            experiment_names=[experiment], filter_string="tags.ablation = 'true' and attributes.status = 'FINISHED'"
        )
    keys = ["run_id", "start_time", "tags.preset", "tags.seed", "tags.config_hash"]
    return runs.reindex(columns=list(dict.fromkeys([*keys, *runs.columns])))


def cell_results(runs: pd.DataFrame, cells: Mapping[tuple[str, int], str]) -> pd.DataFrame:
    """One row per done cell of ``cells`` ((preset, seed) -> config hash), the newest run if
    several: preset, seed, run_id and the METRICS."""
    wanted = pd.DataFrame(
        [(p, str(s), h) for (p, s), h in cells.items()], columns=["tags.preset", "tags.seed", "tags.config_hash"]
    )
    done = runs.astype({c: str for c in wanted.columns}).merge(wanted, on=list(wanted.columns))
    done = done.sort_values("start_time").drop_duplicates(list(wanted.columns), keep="last")
    table = pd.DataFrame(
        {"preset": done["tags.preset"], "seed": done["tags.seed"].astype(int), "run_id": done["run_id"]}
    )
    for metric, column in _COLUMN.items():
        table[metric] = done[column] if column in done else np.nan
    return table.reset_index(drop=True)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """(mean(a) - mean(b), low, high): the Welch t interval of the module docstring, at ``confidence``
    (``ablate.confidence``: every caller passes the config's)."""
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


def summarize(results: pd.DataFrame, baseline: str, order: Sequence[str], confidence: float) -> pd.DataFrame:
    """Long table: preset, metric, n, mean, std, diff (to ``baseline``), ci_low, ci_high."""
    rows = []
    for preset in [p for p in order if p in set(results["preset"])]:
        mine, base = results[results["preset"] == preset], results[results["preset"] == baseline]
        for metric in METRICS:
            a, b = mine[metric].dropna(), base[metric].dropna()
            diff, low, high = welch_interval(a, b, confidence)
            rows.append(
                {
                    "preset": preset,
                    "metric": metric,
                    "n": len(a),
                    "mean": a.mean(),
                    "std": a.std(ddof=1),
                    "diff": diff,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame, baseline: str, confidence: float) -> str:
    """One row per preset: n, mean +- std per metric, and the mAP difference to the baseline."""

    def cell(mean: float, std: float) -> str:
        return f"{mean:.2f} ± {std:.2f}" if math.isfinite(std) else f"{mean:.2f}"

    rows = []
    for preset, group in summary.groupby("preset", sort=False):
        by = group.set_index("metric")
        m = by.loc["mAP"]
        delta = f"{m['diff']:+.2f} [{m['ci_low']:+.2f}, {m['ci_high']:+.2f}]" if preset != baseline else "—"
        rows.append(
            {
                "preset": preset,
                "n": int(m["n"]),
                **{k: cell(by.loc[k, "mean"], by.loc[k, "std"]) for k in METRICS},
                f"Δ mAP vs {baseline} ({confidence:.0%} CI)": delta,
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False)


AUTHOR_NOTES = "ablation_author_notes"  # the reference table whose rows claim an order


def claimed_steps(reference: pd.DataFrame, table: str = AUTHOR_NOTES) -> pd.DataFrame:
    """Consecutive rows of ``table`` in the reference's order: ``before``, ``preset`` (the method
    names are preset names), ``dataset``, ``paper_step`` (the difference of their means), ``kind``,
    ``source``."""
    rows = reference[reference["table"] == table].reset_index(drop=True)
    steps = [
        {
            "before": a["method"],
            "preset": b["method"],
            "dataset": b["dataset"],
            "paper_step": b["mean"] - a["mean"],
            "kind": b["kind"],
            "source": b["source"],
        }
        for (_, a), (_, b) in zip(rows.iloc[:-1].iterrows(), rows.iloc[1:].iterrows(), strict=True)
    ]
    return pd.DataFrame(steps, columns=["before", "preset", "dataset", "paper_step", "kind", "source"])


def step_intervals(results: pd.DataFrame, steps: pd.DataFrame, confidence: float, metric: str = "mAP") -> pd.DataFrame:
    """Per claimed step whose two presets ``results`` (cell_results' rows) both hold: ``steps``'
    columns plus our ``step`` (mean difference), ``ci_low``, ``ci_high`` and ``n`` (seeds per side)."""
    rows = []
    for step in steps.to_dict("records"):
        a = results.loc[results["preset"] == step["before"], metric].dropna()
        b = results.loc[results["preset"] == step["preset"], metric].dropna()
        if a.empty or b.empty:
            continue
        diff, low, high = welch_interval(b, a, confidence)
        rows.append({**step, "step": diff, "ci_low": low, "ci_high": high, "n": f"{len(b)}/{len(a)}"})
    return pd.DataFrame(rows, columns=[*steps.columns, "step", "ci_low", "ci_high", "n"])


def gains_markdown(summary: pd.DataFrame, baseline: str, confidence: float) -> str:
    """Per preset and joint group: the gain over ``baseline`` with its Welch interval."""
    rows = []
    for preset, group in summary.groupby("preset", sort=False):
        if preset == baseline:
            continue
        by = group.set_index("metric")
        rows.append(
            {
                "preset": preset,
                **{
                    k: f"{by.loc[k, 'diff']:+.2f} [{by.loc[k, 'ci_low']:+.2f}, {by.loc[k, 'ci_high']:+.2f}]"
                    for k in METRICS
                    if k in by.index
                },
            }
        )
    title = f"Gain over {baseline} per joint group ({confidence:.0%} Welch interval)"
    return f"{title}\n\n" + (pd.DataFrame(rows).to_markdown(index=False) if rows else "(no preset beside the baseline)")


def steps_markdown(steps: pd.DataFrame) -> str:
    """The claimed order's steps (:func:`step_intervals`, with a verdict when judged)."""
    if steps.empty:
        return "Claimed order (author notes): none of its steps has both presets in this grid."
    table = pd.DataFrame(
        {
            "step": steps["before"] + " → " + steps["preset"],
            "notes' step (mAP, " + steps["dataset"].iloc[0] + ")": steps["paper_step"].map("{:+.1f}".format),
            "our step [CI]": [
                f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                for d, lo, hi in zip(steps["step"], steps["ci_low"], steps["ci_high"], strict=True)
            ],
            "n": steps["n"],
            **({"verdict": steps["verdict"], "reason": steps["reason"]} if "verdict" in steps else {}),
        }
    )
    return (
        "Claimed order (author notes, kind author_notes; their size is judged only on their own dataset)\n\n"
        + table.to_markdown(index=False)
    )
