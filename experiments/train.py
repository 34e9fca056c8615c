"""DVC stage `train`: the composed config -> tdmi.run.train, tracked as one MLflow run.

    python experiments/train.py [experiment=posetrack17_w48] [preset=tde2] [train.epochs=3] ...
    torchrun --nproc_per_node=8 experiments/train.py experiment=posetrack17_w48 data.root=...

Writes (rank 0): `train_dir`/{last,best}.pt, predictions.json and per_joint.csv of the best epoch,
`metrics_dir`/train.json (with the MLflow run_id) and `plots_dir`/learning_curve.csv. Returns the
best val mAP, so a Hydra sweeper can optimise it. A rerun with the same `train_dir` and config
resumes, in the same MLflow run; with another config it stops and names the keys that differ.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.engine.tracking import MLflowTracker
from tdmi.run import RunSpec, train


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> float | None:
    spec = RunSpec.from_dict(OmegaConf.to_container(cfg, resolve=True), cfg.paths.root, files=True)
    tracker = (
        MLflowTracker(cfg.mlflow.experiment, cfg.mlflow.tracking_uri, cfg.mlflow.run_name, root=cfg.paths.root)
        if cfg.mlflow.enabled
        else None
    )
    return train(spec, tracker).best_metric


if __name__ == "__main__":
    main()
