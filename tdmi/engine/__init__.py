"""Training engine: fit() with checkpoints and resume, prediction + metrics, MLflow tracking."""

from tdmi.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    seed_everything,
)
from tdmi.engine.predict import PoseTrackEvaluator, evaluate, predict
from tdmi.engine.train import (
    Evaluator,
    FitResult,
    NonFiniteLossError,
    TrainConfig,
    TrainState,
    fit,
    init_distributed,
)

__all__ = [
    "CheckpointError",
    "Evaluator",
    "FitResult",
    "NonFiniteLossError",
    "PoseTrackEvaluator",
    "TrainConfig",
    "TrainState",
    "evaluate",
    "fit",
    "init_distributed",
    "load_checkpoint",
    "model_from_checkpoint",
    "predict",
    "save_checkpoint",
    "seed_everything",
]
