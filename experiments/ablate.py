"""The paper's ablation grid: every preset (tdmi.models.presets) x K seeds, one MLflow run each,
then mean +- std per preset and joint group and the difference to the single-frame baseline with
a Welch confidence interval (tdmi/studies/grid.py).

    python experiments/ablate.py [ablate.seeds=5] [ablate.presets=[baseline,tde3,tdmi]] [train.epochs=2] ...

Cells already FINISHED in MLflow with the same config and seed are skipped, so a rerun after a
crash trains only what is missing. Writes `ablate.out_dir`/ablation.{csv,md}.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.studies.grid import run_grid


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    result = run_grid(OmegaConf.to_container(cfg, resolve=True), cfg.paths.root)
    print(result.table)
    print(f"written: {result.files['csv']}, {result.files['md']} (MLflow experiment {cfg.ablate.experiment!r})")


if __name__ == "__main__":
    main()
