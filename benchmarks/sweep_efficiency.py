"""Sweep efficiency: a budget-limited Optuna study with pruning against the full grid over the same
space, in the same run, on the tiny default (synthetic videos, tiny backbone, CPU).

Compute is counted in training epochs (every epoch validates, so it is also the number of
validations). The grid trains every cell (`tdmi.studies.search_space.grid`: int axes in full,
log axes at `--points` values plus 0) for the full epochs and gives the best val mAP. The study
(sweep/default.yaml's TPE sampler and median pruner, through the same Objective the sweep runs)
then runs trial by trial until its best mAP is within `--tolerance` points of the grid's best;
the epochs it used up to then, pruned trials counting only the epochs they trained, are compared
with the grid's. Target: at most a third. One study's first hit depends on its sampler's luck, so
the study is repeated with `--repeats` sampler seeds against the one grid; the median and the
worst are reported (a study that never gets there within `--trials` counts as infinite).

    python benchmarks/sweep_efficiency.py [--points 2] [--epochs 4] [--steps 6] [--trials 40] [--repeats 5] [--videos 6]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path

import optuna
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tdmi.data.synth import SynthConfig, generate
from tdmi.engine.tracking import MLflowTracker
from tdmi.run import train
from tdmi.studies.objective import Objective
from tdmi.studies.search_space import flatten_space, grid
from tdmi.studies.sweep import trial_builder

REPO = Path(__file__).resolve().parents[1]

EXPERIMENT = "sweep-efficiency"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2, help="values per log axis in the grid, plus 0")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6, help="training steps per epoch")
    parser.add_argument("--trials", type=int, default=40, help="the study's budget")
    parser.add_argument("--repeats", type=int, default=5, help="studies, each with its own sampler seed")
    parser.add_argument(
        "--tolerance", type=float, default=1.0, help="mAP points below the grid's best that count as reached"
    )
    parser.add_argument("--videos", type=int, default=6, help="synthetic training videos (val: half)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. sweep.space.loss.mi_motion.high=1e-2")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="sweep-efficiency-"))
    generate(
        SynthConfig(
            videos=args.videos, val_videos=max(1, args.videos // 2), frames=12, width=160, height=120, workers=1, seed=3
        ),
        work / "synth",
        progress=False,
    )
    tiny = [
        f"data.root={work / 'synth'}",
        "model.tiny_width=8",
        "train.clip.input_size=[48,64]",
        f"train.epochs={args.epochs}",
        f"train.steps_per_epoch={args.steps}",
        "train.batch_size=8",
        "train.num_workers=0",
        "train.progress=false",
        f"mlflow.tracking_uri=sqlite:///{work / 'mlruns.db'}",
        f"sweep.train_dir={work / 'trials'}",
        *args.overrides,
    ]
    with initialize_config_dir(str(REPO / "experiments" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=tiny)
    space = flatten_space(OmegaConf.to_container(cfg.sweep.space, resolve=True))
    uri = cfg.mlflow.tracking_uri
    build = trial_builder(OmegaConf.to_container(cfg, resolve=True), work)
    tic = time.perf_counter()
    cells = list(grid(space, args.points))
    grid_best = -1.0
    for i, cell in enumerate(cells):
        grid_best = max(
            grid_best, train(build(cell, 10_000 + i), MLflowTracker(EXPERIMENT, uri, f"grid-{i}")).best_metric
        )
    grid_epochs, grid_s = len(cells) * args.epochs, time.perf_counter() - tic
    print(
        f"grid:  {len(cells)} cells x {args.epochs} epochs = {grid_epochs} epochs ({grid_s:.0f} s); "
        f"best val mAP {grid_best:.2f}"
    )

    used = [study_epochs(cfg, space, args, grid_best - args.tolerance, cfg.seed + r) for r in range(args.repeats)]
    ranked = sorted(math.inf if u is None else u for u in used)  # a study that never got there: infinite compute
    median, worst = ranked[len(ranked) // 2], ranked[-1]
    verdict = "met" if median * 3 <= grid_epochs else "missed"
    print(
        f"compute: study / grid = median {median} / {grid_epochs} epochs = {median / grid_epochs:.2f} "
        f"over {len(used)} studies, worst {worst / grid_epochs:.2f} (target <= 0.33: {verdict})"
    )


def study_epochs(cfg: DictConfig, space: dict, args: argparse.Namespace, target: float, seed: int) -> int | None:
    """Run one study (sampler seeded with ``seed``) trial by trial until its best val mAP reaches
    ``target``; the epochs it trained by then, or None within ``args.trials`` trials."""
    tic = time.perf_counter()
    study = optuna.create_study(
        direction="maximize", sampler=instantiate(cfg.sweep.sampler, seed=seed), pruner=instantiate(cfg.sweep.pruner)
    )
    build = trial_builder(OmegaConf.to_container(cfg, resolve=True), REPO)
    objective = Objective(space, build, EXPERIMENT, cfg.mlflow.tracking_uri)
    used, best = 0, -1.0
    for _ in range(args.trials):
        study.optimize(objective, n_trials=1, catch=(Exception,))
        used += len(study.trials[-1].intermediate_values)
        best = max((t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE), default=-1.0)
        if best >= target:
            break
    states = [t.state.name for t in study.trials]
    summary = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    hit = best >= target
    print(
        f"study (sampler seed {seed}): {'reached' if hit else 'did not reach'} {target:.2f} "
        f"after {len(states)} trials ({summary}): "
        f"{used} epochs ({time.perf_counter() - tic:.0f} s); best val mAP {best:.2f}"
    )
    return used if hit else None


if __name__ == "__main__":
    main()
