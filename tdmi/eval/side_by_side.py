"""The pipeline's two networks side by side (issue 14): the temporal model and the single-frame
network it was built on, per joint, with the gain, the AP on degraded and on clean joints, and the
paper's headline gain beside them.

- Subsets: tdmi/eval/subsets.py on the synthetic set's ``degraded`` masks (no masks, e.g. real
  PoseTrack: no subsets, and the files say so by leaving them out).
- The paper's headline: TDMI-ST vs HRNet-W48 on PoseTrack2017 val (tdmi/reference, with each row's
  kind and source). It is another dataset than the synthetic default: it is shown as context for
  the size of a gain, labelled as such, and never compared as an equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tdmi.data.datasets import load_dataset
from tdmi.data.synth import read_degraded
from tdmi.eval.results import COLUMNS, read_posetrack_results
from tdmi.eval.subsets import SUBSETS, evaluate_subset
from tdmi.reference import load_reference, main_rows

HEADLINE = ("PoseTrack2017", "TDMI-ST", "HRNet-W48")  # dataset, method, its single-frame baseline


def subset_columns(data_root: Path, loader: str, predictions: Path) -> dict[str, dict[str, float]]:
    """Per subset ("degraded", "clean"), PoseTrack AP per column of the val predictions in the
    folder ``predictions``; empty when the data has no degraded masks."""
    if loader != "posetrack":  # the masks travel only in PoseTrack-layout files (tdmi.data.synth)
        return {}
    degraded = read_degraded(data_root / "annotations" / "val")
    if not degraded:
        return {}
    videos = load_dataset(loader, data_root, "val")
    preds = read_posetrack_results(predictions, videos)
    return {subset: evaluate_subset(videos, preds, degraded, subset).columns() for subset in SUBSETS}


def gain(ours: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """Per column, ours minus the baseline (AP points)."""
    return {c: float(ours[c]) - float(baseline[c]) for c in COLUMNS if c in ours and c in baseline}


def paper_headline(reference_csv: str | Path | None = None) -> dict[str, Any]:
    """The paper's headline rows (:data:`HEADLINE`) per column with the gain, kinds and sources."""
    dataset, method, base = HEADLINE
    rows = main_rows(load_reference(reference_csv), dataset).set_index("method")
    if method not in rows.index or base not in rows.index:
        return {}
    ours, theirs = rows.loc[method], rows.loc[base]
    ap = {
        m: {c: float(r[c.lower()]) for c in COLUMNS if not math.isnan(r[c.lower()])}
        for m, r in ((method, ours), (base, theirs))
    }
    return {
        "dataset": dataset,
        "split": str(ours["split"]),
        "method": method,
        "baseline": base,
        "AP": ap,
        "gain": gain(ap[method], ap[base]),
        "kind": {method: ours["kind"], base: theirs["kind"]},
        "source": {method: ours["source"], base: theirs["source"]},
        "note": f"{dataset} {ours['split']}, not our data: context for a gain's size, not a comparison",
    }
