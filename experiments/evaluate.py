"""DVC stage `evaluate`: the trained model and the single-frame network it was built on -> predictions
on the val split -> PoseTrack mAP and COCO OKS, side by side.

    python experiments/evaluate.py [ckpt=PATH] [data=posetrack18 data.root=...]
                                   [boxes=detections detections=FILE] [train.flip_test=true]
                                   [train.clip.det_score_threshold=0.5] [pretrain.checkpoint=PATH]

The model and its clip settings come from the checkpoint (tdmi/run.py stores their configs), so a
checkpoint is evaluated as it was trained whatever `model=` says; the data, the boxes, the flip
test, the detection score threshold and the device come from the config. Writes
`metrics_dir`/eval.json (mAP in the paper's columns Head ... Ankle, Mean, COCO OKS AP/AR, and the
checkpoint's path relative to `paths.root`), `plots_dir`/per_joint_ap.csv (joint,ap: a bar chart
for `dvc plots`) and the predictions in `eval_dir`/predictions, one PoseTrack result file per
video: poseval's input, which `python -m tdmi.eval.posetrack --gt ... --pred ...` scores the same.

The single-frame network (`pretrain.checkpoint`, phase 1 of the recipe) is evaluated the same way
into `eval_dir`/single_frame; eval.json adds its numbers (`single_frame`), the gain per column
(`gain`), the AP on degraded and on clean joints of both (`subsets`, synthetic data) and the
paper's headline gain on PoseTrack2017 (`paper`, another dataset: tdmi/eval/side_by_side.py).
A given network that is no checkpoint of ours (an HRNet) is not evaluated, and eval.json says why.
Returns the trained model's mAP.
"""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.engine.checkpoint import CheckpointError
from tdmi.engine.evaluation import EvaluationSpec, evaluate_checkpoint
from tdmi.eval.results import write_metrics_json
from tdmi.eval.side_by_side import gain, paper_headline, subset_columns


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> float:
    config = OmegaConf.to_container(cfg, resolve=True)
    spec = EvaluationSpec.from_dict(config, cfg.paths.root)
    metrics = evaluate_checkpoint(spec)
    report = {
        **_read(spec),
        "subsets": {"ours": subset_columns(spec.data_root, spec.dataset, spec.eval_dir / "predictions")},
    }
    checkpoint = (config.get("pretrain") or {}).get("checkpoint")
    if checkpoint:
        sub = f"{config['eval_dir']}/single_frame"
        base = EvaluationSpec.from_dict(
            {**config, "ckpt": checkpoint, "eval_dir": sub, "metrics_dir": sub, "plots_dir": sub}, cfg.paths.root
        )
        try:
            evaluate_checkpoint(base)
            single = _read(base)
            report["single_frame"] = single
            report["gain"] = gain(report["AP"], single["AP"])
            report["subsets"]["single_frame"] = subset_columns(
                base.data_root, base.dataset, base.eval_dir / "predictions"
            )
        except CheckpointError as err:
            report["single_frame"] = {"skipped": f"{checkpoint}: {err}"}
            print(f"single-frame network not evaluated: {err}")
    report["paper"] = paper_headline()
    write_metrics_json(report, spec.metrics_file)
    return metrics["mAP"]


def _read(spec: EvaluationSpec) -> dict:
    """What evaluate_checkpoint wrote for ``spec``."""
    return json.loads(spec.metrics_file.read_text())


if __name__ == "__main__":
    main()
