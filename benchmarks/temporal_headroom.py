"""Temporal headroom: what the data's degradations cost a single-frame network (issue 14).

A temporal model can only beat a single-frame one where the key frame is ambiguous and its
neighbours are not. This trains the single-frame preset on the default synthetic set (the
`generate`, `prepare` and `train` entry points, one intra-op thread, MLflow off), then evaluates
its last checkpoint on the degraded val split and on its clean twin (tdmi.data.synth.clean_twin:
same seed, people and poses, no blur and no transient degradations), and prints both mAPs, the
gap, and the AP on the degraded and the clean joints of each (tdmi/eval/subsets.py; the joints
are those the degraded set flags, scored in both renderings). Everything goes under --work; a
JSON copy of the table is written there as headroom.json.

    OMP_NUM_THREADS=1 python benchmarks/temporal_headroom.py [--epochs 3] [--work DIR] \\
        [Hydra overrides for every stage, e.g. data.synth.transient=0.4 train.batch_size=32]

Measured on the default set (seed 0, 3 epochs, 2 shared CPU cores under load, 2026-11-25): val
mAP 32.3 degraded vs 36.8 clean twin (gap 4.5); degraded joints 23.8 vs 37.2 (gap 13.4); clean
joints 34.3 vs 34.9. 38.0% of val joints are degraded, 32.1% degraded but clean within +-2 frames.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tdmi.data.posetrack import load_posetrack
from tdmi.data.synth import MARKER, SynthConfig, clean_twin, generate, read_degraded
from tdmi.eval.posetrack import evaluate_posetrack
from tdmi.eval.results import read_posetrack_results
from tdmi.eval.subsets import evaluate_subset

REPO = Path(__file__).resolve().parents[1]
# the single-frame preset: `baseline` until the rename to `single_frame` lands
PRESET = next(n for n in ("single_frame", "baseline") if (REPO / "experiments/conf/model" / f"{n}.yaml").exists())


def stage(script: str, overrides: list[str], work: Path) -> float:
    """Run one Hydra entry point with one intra-op thread; seconds it took."""
    cmd = [sys.executable, str(REPO / "experiments" / script), f"hydra.run.dir={work / 'hydra' / script}", *overrides]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def scores(root: Path, predictions: Path, degraded: dict) -> dict[str, float]:
    """mAP of all joints, of the degraded ones and of the clean ones."""
    videos = load_posetrack(root / "annotations" / "val")
    preds = read_posetrack_results(predictions, videos)
    out = {"all": evaluate_posetrack(videos, preds).columns()["Mean"]}
    for subset in ("degraded", "clean"):
        out[subset] = evaluate_subset(videos, preds, degraded, subset).columns()["Mean"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=REPO / "outputs" / "temporal_headroom")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed to every stage")
    args = parser.parse_args()
    work = args.work.resolve()
    data, twin, ckpt = work / "data", work / "clean_twin", work / "checkpoints"
    common = [f"data.root={data}", f"metrics_dir={work / 'metrics'}", f"plots_dir={work / 'plots'}", *args.overrides]
    seconds = {"generate": stage("generate.py", common, work), "prepare": stage("prepare.py", common, work)}
    start = time.perf_counter()
    generate(clean_twin(SynthConfig(**json.loads((data / MARKER).read_text()))), twin, progress=False, splits=("val",))
    seconds["clean twin (val)"] = time.perf_counter() - start
    seconds["train"] = stage(
        "train.py",
        [
            *common,
            f"preset={PRESET}",
            f"train.epochs={args.epochs}",
            f"train.val_every={args.epochs}",
            f"train_dir={ckpt}",
            "train.resume=false",
            "mlflow.enabled=false",
        ],
        work,
    )
    degraded = read_degraded(data / "annotations" / "val")
    results = {}
    for name, root in (("degraded", data), ("clean twin", twin)):
        out = work / "eval" / name.replace(" ", "_")
        seconds[f"evaluate {name}"] = stage(
            "evaluate.py",
            [
                *common,
                f"data.root={root}",
                f"ckpt={ckpt / 'last.pt'}",
                f"eval_dir={out}",
                f"metrics_dir={out}",
                f"plots_dir={out}",
            ],
            work,
        )
        results[name] = scores(root, out / "predictions", degraded)
    summary = json.loads((work / "metrics" / "data.json").read_text())["val"]
    gap = {k: results["clean twin"][k] - results["degraded"][k] for k in results["degraded"]}
    table = Table(
        title=f"{PRESET}, {args.epochs} epochs: val mAP by joints scored (joints flagged in the degraded set)"
    )
    for col in ("val set", "all joints", "degraded joints", "clean joints"):
        table.add_column(col, justify="right")
    for name, row in [*results.items(), ("gap (headroom)", gap)]:
        table.add_row(name, *(f"{row[k]:.1f}" for k in ("all", "degraded", "clean")))
    console = Console()
    console.print(table)
    console.print(
        f"val joints degraded {summary.get('degraded_joint_fraction')}, degraded but clean within +-2 frames "
        f"{summary.get('recoverable_joint_fraction')}; seconds: "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
    )
    (work / "headroom.json").write_text(
        json.dumps(
            {
                "preset": PRESET,
                "epochs": args.epochs,
                "overrides": args.overrides,
                "mAP": results,
                "gap": gap,
                "data_val": summary,
                "seconds": seconds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
