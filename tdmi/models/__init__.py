"""TDMI model: backbones, Temporal Difference Encoder, RDM, MI estimators, deformable head."""

from tdmi.models.backbone import LoadReport, build_backbone, load_pretrained
from tdmi.models.tdmi import TDMI, ModelConfig, build_model, load_single_frame

__all__ = [
    "TDMI",
    "LoadReport",
    "ModelConfig",
    "build_backbone",
    "build_model",
    "load_pretrained",
    "load_single_frame",
]
