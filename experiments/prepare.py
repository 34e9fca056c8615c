"""DVC stage `prepare`: generate (synthetic) or validate (real) the dataset, write its summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from tdmi.data.summary import dataset_summary
from tdmi.data.synth import SynthConfig, generate


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    root = Path(hydra.utils.to_absolute_path(cfg.data.root))
    if cfg.data.synth is not None:
        synth = SynthConfig(**OmegaConf.to_container(cfg.data.synth, resolve=True))
        if root.exists():
            shutil.rmtree(root)  # a stale file from a bigger earlier set must not survive
        generate(synth, root)
    summary = {"dataset": cfg.data.name, **dataset_summary(root, tuple(cfg.data.splits))}
    out = Path(hydra.utils.to_absolute_path(cfg.metrics_dir)) / "data.json"
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
