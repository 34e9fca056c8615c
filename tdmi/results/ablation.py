"""Our ablation runs beside the paper's: mean +- std over seeds, gain over our baseline with a
confidence interval, and a verdict per claim from one stated rule (:data:`RULE`).

Inputs: runs tagged ``ablation=true`` with a ``preset`` (tdmi/models/presets.py) and a seed, whose
``health`` is ok; the value compared is ``best/mAP`` (best validation epoch). Groups are (dataset,
preset), so numbers from different data are never pooled.

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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tdmi.models.presets import ABLATION_ORDER
from tdmi.reference import ablation_rows, reference_dataset
from tdmi.results.runs import OK, SUMMARY_METRIC
from tdmi.studies.ablation import welch_interval

CONFIDENCE = 0.95
MAGNITUDE_FRACTION = 0.5  # below half the paper's gain (whole interval) = the claim's size fails
BASELINE = "baseline"
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"

RULE = f"""\
**Verdict rule.** For each preset, our gain = mean({SUMMARY_METRIC}) of the preset minus that of our
baseline, over seeds, on one dataset; its {CONFIDENCE:.0%} confidence interval is Welch's t interval
(unequal variances, at least 2 seeds on each side, otherwise no interval; the same interval as
experiments/ablate.py's reports/ablation.csv). The claim's sign is the
paper's gain's sign where the reference has it, else "improves on the baseline" (+).
- **reproduced**: the interval excludes 0 on the claim's side, and, when the paper's gain is known
  *and on the same dataset*, the interval's upper end reaches at least {MAGNITUDE_FRACTION:.0%} of it;
- **not reproduced**: the interval excludes 0 on the opposite side, or (same dataset, paper's gain
  known) the whole interval lies below {MAGNITUDE_FRACTION:.0%} of the paper's gain;
- **inconclusive**: anything else (the interval contains 0, or fewer than 2 seeds).
On synthetic data, or a dataset other than the paper row's, only the direction is judged
("direction only"): the paper's magnitude is never compared across datasets."""


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str


def verdict(low: float, high: float, claim_sign: float, paper_gain: float | None, same_dataset: bool) -> Verdict:
    """Apply :data:`RULE` to one interval. ``paper_gain`` None = the reference has no number."""
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
        return Verdict(REPRODUCED, "the interval excludes 0 with the claim's sign" + ("" if magnitude else " (direction only)"))
    return Verdict(INCONCLUSIVE, "the interval contains 0")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def paper_ablations(reference: pd.DataFrame) -> pd.DataFrame:
    """Each reference ablation row with the preset it names (or "") and its gain over the
    same table's baseline row (NaN when the table has no baseline row)."""
    rows = ablation_rows(reference).copy()
    presets = {_key(p): p for p in ABLATION_ORDER}
    rows["preset"] = rows["method"].map(lambda m: presets.get(_key(m), ""))
    base = rows[rows["preset"] == BASELINE].set_index(["table", "dataset"])["mean"]
    rows["paper_gain"] = [
        r["mean"] - base.get((r["table"], r["dataset"]), math.nan) for r in rows.to_dict("records")
    ]
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


def summarise(runs: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, preset) in the paper's ablation order, with our numbers, the paper's
    where the reference has them (with their source), the comparison made, and the verdict."""
    usable, _ = ablation_runs(runs)
    paper = paper_ablations(reference)
    order = {p: i for i, p in enumerate(ABLATION_ORDER)}
    out = []
    for dataset, group in usable.groupby("dataset", sort=True):
        ref_dataset = reference_dataset(dataset)
        values = {p: g[SUMMARY_METRIC].to_numpy(float) for p, g in group.groupby("preset")}
        base = values.get(BASELINE, np.array([]))
        for preset in sorted(values, key=lambda p: (order.get(p, len(order)), p)):
            ours = values[preset]
            row = {
                "dataset": dataset or "(unnamed)", "data": "PoseTrack" if ref_dataset else "synthetic" if dataset == "synth" else "other",
                "preset": preset, "n": len(ours), "mean": float(ours.mean()),
                "std": float(ours.std(ddof=1)) if len(ours) > 1 else math.nan,
                "seeds": ", ".join(sorted(group.loc[group["preset"] == preset, "seed"].astype(str))),
            }
            match = _paper_match(paper, preset, ref_dataset)
            paper_gain = match["paper_gain"] if match else math.nan
            row.update({
                "paper_mean": match["mean"] if match else math.nan, "paper_gain": paper_gain,
                "paper_dataset": match["dataset"] if match else "", "paper_table": match["table"] if match else "",
                "paper_source": match["source"] if match else "",
            })
            same = bool(match) and ref_dataset == row["paper_dataset"]
            if preset == BASELINE:
                row.update(gain=0.0, gain_low=math.nan, gain_high=math.nan, comparison="reference point",
                           verdict="", reason="the baseline every gain is measured from")
                out.append(row)
                continue
            gain, low, high = welch_interval(ours, base, CONFIDENCE)
            sign = math.copysign(1.0, paper_gain) if not math.isnan(paper_gain) and paper_gain != 0 else 1.0
            judged = verdict(low, high, sign, None if math.isnan(paper_gain) else paper_gain, same)
            if not len(base):
                judged = Verdict(INCONCLUSIVE, "no baseline runs on this dataset")
            row.update(gain=gain, gain_low=low, gain_high=high, verdict=judged.verdict, reason=judged.reason,
                       comparison=_comparison(dataset, ref_dataset, match, same))
            out.append(row)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _comparison(dataset: str, ref_dataset: str | None, match: dict | None, same: bool) -> str:
    if same:
        return f"same dataset ({ref_dataset}): sign and size"
    ours = "synthetic data" if dataset == "synth" else f"{dataset}"
    theirs = f"paper on {match['dataset']}" if match else "no paper row: the paper's claim that it helps"
    return f"direction only: ours on {ours}, {theirs}"


SUMMARY_COLUMNS = ["preset", "verdict", "n", "mean", "std", "gain", "gain_low", "gain_high", "paper_mean",
                   "paper_gain", "paper_dataset", "paper_source", "comparison", "reason", "seeds", "paper_table",
                   "dataset", "data"]
