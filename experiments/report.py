"""DVC stage `report`: this run's per-joint mAP as Markdown and CSV, in the paper's column order.

Beside our row, the paper's main-results rows for the same dataset, each with its source; on
synthetic data there is no paper row to compare with, and the report says so rather than
putting numbers from different data side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from tdmi.cli import entry_point
from tdmi.eval.results import COLUMNS, write_per_joint_csv
from tdmi.reference import load_reference, main_rows, reference_dataset


def markdown(dataset: str, preset: str, ours: dict, metrics: dict, paper) -> str:
    head = "| method | " + " | ".join(COLUMNS) + " | source |\n|---|" + "---:|" * len(COLUMNS) + "---|\n"
    rows = [f"| ours ({preset}) | " + " | ".join(f"{ours[c]:.1f}" for c in COLUMNS) + " | this run |"]
    rows += [f"| {r.method} | " + " | ".join(f"{r[c.lower()]:.1f}" for c in COLUMNS) + f" | {r.source} |" for _, r in paper.iterrows()]
    oks = metrics.get("oks", {})
    lines = [
        f"# Per-joint PoseTrack mAP: {preset} on {dataset}",
        "",
        f"Checkpoint epoch {metrics.get('epoch')}, {metrics.get('clips')} clips, {metrics.get('boxes')} boxes, "
        f"flip test {'on' if metrics.get('flip_test') else 'off'}; COCO OKS AP {oks.get('AP', float('nan')):.3f}.",
        "",
        head + "\n".join(rows),
        "",
    ]
    if paper.empty:
        lines.append(f"The paper reports no results on {dataset}: its numbers are not comparable with these and are not shown.")
    return "\n".join(lines) + "\n"


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    metrics = json.loads((Path(to_absolute_path(cfg.metrics_dir)) / "eval.json").read_text())
    ours = {c: float(metrics["AP"][c]) for c in COLUMNS}
    ref_name = reference_dataset(cfg.data.name)
    paper = main_rows(load_reference(), ref_name) if ref_name else load_reference().iloc[0:0]
    out = Path(to_absolute_path(cfg.report_dir))
    rows = {f"ours ({cfg.model.preset})": ours} | {f"paper: {r.method}": {c: r[c.lower()] for c in COLUMNS} for _, r in paper.iterrows()}
    write_per_joint_csv(rows, out / "per_joint.csv")
    (out / "per_joint.md").write_text(markdown(ref_name or cfg.data.name, cfg.model.preset, ours, metrics, paper))
    print((out / "per_joint.md").read_text())


if __name__ == "__main__":
    main()
