"""DVC stage `evaluate`: a checkpoint -> predictions on the val split -> PoseTrack mAP and COCO OKS.

    python experiments/evaluate.py [ckpt=PATH] [data=posetrack18 data.root=...]
                                   [boxes=detections detections=FILE] [train.flip_test=true]
                                   [train.clip.det_score_threshold=0.5]

The model and its clip settings come from the checkpoint (tdmi/run.py stores their configs), so a
checkpoint is evaluated as it was trained whatever `model=` says; the data, the boxes, the flip
test, the detection score threshold and the device come from the config. Writes
`metrics_dir`/eval.json (mAP in the paper's columns Head ... Ankle, Mean, COCO OKS AP/AR, and the
checkpoint's path relative to `paths.root`), `plots_dir`/per_joint_ap.csv (joint,ap: a bar chart
for `dvc plots`) and the predictions in `eval_dir`/predictions, one PoseTrack result file per
video: poseval's input, which `python -m tdmi.eval.posetrack --gt ... --pred ...` scores the same.
Returns the mAP.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.engine.evaluation import EvaluationSpec, evaluate_checkpoint


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> float:
    spec = EvaluationSpec.from_dict(OmegaConf.to_container(cfg, resolve=True), cfg.paths.root)
    return evaluate_checkpoint(spec)["mAP"]


if __name__ == "__main__":
    main()
