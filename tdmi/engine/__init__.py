"""Training engine: fit() with checkpoints and resume, prediction + metrics, MLflow tracking."""

from tdmi.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    seed_everything,
)
from tdmi.engine.predict import evaluate, predict
from tdmi.engine.train import FitResult, NonFiniteLossError, TrainConfig, fit, init_distributed

__all__ = [
    "CheckpointError", "FitResult", "NonFiniteLossError", "TrainConfig", "evaluate", "fit", "init_distributed",
    "load_checkpoint", "model_from_checkpoint", "predict", "save_checkpoint", "seed_everything",
]
