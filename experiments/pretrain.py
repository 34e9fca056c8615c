"""DVC stage `pretrain`: phase 1 of the authors' recipe, the single-frame network (tdmi/recipe.py).

    python experiments/pretrain.py [pretrain.epochs=4] [data.root=...]
    python experiments/pretrain.py pretrain.checkpoint=/models/hrnet_w48_posetrack.pth   # skipped

Trains the `single_frame` preset with the `train` settings for `pretrain.epochs` epochs into
`pretrain.train_dir` (an MLflow run named `pretrain`) and writes `metrics_dir`/pretrain.json and
`plots_dir`/pretrain_curve.csv. When `pretrain.checkpoint` names another network than that folder's
best.pt, nothing is trained: the stage checks the file exists and records that it was skipped.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.engine.tracking import MLflowTracker
from tdmi.recipe import pretrain_skipped, pretrain_spec, record_skip
from tdmi.run import train


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    config = OmegaConf.to_container(cfg, resolve=True)
    if pretrain_skipped(config):
        print(f"pretrain skipped: starting from {record_skip(config, cfg.paths.root)}")
        return
    tracker = (
        MLflowTracker(cfg.mlflow.experiment, cfg.mlflow.tracking_uri, "pretrain", root=cfg.paths.root)
        if cfg.mlflow.enabled
        else None
    )
    result = train(pretrain_spec(config, cfg.paths.root), tracker, phase="pretrain")
    print(f"single-frame network: best val mAP {result.best_metric:.1f} at epoch {result.best_epoch}")


if __name__ == "__main__":
    main()
