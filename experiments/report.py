"""DVC stage `report`: the pipeline's per-joint mAP as Markdown and CSV, in the paper's column order.

Rows: the trained model and the single-frame network it was built on (phase 1 of the recipe), the
gain, the AP on the degraded and on the clean joints of both (synthetic data), then the paper's
rows. The paper's main-results rows for the same dataset are shown as comparable; on any other
data, only the paper's headline gain (TDMI-ST vs HRNet-W48, PoseTrack2017 val) is shown, with its
kind and source, labelled as another dataset: a size for context, never a number to match.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from tdmi.eval.results import COLUMNS, write_per_joint_csv
from tdmi.reference import load_reference, main_rows, reference_dataset


def table_rows(preset: str, metrics: dict, paper) -> dict[str, dict[str, float]]:
    """Row label -> AP per column: ours, the single-frame network, the gain, the subsets, the paper."""
    rows = {f"ours: {preset}": metrics["AP"]}
    single = metrics.get("single_frame") or {}
    if "AP" in single:
        rows["ours: single_frame (phase 1)"] = single["AP"]
        rows[f"gain: {preset} - single_frame"] = metrics["gain"]
    for who, subsets in (metrics.get("subsets") or {}).items():
        name = preset if who == "ours" else who
        for subset, ap in subsets.items():
            rows[f"{name}, {subset} joints"] = ap
    rows |= {f"paper: {r.method}": {c: r[c.lower()] for c in COLUMNS} for _, r in paper.iterrows()}
    headline = metrics.get("paper") or {}
    if paper.empty and headline:
        where = f"{headline['dataset']} {headline['split']}, another dataset"
        for method, ap in headline["AP"].items():
            rows[f"paper ({where}): {method} [{headline['kind'][method]}]"] = ap
        rows[f"paper ({where}): gain {headline['method']} - {headline['baseline']}"] = headline["gain"]
    return rows


def markdown(dataset: str, preset: str, rows: dict[str, dict[str, float]], metrics: dict, paper) -> str:
    def fmt(v) -> str:
        return "—" if v is None or v != v else f"{float(v):.1f}"

    head = "| row | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS) + "\n"
    body = "\n".join(f"| {name} | " + " | ".join(fmt(ap.get(c)) for c in COLUMNS) + " |" for name, ap in rows.items())
    oks = metrics.get("oks", {})
    lines = [
        f"# Per-joint PoseTrack mAP: {preset} on {dataset}",
        "",
        f"Checkpoint epoch {metrics.get('epoch')}, {metrics.get('clips')} clips, {metrics.get('boxes')} boxes, "
        f"flip test {'on' if metrics.get('flip_test') else 'off'}; COCO OKS AP {oks.get('AP', float('nan')):.3f}.",
        "",
        head + body,
        "",
    ]
    single = metrics.get("single_frame") or {}
    if "skipped" in single:
        lines.append(f"The single-frame network was not evaluated: {single['skipped']}")
    if metrics.get("subsets"):
        lines.append(
            "Degraded joints: flagged in the key frame by the synthetic generator (blur, occlusion, transient "
            "degradations); clean joints: the rest (tdmi/eval/subsets.py)."
        )
    headline = metrics.get("paper") or {}
    if paper.empty:
        lines.append(f"The paper reports no results on {dataset}: its per-joint numbers are not comparable with these.")
        if headline:
            sources = "; ".join(f"{m}: {s}" for m, s in headline["source"].items())
            lines.append(
                f"The paper's headline gain ({headline['method']} over {headline['baseline']}, "
                f"{headline['gain']['Mean']:+.1f} mAP) is on {headline['dataset']} {headline['split']}, another "
                f"dataset: shown for the size of a gain only. Sources: {sources}."
            )
    return "\n".join(lines) + "\n"


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    metrics = json.loads((Path(to_absolute_path(cfg.metrics_dir)) / "eval.json").read_text())
    ref_name = reference_dataset(cfg.data.name)
    paper = main_rows(load_reference(), ref_name) if ref_name else load_reference().iloc[0:0]
    out = Path(to_absolute_path(cfg.report_dir))
    rows = table_rows(cfg.preset, metrics, paper)
    write_per_joint_csv(rows, out / "per_joint.csv")
    (out / "per_joint.md").write_text(markdown(ref_name or cfg.data.name, cfg.preset, rows, metrics, paper))
    print((out / "per_joint.md").read_text())


if __name__ == "__main__":
    main()
