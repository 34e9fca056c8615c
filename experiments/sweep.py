"""Optuna study over the config (space, sampler, pruner: the Hydra group `sweep/`); each trial one
training run through tdmi.run, a nested MLflow run under the sweep's parent run (tdmi/studies/sweep.py).
Every trial follows the recipe: it starts from the pretrain stage's network (`pretrain.checkpoint`:
run `dvc repro pretrain` first), frozen as `pretrain.freeze_backbone` says, for `sweep.epochs` epochs.

    python experiments/sweep.py [sweep.n_trials=50] [sweep.study=NAME] [sweep.storage=URL] [model.tiny_width=16] ...

Workers on several machines share a study through one database (the `--storage URL --study NAME`
of other tools are the Hydra overrides sweep.storage=URL sweep.study=NAME); a rerun with the same
name resumes it, retrying trials a killed worker left behind. Writes `sweep.out_dir`/trials.csv and
best_overrides.txt, and prints how to open the study in optuna-dashboard and the runs in MLflow.
"""

from __future__ import annotations

import warnings

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.studies.sweep import run_sweep

# Heartbeats, fail_stale_trials and TPE's `group` are Optuna "experimental" features we rely on knowingly.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> float | None:
    own = [o for o in HydraConfig.get().overrides.task if not o.lstrip("+~").startswith(("sweep.", "sweep=", "hydra."))]
    result = run_sweep(
        OmegaConf.to_container(cfg, resolve=True),
        instantiate(cfg.sweep.sampler),
        instantiate(cfg.sweep.pruner),
        own,
        cfg.paths.root,
    )
    print(result.summary())
    return result.best.values[0] if result.best is not None else None


if __name__ == "__main__":
    main()
