"""The paper's ablation grid: every preset (tdmi.models.presets) x K seeds, one MLflow run each,
then mean +- std per preset and joint group and the difference to the single-frame baseline with
a Welch confidence interval.

    python experiments/ablate.py [ablate.seeds=5] [ablate.presets=[baseline,tde3,tdmi]] [train.epochs=2] ...

Cells already FINISHED in MLflow with the same config and seed are skipped, so a rerun after a
crash trains only what is missing. Writes `ablate.out_dir`/ablation.{csv,md}.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from train import dataclasses_from  # experiments/ is on sys.path when this file runs

from tdmi.data.summary import fingerprint
from tdmi.engine.tracking import MLflowTracker, resolve_tracking_uri
from tdmi.models.presets import ABLATION_ORDER, PRESETS
from tdmi.studies.ablation import cell_results, config_hash, finished_runs, markdown, summarize
from tdmi.studies.runs import RunSpec, interrupted, train_run


def build(cfg: DictConfig, preset: str, seed: int, data_fingerprint: str) -> tuple[RunSpec, str]:
    """The composed config as ``preset``'s row (as `model=<preset>` would give) and ``seed``; its hash."""
    cell = cfg.copy()
    cell.seed = seed
    cell.model.update({**PRESETS[preset], "preset": preset})
    model_cfg, loss_cfg, clip_cfg, train_cfg = dataclasses_from(cell)
    digest = config_hash({"data": data_fingerprint, "model": asdict(model_cfg), "loss": asdict(loss_cfg),
                          "clip": asdict(clip_cfg), "train": asdict(train_cfg)})
    out_dir = Path(to_absolute_path(cfg.ablate.train_dir)) / f"{preset}-seed{seed}-{digest}"
    spec = RunSpec(model_cfg, loss_cfg, clip_cfg, train_cfg, preset, Path(to_absolute_path(cfg.data.root)), out_dir,
                   OmegaConf.to_container(cell, resolve=True))
    return spec, digest


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    ablate = cfg.ablate
    presets = list(ablate.presets or ABLATION_ORDER)
    if ablate.baseline not in presets:
        raise ValueError(f"ablate.baseline {ablate.baseline!r} is not among ablate.presets {presets}")
    uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    data_fingerprint = fingerprint(Path(to_absolute_path(cfg.data.root)) / "annotations")
    cells = {(p, cfg.seed + k): build(cfg, p, cfg.seed + k, data_fingerprint) for p in presets for k in range(ablate.seeds)}
    hashes = {cell: digest for cell, (_, digest) in cells.items()}
    done = cell_results(finished_runs(ablate.experiment, uri), hashes)
    todo = [cell for cell in cells if cell not in set(zip(done["preset"], done["seed"], strict=True))]
    print(f"ablation grid: {len(cells)} runs, {len(cells) - len(todo)} already finished in MLflow, {len(todo)} to run")
    for preset, seed in todo:
        spec, digest = cells[preset, seed]
        resumed = interrupted(spec)  # a cell a crash stopped mid-way continues, in its own MLflow run
        with MLflowTracker(ablate.experiment, uri, f"{preset}-seed{seed}", run_id=resumed.get("mlflow_run_id")) as tracker:
            tracker.log_missing_epochs(resumed["progress"]["history"] if resumed else [])
            train_run(spec, tracker, ablation="true", seed=str(seed), config_hash=digest)
    results = cell_results(finished_runs(ablate.experiment, uri), hashes)
    summary = summarize(results, ablate.baseline, presets, ablate.confidence)
    out = Path(to_absolute_path(ablate.out_dir))
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "ablation.csv", index=False)
    table = markdown(summary, ablate.baseline, ablate.confidence)
    (out / "ablation.md").write_text(table + "\n")
    print(table)
    print(f"written: {out / 'ablation.csv'}, {out / 'ablation.md'}; runs: mlflow ui --backend-store-uri {uri} (experiment {ablate.experiment!r})")


if __name__ == "__main__":
    main()
