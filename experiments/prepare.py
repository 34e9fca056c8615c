"""DVC stage `prepare`: validate the dataset at ``data.root`` (read by ``data.loader``, see
tdmi.data.datasets) and write its summary.

Reads, never writes, the dataset: a real one is the pipeline's input, the synthetic one is the
`generate` stage's output (``python experiments/generate.py``). Any malformed annotation or missing
frame stops it with one line naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from tdmi.cli import entry_point
from tdmi.data.datasets import DATASETS
from tdmi.data.posetrack import PoseTrackFormatError
from tdmi.data.summary import dataset_summary


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    root = Path(to_absolute_path(cfg.data.root))
    if cfg.data.loader not in DATASETS:
        raise SystemExit(f"error: data.loader={cfg.data.loader} is not one of {sorted(DATASETS)}")
    try:
        counts = dataset_summary(root, tuple(cfg.data.splits), cfg.data.loader)
    except (PoseTrackFormatError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    summary = {"dataset": cfg.data.name, **counts}
    out = Path(to_absolute_path(cfg.metrics_dir)) / "data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    table = Table(title=f"{cfg.data.name} at {root}  (fingerprint {summary['fingerprint']})")
    table.add_column("")
    for split in cfg.data.splits:
        table.add_column(split, justify="right")
    for key in summary[cfg.data.splits[0]]:
        table.add_row(key, *(str(summary[split][key]) for split in cfg.data.splits))
    Console().print(table)


if __name__ == "__main__":
    main()
