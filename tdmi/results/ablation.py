"""Our ablation runs beside the paper's: mean +- std over seeds, gain over our baseline with a
confidence interval, and a verdict per claim from one stated rule (:func:`rule`).

Inputs: runs tagged ``ablation=true`` with a ``preset`` (tdmi/models/presets.py) and a seed, whose
``health`` is ok; the value compared is ``best/mAP`` (best validation epoch), in points (0-100).
Groups are (dataset, preset), so numbers from different data are never pooled. The baseline preset
is an argument (experiments/conf/ablate's ``baseline``). Presets are listed baseline first, then in
the order given, else in the order the grid first ran them (experiments/ablate.py runs them in the
paper's order), so this module needs neither the presets module nor torch.

The paper's claim for every preset other than the baseline is that it *improves* PoseTrack mAP
over the single-frame baseline; its size is the paper's gain where the reference has an ablation
row for the preset (``method`` equal to the preset name, ignoring case and punctuation) and a
``baseline`` row in the same table and dataset. The paper's magnitude is only compared when our
runs are on the same dataset as that row; on synthetic data (or another dataset) the verdict is
about the direction only and says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tdmi.eval.results import COLUMNS
from tdmi.reference import ablation_rows, reference_dataset
from tdmi.results.run_table import OK, SUMMARY_METRIC, joint_ap
from tdmi.studies.ablation import welch_interval

MAGNITUDE_FRACTION = 0.5  # below half the paper's gain (whole interval) = the claim's size fails
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


def rule(confidence: float) -> str:
    """The verdict rule as the dashboard prints it, at ``confidence`` (``ablate.confidence``)."""
    return f"""\
