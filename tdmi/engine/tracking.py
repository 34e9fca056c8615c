"""MLflow tracking for training runs, and the run's learning-curve files.

One training run = one MLflow run (nested under an active parent, e.g. an Optuna sweep, when
``nested``): the flattened config as params; per epoch every numeric metric fit() reports (loss
terms, lr, clips/s, val mAP...) with the epoch as step; tags for reproducibility (git commit,
data fingerprint, device, torch version, ablation preset); artifacts at the end: best checkpoint,
predictions JSON, per-joint CSV and a learning-curve PNG.

A resumed training run continues its MLflow run: experiments/train.py stores the run id in every
checkpoint and passes it back as ``run_id``. Metrics of epochs whose checkpoint was written but
whose metrics were not (a kill in between) are logged on resume from the checkpoint's history
(:meth:`MLflowTracker.log_missing_epochs`); MLflow params cannot change, so a value that differs on
resume (e.g. more epochs) is kept as a tag ``resumed.<param>``.

Tracking URI: the configured value, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<repo>/mlruns.db``
(SQLite rather than MLflow's file store, which MLflow 3 deprecates; gitignored like mlartifacts/).
For a local SQLite store, new experiments keep artifacts in ``mlartifacts/`` beside the database
instead of MLflow's default, a path relative to whatever the working directory happens to be.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import mlflow
import torch
from mlflow.exceptions import MlflowException

from tdmi.engine.train import FitResult

REPO = Path(__file__).resolve().parents[2]


def resolve_tracking_uri(configured: str | None = None) -> str:
    """The configured URI, else $MLFLOW_TRACKING_URI, else the repo's local SQLite store."""
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO / 'mlruns.db'}"


def artifact_location(uri: str) -> str | None:
    """``<db folder>/mlartifacts`` for a local SQLite store; None (the server decides) otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()


def flatten(config: Mapping, sep: str = ".", prefix: str = "") -> dict[str, object]:
    """Nested mapping -> {"a.b.c": value}: MLflow's flat params (sep "."), metric names (sep "/")."""
    out: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, sep, f"{name}{sep}"))
        else:
            out[name] = value
    return out


def git_commit(repo: Path = REPO) -> str:
    """HEAD's hash, with "-dirty" when tracked files differ; "unknown" outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=repo, capture_output=True).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def write_csv_rows(rows: Sequence[Mapping[str, float | str]], path: str | Path) -> Path:
    """One CSV row per mapping, one column per key (empty where a row has none), the table format
    `dvc plots` draws: the learning curve (a row per epoch), per-joint AP (a row per joint group)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


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

    def __init__(self, experiment: str = "tdmi", tracking_uri: str | None = None, run_name: str | None = None,
                 nested: bool = False, run_id: str | None = None):
        """``run_id``: reopen that run (a resumed training run); a new run when the store lacks it
        (e.g. a checkpoint brought from another machine)."""
        self.uri = resolve_tracking_uri(tracking_uri)
        self.experiment, self.run_name, self.nested, self.run_id = experiment, run_name, nested, run_id

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
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        mlflow.end_run("FAILED" if exc_type is not None else "FINISHED")

    def log_config(self, config: Mapping) -> None:
        """The flattened config as params; on a reopened run only new keys, changed values as tags."""
        params = {k: str(v) for k, v in flatten(config).items()}
        logged = mlflow.MlflowClient(self.uri).get_run(self.run_id).data.params
        mlflow.log_params({k: v for k, v in params.items() if k not in logged})
        changed = {f"resumed.{k}": v for k, v in params.items() if k in logged and logged[k] != v}
        if changed:
            mlflow.set_tags(changed)

    def set_tags(self, fingerprint: str, device: str, preset: str, **more: str) -> None:
        """The tags every run carries, plus any others."""
        tags = {"git_commit": git_commit(), "data_fingerprint": fingerprint, "device": device,
                "torch_version": torch.__version__, "preset": preset, **more}
        mlflow.set_tags(tags)

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
        """Best checkpoint, predictions, per-joint CSV, learning curve; best mAP as a summary metric."""
        for name, folder in (("best", "checkpoints"), ("predictions", "predictions"), ("per_joint", "metrics")):
            if name in result.files:
                mlflow.log_artifact(str(result.files[name]), folder)
        mlflow.log_artifact(str(plot_learning_curve(result.history, result.out_dir / "learning_curve.png")), "plots")
        if result.best_metric is not None:
            mlflow.log_metrics({"best/mAP": result.best_metric, "best/epoch": result.best_epoch})
        mlflow.log_metric("skipped_steps", result.skipped_steps)
