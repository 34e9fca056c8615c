"""Inference: a checkpoint over frames and person boxes -> PoseTrack-format predictions + overlays.

    python experiments/predict.py ckpt=checkpoints/synth-tdmi_scaled/best.pt frames=DIR detections=FILE
    python experiments/predict.py ckpt=... annotations=data/synth/annotations/val

The composed config (experiments/conf/predict.yaml) -> tdmi.inference.PredictSpec ->
tdmi.inference.predict_frames, which writes predictions/, overlays/ and manifest.json to ``out``
(default outputs/predict/<name>, read by the dashboard's Qualitative page).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from tdmi.cli import entry_point
from tdmi.inference import PredictSpec, predict_frames


@hydra.main(config_path="conf", config_name="predict", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    spec = PredictSpec.from_dict(OmegaConf.to_container(cfg, resolve=True), cfg.paths.root)
    manifest = predict_frames(spec)
    print(f"{manifest['people']} people on {manifest['videos']} video(s) -> {spec.out_dir}")


if __name__ == "__main__":
    main()
