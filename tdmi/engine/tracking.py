"""MLflow tracking for training runs, and the run's learning-curve files.

One training run = one MLflow run (nested under an active parent, e.g. an Optuna sweep, when
``nested``): the flattened config as params; per epoch every numeric metric fit() reports (loss
terms, lr, clips/s, val mAP...) with the epoch as step; tags for reproducibility (git commit,
data fingerprint, device, torch version, ablation preset); artifacts at the end: best checkpoint,
predictions JSON, per-joint CSV and a learning-curve PNG.

A resumed training run continues its MLflow run: tdmi/run.py stores the run id in every
checkpoint and passes it back as ``run_id``. Metrics of epochs whose checkpoint was written but
whose metrics were not (a kill in between) are logged on resume from the checkpoint's history
(:meth:`MLflowTracker.log_missing_epochs`); MLflow params cannot change, so a value that differs on
resume (e.g. more epochs) is kept as a tag ``resumed.<param>``.

Tracking URI: the configured value, else ``$MLFLOW_TRACKING_URI``, else
``sqlite:///<project root>/mlruns.db`` (``paths.root``, tdmi/utils/paths.py; SQLite rather than
MLflow's file store, which MLflow 3 deprecates; gitignored like mlartifacts/).
For a local SQLite store, new experiments keep artifacts in ``mlartifacts/`` beside the database
instead of MLflow's default, a path relative to whatever the working directory happens to be.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import mlflow
import torch
from mlflow.exceptions import MlflowException

from tdmi.engine.train import FitResult
from tdmi.redact import redact
from tdmi.utils.io import flatten
from tdmi.utils.paths import git_commit, project_root


def resolve_tracking_uri(configured: str | None = None, root: str | Path | None = None) -> str:
    """The configured URI, else $MLFLOW_TRACKING_URI, else the project root's local SQLite store."""
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root(root) / 'mlruns.db'}"


def artifact_location(uri: str) -> str | None:
    """``<db folder>/mlartifacts`` for a local SQLite store; None (the server decides) otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()


def plot_learning_curve(history: Sequence[Mapping[str, float]], path: str | Path) -> Path:
    """Train loss terms (left) and val mAP (right) per epoch, as a PNG (matplotlib's Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key in dict.fromkeys(k for row in history for k in row):
        if key.startswith("train/") and key not in ("train/clips_per_s", "train/skipped", "train/grad_norm"):
            left.plot(epochs, [row.get(key, math.nan) for row in history], marker=".", label=key.removeprefix("train/"))
    left.set(xlabel="epoch", ylabel="loss", title="training loss terms")
    left.legend(fontsize="small")
    val = [(row["epoch"], row["val/mAP"]) for row in history if "val/mAP" in row]
    if val:
        right.plot(*zip(*val, strict=True), marker="o")
    right.set(xlabel="epoch", ylabel="mAP (%)", title="validation PoseTrack mAP")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class MLflowTracker:
    """A context manager around one MLflow run; also a fit() callback logging each epoch."""

    def __init__(
        self,
        experiment: str = "tdmi",
        tracking_uri: str | None = None,
        run_name: str | None = None,
        nested: bool = False,
        run_id: str | None = None,
        root: str | Path | None = None,
    ):
        """``run_id``: reopen that run (a resumed training run); a new run when the store lacks it
        (e.g. a checkpoint brought from another machine). ``root``: the project root whose
        ``mlruns.db`` is the default store (resolve_tracking_uri)."""
        self.uri = resolve_tracking_uri(tracking_uri, root)
        self.experiment, self.run_name, self.nested, self.run_id = experiment, run_name, nested, run_id
        self.active = False  # inside the `with` block

    def __enter__(self) -> MLflowTracker:
        mlflow.set_tracking_uri(self.uri)
        if mlflow.get_experiment_by_name(self.experiment) is None:
            mlflow.create_experiment(self.experiment, artifact_location=artifact_location(self.uri))
        mlflow.set_experiment(self.experiment)
        if self.run_id is not None:
            try:
                mlflow.MlflowClient(self.uri).get_run(self.run_id)
            except MlflowException:
                self.run_id = None
        self.run_id = mlflow.start_run(self.run_id, run_name=self.run_name, nested=self.nested).info.run_id
        self.active = True
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        mlflow.end_run("FAILED" if exc_type is not None else "FINISHED")
        self.active = False

    def log_config(self, config: Mapping) -> None:
        """The flattened config as params; on a reopened run only new keys, changed values as tags."""
        params = {k: redact(str(v)) for k, v in flatten(config).items()}  # no URL passwords
        logged = mlflow.MlflowClient(self.uri).get_run(self.run_id).data.params
        mlflow.log_params({k: v for k, v in params.items() if k not in logged})
        changed = {f"resumed.{k}": v for k, v in params.items() if k in logged and logged[k] != v}
        if changed:
            mlflow.set_tags(changed)

    def set_tags(self, fingerprint: str, device: str, preset: str, **more: str) -> None:
        """The tags every run carries, plus any others."""
        commit = git_commit()
        dirty = "unknown" if commit == "unknown" else str(commit.endswith("-dirty")).lower()
        tags = {
            "git_commit": commit,
            "git_dirty": dirty,
            "data_fingerprint": fingerprint,
            "device": device,
            "torch_version": torch.__version__,
            "preset": preset,
            **more,
        }
        mlflow.set_tags({k: redact(str(v)) for k, v in tags.items()})

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """Finite metrics only: an undefined AP (a joint without ground truth) is NaN."""
        finite = {k: float(v) for k, v in metrics.items() if k != "epoch" and math.isfinite(v)}
        mlflow.log_metrics(finite, step=epoch)

    def log_missing_epochs(self, history: Sequence[Mapping[str, float]]) -> None:
        """Log the rows of ``history`` (fit's, from a checkpoint) whose epoch the run lacks; "lr" is
        in every row fit() reports, so its steps are the epochs already logged."""
        logged = {m.step for m in mlflow.MlflowClient(self.uri).get_metric_history(self.run_id, "lr")}
        for row in history:
            if row["epoch"] not in logged:
                self.on_epoch_end(int(row["epoch"]), dict(row))

    def log_result(self, result: FitResult) -> None:
        """Best checkpoint, predictions, per-joint CSV, learning curve; summary metrics ``best/mAP``,
        ``best/epoch`` and ``best/AP/<joint group>`` (the best epoch's), so that a table over many
        runs is one ``mlflow.search_runs`` query."""
        for name, folder in (("best", "checkpoints"), ("predictions", "predictions"), ("per_joint", "metrics")):
            if name in result.files:
                mlflow.log_artifact(str(result.files[name]), folder)
        mlflow.log_artifact(str(plot_learning_curve(result.history, result.out_dir / "learning_curve.png")), "plots")
        if result.best_metric is not None:
            best = {
                f"best/{k.removeprefix('val/')}": v
                for k, v in result.best_row.items()
                if k.startswith("val/AP/") and math.isfinite(v)
            }
            mlflow.log_metrics({"best/mAP": result.best_metric, "best/epoch": result.best_epoch, **best})
        mlflow.log_metric("skipped_steps", result.skipped_steps)
