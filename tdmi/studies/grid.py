"""Run the ablation grid: every preset x seed as one training run (tdmi/run.py), skipping the cells
MLflow already holds FINISHED with the same config hash, then the summary table.

Every cell follows the authors' recipe (tdmi/recipe.py): it starts from the same pretrained
single-frame network (``pretrain.checkpoint``: the pipeline's pretrain output), frozen as
``pretrain.freeze_backbone`` says, and trains for the same budget (``train.epochs``, the same clips
per epoch). The baseline row (``ablate.baseline``, ``single_frame``) is, by default
(``ablate.baseline_mode: as_is``), that network evaluated as it is (``train.epochs=0``): the
authors' baseline is the pose network they froze (HRNet-W48's 77.3 beside TDMI's 85.9), the
pipeline's evaluate stage compares against the same network, and TDMI's zero-started aggregation
predicts exactly what it predicts before its first step, so a row's gain is what its temporal
parts learned. Every seed of it is the same network (std 0). ``fine_tune`` instead trains that
network's head for the rows' budget under the same freezing (the backbone frozen): the stricter
test that a gain is not merely more training of the head. The ``static`` row (the same temporal
parts fed the key frame only, same budget) tells time from capacity in either mode. While it runs,
each epoch prints the cell, the epoch, its validation mAP and the grid's ETA (from the mean epoch
time so far); each cell's end its result.

The statistics and the MLflow queries are in tdmi/studies/ablation.py (torch-free, the dashboard
reads them); this module trains, so it is kept apart.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tdmi.data.summary import fingerprint
from tdmi.engine.tracking import MLflowTracker, resolve_tracking_uri
from tdmi.models.presets import ABLATION_ORDER, PRESETS
from tdmi.recipe import temporal_config, with_preset
from tdmi.reference import load_reference
from tdmi.results.ablation import order_verdicts
from tdmi.run import RunSpec, train
from tdmi.studies.ablation import (
    cell_results,
    claimed_steps,
    config_hash,
    finished_runs,
    gains_markdown,
    markdown,
    step_intervals,
    steps_markdown,
    summarize,
)
from tdmi.utils.config import require, require_count
from tdmi.utils.paths import project_root, under_root

BASELINE_MODES = ("as_is", "fine_tune")


@dataclass
class Cell:
    preset: str
    seed: int
    spec: RunSpec
    digest: str  # config_hash of the cell: its identity in MLflow (tag config_hash)


@dataclass
class GridResult:
    summary: pd.DataFrame  # summarize()'s long table
    table: str  # markdown()
    files: dict[str, Path]
    trained: int  # cells trained by this call
    total: int


class GridProgress:
    """A fit() callback: one line per finished epoch of a cell, with the grid's ETA."""

    def __init__(self, epochs: int, log: Any = print):
        self.left, self.log, self.cell = epochs, log, None
        self.seconds, self.done, self.last = 0.0, 0, time.perf_counter()

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        now = time.perf_counter()
        if epoch:  # epoch 0 (an as-is baseline cell) trains nothing: not an epoch of the ETA
            self.seconds, self.done, self.left = self.seconds + now - self.last, self.done + 1, self.left - 1
        self.last = now
        eta = f"{self.left * self.seconds / self.done / 60:.1f} min" if self.done else "after the first epoch"
        cell = self.cell
        val = f"val mAP {metrics['val/mAP']:.2f}" if "val/mAP" in metrics else "not validated (train.val_every)"
        self.log(
            f"[{cell.preset} seed {cell.seed}] epoch {epoch}/{cell.spec.train.epochs}: {val}; "
            f"grid ETA {eta} ({self.left} epochs left)"
        )


def grid_cells(config: Mapping[str, Any], root: Path) -> list[Cell]:
    """The grid ``config["ablate"]`` asks for: the composed config with each preset's row (as
    ``preset=<preset>`` would give) and each seed; checked before anything trains."""
    ablate = config["ablate"]
    presets = list(ablate.get("presets") or ABLATION_ORDER)
    unknown = [p for p in presets if p not in PRESETS]
    require(not unknown, "ablate.presets", presets, f"must be presets of {ABLATION_ORDER}")
    require(
        ablate["baseline"] in presets, "ablate.baseline", ablate["baseline"], f"must be one of ablate.presets {presets}"
    )
    require(
        ablate.get("baseline_mode", "as_is") in BASELINE_MODES,
        "ablate.baseline_mode",
        ablate.get("baseline_mode"),
        f"must be one of {BASELINE_MODES}",
    )
    require_count(ablate["seeds"], "ablate.seeds")
    data_fingerprint = fingerprint(under_root(config["data"]["root"], root) / "annotations")
    cells = []
    for preset in presets:
        for seed in range(config["seed"], config["seed"] + ablate["seeds"]):
            cell = temporal_config(with_preset(config, preset))
            cell["seed"] = seed
            if preset == ablate["baseline"] and ablate.get("baseline_mode", "as_is") == "as_is":
                cell["train"] = {**cell["train"], "epochs": 0}
            spec = RunSpec.from_dict(cell, root)
            digest = config_hash(spec.identity(data_fingerprint))
            out_dir = under_root(ablate["train_dir"], root) / f"{preset}-seed{seed}-{digest}"
            cells.append(Cell(preset, seed, dataclasses.replace(spec, out_dir=out_dir), digest))
    return cells


def run_grid(config: Mapping[str, Any], root: str | Path | None = None, log: Any = print) -> GridResult:
    """Train the missing cells (a cell a crash stopped mid-way resumes from its checkpoint, in its
    own MLflow run), then summarise every done cell; writes ``ablate.out_dir``/ablation.{csv,md}."""
    root = project_root(root)
    ablate = config["ablate"]
    uri = resolve_tracking_uri(config["mlflow"]["tracking_uri"], root)
    cells = grid_cells(config, root)
    hashes = {(c.preset, c.seed): c.digest for c in cells}
    done = cell_results(finished_runs(ablate["experiment"], uri), hashes)
    finished = set(zip(done["preset"], done["seed"], strict=True))
    todo = [c for c in cells if (c.preset, c.seed) not in finished]
    log(f"ablation grid: {len(cells)} runs, {len(cells) - len(todo)} already finished in MLflow, {len(todo)} to run")
    progress = GridProgress(sum(c.spec.train.epochs for c in todo), log)
    for cell in todo:
        tracker = MLflowTracker(ablate["experiment"], uri, f"{cell.preset}-seed{cell.seed}")
        progress.cell = cell
        result = train(cell.spec, tracker, [progress], ablation="true", seed=str(cell.seed), config_hash=cell.digest)
        log(
            f"[{cell.preset} seed {cell.seed}] done: best val mAP {result.best_metric:.2f} at epoch {result.best_epoch}"
        )
    presets: Sequence[str] = list(dict.fromkeys(c.preset for c in cells))
    results = cell_results(finished_runs(ablate["experiment"], uri), hashes)
    summary = summarize(results, ablate["baseline"], presets, ablate["confidence"])
    steps = order_verdicts(
        step_intervals(results, claimed_steps(load_reference()), ablate["confidence"]), config["data"].get("name")
    )
    out = under_root(ablate["out_dir"], root)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / "ablation.csv", "md": out / "ablation.md"}
    summary.to_csv(files["csv"], index=False)
    table = "\n\n".join(
        [
            markdown(summary, ablate["baseline"], ablate["confidence"]),
            gains_markdown(summary, ablate["baseline"], ablate["confidence"]),
            steps_markdown(steps),
        ]
    )
    files["md"].write_text(table + "\n")
    return GridResult(summary, table, files, len(todo), len(cells))