**Verdict rule.** For each preset, our gain = mean({SUMMARY_METRIC}) of the preset minus that of our
baseline, over seeds, on one dataset; its {confidence:.0%} confidence interval is Welch's t interval
(unequal variances, at least 2 seeds on each side, otherwise no interval; the same interval as
experiments/ablate.py's reports/ablation.csv). The claim's sign is the
paper's gain's sign where the reference has it, else "improves on the baseline" (+).
- **reproduced**: the interval excludes 0 on the claim's side, and, when the paper's gain is known
  *and on the same dataset*, the interval's upper end reaches at least {MAGNITUDE_FRACTION:.0%} of it;
- **not reproduced**: the interval excludes 0 on the opposite side, or (same dataset, paper's gain
  known) the whole interval lies below {MAGNITUDE_FRACTION:.0%} of the paper's gain;
- **inconclusive**: anything else (the interval contains 0, or fewer than 2 seeds).
On synthetic data, or a dataset other than the paper row's, only the direction is judged
("direction only"): the paper's magnitude is never compared across datasets.
**Order.** The author's development rows (kind author_notes: align < tde1 < tde4 < tdmi) claim that
each row improves on the one before; each such step is judged by the same rule, with our interval
on the difference between the two presets' means and the notes' step as the paper's gain."""


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str


def verdict(low: float, high: float, claim_sign: float, paper_gain: float | None, same_dataset: bool) -> Verdict:
    """Apply :func:`rule` to one interval. ``paper_gain`` None = the reference has no number."""
    if math.isnan(low) or math.isnan(high):
        return Verdict(INCONCLUSIVE, "fewer than 2 seeds on one side: no interval")
    lo, hi = sorted((claim_sign * low, claim_sign * high))  # the interval on the claim's axis
    magnitude = same_dataset and paper_gain is not None and not math.isnan(paper_gain)
    target = MAGNITUDE_FRACTION * abs(paper_gain) if magnitude else None
    if hi < 0:
        return Verdict(NOT_REPRODUCED, "the interval excludes 0 with the opposite sign")
    if target is not None and hi < target:
        return Verdict(NOT_REPRODUCED, f"the whole interval is below {MAGNITUDE_FRACTION:.0%} of the paper's gain")
    if lo > 0:
        return Verdict(
            REPRODUCED, "the interval excludes 0 with the claim's sign" + ("" if magnitude else " (direction only)")
        )
    return Verdict(INCONCLUSIVE, "the interval contains 0")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def paper_ablations(reference: pd.DataFrame, presets: Sequence[str], baseline: str) -> pd.DataFrame:
    """Each reference ablation row with the preset it names (or "") and its gain over the
    same table's ``baseline`` row (NaN when the table has no baseline row)."""
    rows = ablation_rows(reference).copy()
    names = {_key(p): p for p in presets}
    rows["preset"] = rows["method"].map(lambda m: names.get(_key(m), ""))
    base = rows[rows["preset"] == baseline].set_index(["table", "dataset"])["mean"]
    rows["paper_gain"] = [r["mean"] - base.get((r["table"], r["dataset"]), math.nan) for r in rows.to_dict("records")]
    return rows


def ablation_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(usable ablation runs, ablation runs left out with their health)."""
    ablation = runs.loc[runs["ablation"].astype(bool)]
    healthy = ablation["health"] == OK
    return ablation.loc[healthy], ablation.loc[~healthy]


def _paper_match(paper: pd.DataFrame, preset: str, dataset: str | None) -> dict | None:
    """The reference row for ``preset``: on the same dataset if there is one, else any (first)."""
    rows = paper[paper["preset"] == preset]
    same = rows[rows["dataset"] == dataset] if dataset else rows.iloc[0:0]
    pick = same if len(same) else rows
    return pick.iloc[0].to_dict() if len(pick) else None


def preset_order(runs: pd.DataFrame, baseline: str, order: Sequence[str] = ()) -> list[str]:
    """The presets of ``runs``: ``baseline`` first, then those in ``order``, then the rest in the
    order they were first run."""
    first = runs.groupby("preset")["start_time"].min().sort_values()
    return [p for p in dict.fromkeys([baseline, *order, *first.index]) if p in first.index]


def verdict_table(
    runs: pd.DataFrame, reference: pd.DataFrame, baseline: str, confidence: float, order: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per (dataset, preset), baseline first, with our numbers, the paper's where the
    reference has them (with their kind, source, verification and note), the comparison made,
    and the verdict."""
    usable, _ = ablation_runs(runs)
    paper = paper_ablations(reference, preset_order(usable, baseline, order), baseline)
    out = []
    for dataset, group in usable.groupby("dataset", sort=True):
        ref_dataset = reference_dataset(dataset)
        values = {p: g[SUMMARY_METRIC].to_numpy(float) for p, g in group.groupby("preset")}
        base = values.get(baseline, np.array([]))
        for preset in preset_order(group, baseline, order):
            ours = values[preset]
            row = {
                "dataset": dataset or "(unnamed)",
                "data": "PoseTrack" if ref_dataset else "synthetic" if dataset == "synth" else "other",
                "preset": preset,
                "n": len(ours),
                "mean": float(ours.mean()),
                "std": float(ours.std(ddof=1)) if len(ours) > 1 else math.nan,
                "seeds": ", ".join(sorted(group.loc[group["preset"] == preset, "seed"].astype(str))),
            }
            match = _paper_match(paper, preset, ref_dataset)
            paper_gain = match["paper_gain"] if match else math.nan
            row.update(
                {
                    "paper_mean": match["mean"] if match else math.nan,
                    "paper_gain": paper_gain,
                    "paper_dataset": match["dataset"] if match else "",
                    "paper_table": match["table"] if match else "",
                    "paper_source": match["source"] if match else "",
                    "paper_kind": match["kind"] if match else "",
                    "paper_verified": match["verified_against_tdmi_paper"] if match else "",
                    "paper_note": match["note"] if match else "",
                }
            )
            same = bool(match) and ref_dataset == row["paper_dataset"]
            if preset == baseline:
                row.update(
                    gain=0.0,
                    gain_low=math.nan,
                    gain_high=math.nan,
                    comparison="reference point",
                    verdict="",
                    reason="the baseline every gain is measured from",
                )
                out.append(row)
                continue
            gain, low, high = welch_interval(ours, base, confidence)
            sign = math.copysign(1.0, paper_gain) if not math.isnan(paper_gain) and paper_gain != 0 else 1.0
            judged = verdict(low, high, sign, None if math.isnan(paper_gain) else paper_gain, same)
            if not len(base):
                judged = Verdict(INCONCLUSIVE, f"no {baseline} runs on this dataset")
            row.update(
                gain=gain,
                gain_low=low,
                gain_high=high,
                verdict=judged.verdict,
                reason=judged.reason,
                comparison=_comparison(dataset, ref_dataset, match, same),
            )
            out.append(row)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _comparison(dataset: str, ref_dataset: str | None, match: dict | None, same: bool) -> str:
    if same:
        return f"same dataset ({ref_dataset}): sign and size"
    ours = "synthetic data" if dataset == "synth" else f"{dataset}"
    theirs = f"paper on {match['dataset']}" if match else "no paper row: the paper's claim that it helps"
    return f"direction only: ours on {ours}, {theirs}"


DISPLAY_COLUMNS = [  # a verdict row as pages show it, in this order
    "preset",
    "verdict",
    "n",
    "mean",
    "std",
    "gain",
    "gain_low",
    "gain_high",
    "paper_mean",
    "paper_kind",
    "paper_verified",
    "paper_gain",
    "paper_dataset",
    "paper_source",
    "paper_note",
    "comparison",
    "reason",
    "seeds",
]
SUMMARY_COLUMNS = [*DISPLAY_COLUMNS, "paper_table", "dataset", "data"]  # + what pages group and filter on


def joint_group_table(runs: pd.DataFrame, baseline: str, order: Sequence[str] = ()) -> pd.DataFrame:
    """Per (dataset, preset): n and mean +- std over seeds of mAP and each joint group's AP at the
    best epoch (points), as reports/ablation.md has them; runs without ``best/AP/*`` count as
    missing values, not zeros."""
    usable, _ = ablation_runs(runs)
    rows = []
    for dataset, group in usable.groupby("dataset", sort=True):
        for preset in preset_order(group, baseline, order):
            mine = group[group["preset"] == preset]
            row = {"dataset": dataset or "(unnamed)", "preset": preset, "n": len(mine)}
            for name, column in (("mAP", SUMMARY_METRIC), *((g, f"best/AP/{g}") for g in COLUMNS[:-1])):
                values = mine[column].dropna() if column in mine else pd.Series(dtype=float)
                row[name] = _mean_std(values)
            rows.append(row)
    return pd.DataFrame(rows, columns=["dataset", "preset", "n", "mAP", *COLUMNS[:-1]])


def _mean_std(values: pd.Series) -> str:
    if values.empty:
        return "—"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values.mean():.1f}"


def joint_ap_means(runs: pd.DataFrame, baseline: str, order: Sequence[str] = ()) -> pd.DataFrame:
    """Per (dataset, preset) of the ablation grid, the mean over seeds of each joint group's AP, in
    :func:`tdmi.results.run_table.joint_ap`'s long shape (``run_id`` empty: a mean is no run)."""
    usable, _ = ablation_runs(runs)
    long = joint_ap(usable)
    long["dataset"] = np.repeat(usable["dataset"].to_numpy(object), len(COLUMNS))
    long["preset"] = np.repeat(usable["preset"].to_numpy(object), len(COLUMNS))
    means = long.groupby(["dataset", "preset", "column"], sort=False)["AP"].mean()
    seeds = usable.groupby(["dataset", "preset"]).size()
    out = []
    for dataset, group in usable.groupby("dataset", sort=True):
        for preset in preset_order(group, baseline, order):
            n = int(seeds[(dataset, preset)])
            out += [
                {
                    "run": f"ablation mean: {preset} [{dataset or '?'}, n={n}]",
                    "run_id": "",
                    "column": column,
                    "AP": means[(dataset, preset, column)],
                    "source": f"ours: mean over {n} seed(s)",
                }
                for column in COLUMNS
            ]
    return pd.DataFrame(out, columns=long.columns[:5])


def order_verdicts(steps: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """:func:`rule` on each claimed step (tdmi.studies.ablation.step_intervals' rows) of our runs on
    ``dataset`` (our name): columns ``verdict`` and ``reason`` added."""
    ref_dataset = reference_dataset(dataset)
    out = steps.copy()
    judged = [
        verdict(
            r["ci_low"],
            r["ci_high"],
            math.copysign(1.0, r["paper_step"]) if r["paper_step"] else 1.0,
            r["paper_step"],
            ref_dataset == r["dataset"],
        )
        for r in steps.to_dict("records")
    ]
    out["verdict"] = [v.verdict for v in judged]
    out["reason"] = [v.reason for v in judged]
    return out
