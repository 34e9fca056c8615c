"""TDMI = shared backbone + temporal module (TDE + RDM) + feature aggregation + pose head.

    clip (B, T, 3, H, W) -> backbone on all B*T frames in one call -> 4 per-stage features
      -> temporal module (registry "tde": multi-stage TDE -> motion M -> RDM -> M_u, M_n)
      -> aggregation: F_final = F_t + Z([F_a, M_u])   (Z's last layer starts at zero)
      -> pose head -> heatmaps (B, J, H/4, W/4)

The parts and their sources are documented in backbone.py, tde.py, rdm.py, temporal.py,
aggregation.py (FIG/CODE/NOTES as in ../shared/docs/TDMI_MODEL.md). Choices made here:
- The single-frame network is `backbone` + `head`: the head (DCPose-style parallel modulated
  deformable convs at dilations `head_dilations`, summed, BN-ReLU, a 1x1 conv to heatmaps,
  whose last conv starts at std 0.001 as HRNet's final layer) reads the key feature directly.
  `temporal="none"` with `appearance="key"` is exactly that network (preset "single_frame");
  every other preset adds parts around it, so a single-frame checkpoint loads into any preset.
- Zero start (aggregation.py): before its first step a TDMI model predicts exactly what its
  single-frame network predicts.
- `temporal_input="key_only"` (the "static" control): the temporal parts read the key frame's
  features repeated T times instead of the clip, same parameters and FLOPs per temporal part,
  no temporal information; it tells a gain from time apart from a gain from capacity.
- T = 3 (FIG's window) or 5 (CODE's): `num_frames`, with the clip offsets to match.

The two-phase recipe (another module wires it into runs): `load_single_frame(model, path)` loads
a single-frame checkpoint's backbone.* and head.* tensors into any TDMI model and returns a
`LoadReport` (loaded / missing / unexpected); `model.freeze_single_frame(head=True)` sets
requires_grad False on the backbone (and head) and keeps their BatchNorms (and any dropout) in
eval mode through every later `model.train()`.

torch.compile works with fullgraph=True (tests: the aot_eager backend on forward and backward).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

import tdmi.models.temporal  # noqa: F401  (registers the built-in temporal modules)
from tdmi.models.aggregation import FeatureAggregation
from tdmi.models.backbone import (
    LoadReport,
    build_backbone,
    load_matching,
    load_pretrained,
    read_state_dict,
)
from tdmi.models.deform import DeformConv2d
from tdmi.models.registry import TEMPORAL, lookup

log = logging.getLogger(__name__)
TEMPORAL_INPUTS = ("clip", "key_only")
SINGLE_FRAME_PARTS = ("backbone", "head")


@dataclass
class ModelConfig:
    backbone: str = "tiny"  # a registered backbone: tiny | hrnet_w18 | hrnet_w32 | hrnet_w48
    num_joints: int = 17
    num_frames: int = 5  # key frame at index num_frames // 2
    temporal: str = "tde"  # a registered temporal module, or "none" (no temporal branch)
    tde_stages: int = 3  # S, 1..4 ("tde" only)
    tde_blocks: tuple[int, ...] = (3, 3, 3, 2)  # residual blocks per backbone stage ("tde")
    use_rdm: bool = True  # "tde": RDM gates -> useful and noisy motion
    rdm_hidden: int = 128
    offset_groups: int | None = None  # TDE's deformable groups; None = channels / 4
    temporal_args: dict[str, Any] = field(default_factory=dict)  # kwargs of any other module
    temporal_input: str = "clip"  # clip | key_only (the static control)
    appearance: str = "key"  # key | aligned (FAMI-Pose's appearance branch)
    agg_blocks: int = 3
    head_dilations: tuple[int, ...] = (3, 6, 9, 12, 15)
    deform_backend: str = "auto"  # auto | torch | torchvision
    tiny_width: int = 32
    tiny_blocks: int = 1
    pretrained: str | None = None  # local HRNet checkpoint for the backbone

    def __post_init__(self) -> None:
        self.tde_blocks = tuple(int(v) for v in self.tde_blocks)
        self.head_dilations = tuple(int(v) for v in self.head_dilations)
        self.temporal_args = dict(self.temporal_args)
        if self.temporal_input not in TEMPORAL_INPUTS:
            raise ValueError(f"model.temporal_input must be one of {TEMPORAL_INPUTS}, got {self.temporal_input!r}")


class PoseHead(nn.Module):
    """Parallel dilated deformable convs on the fused feature -> joint heatmaps."""

    def __init__(self, channels: int, num_joints: int, dilations: Sequence[int], backend: str):
        super().__init__()
        self.branches = nn.ModuleList(DeformConv2d(channels, channels, dilation=d, backend=backend) for d in dilations)
        self.act = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.final = nn.Conv2d(channels, num_joints, 1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.final(self.act(sum(branch(x) for branch in self.branches)))


def build_temporal(cfg: ModelConfig, stage_channels: list[int]) -> nn.Module | None:
    """The registered temporal module `cfg.temporal` (None for "none")."""
    if cfg.temporal == "none":
        return None
    builder = lookup(TEMPORAL, cfg.temporal, "model.temporal")
    args = dict(cfg.temporal_args)
    if cfg.temporal == "tde":
        args = {
            "stages": cfg.tde_stages,
            "blocks": cfg.tde_blocks,
            "rdm": cfg.use_rdm,
            "rdm_hidden": cfg.rdm_hidden,
            "offset_groups": cfg.offset_groups,
            "backend": cfg.deform_backend,
            **args,
        }
    return builder(list(stage_channels), cfg.num_frames, **args)


class TDMI(nn.Module):
    """The whole model; parts a preset switches off are not built (`temporal`, `aggregate`)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = build_backbone(cfg.backbone, cfg.tiny_width, cfg.tiny_blocks)
        self.load_report: LoadReport | None = None
        if cfg.pretrained:
            self.load_report = load_pretrained(self.backbone, cfg.pretrained)
        c = self.key_channels = self.backbone.stage_channels[-1]
        self.temporal = build_temporal(cfg, self.backbone.stage_channels)
        self.motion_channels = self.temporal.out_channels if self.temporal is not None else 0
        self.aggregate = None
        if self.temporal is not None or cfg.appearance != "key":
            self.aggregate = FeatureAggregation(
                c,
                self.motion_channels,
                cfg.num_frames,
                cfg.appearance,
                cfg.agg_blocks,
                cfg.deform_backend,
            )
        self.head = PoseHead(c, cfg.num_joints, cfg.head_dilations, cfg.deform_backend)
        self.frozen: tuple[str, ...] = ()

    def forward(self, clip: Tensor) -> dict[str, Tensor]:
        """clip (B, T, 3, H, W) -> {"heatmaps", "key_feature", "appearance", "fused"} plus the
        temporal module's outputs ("motion"[, "useful", "noisy"])."""
        b, t = clip.shape[:2]
        if t != self.cfg.num_frames:
            raise ValueError(f"model built for model.num_frames={self.cfg.num_frames}, got {t}")
        k = t // 2
        whole = self.aggregate is not None and self.cfg.temporal_input == "clip"
        frames = clip if whole else clip[:, k : k + 1]
        feats = [f.unflatten(0, (b, -1)) for f in self.backbone(frames.flatten(0, 1))]
        if self.aggregate is not None and not whole:  # key_only: the key frame, T times
            feats = [f.expand(-1, t, -1, -1, -1) for f in feats]
        key = feats[-1][:, feats[-1].shape[1] // 2]
        out = {"key_feature": key}
        if self.temporal is not None:
            out.update(self.temporal(feats))
        if self.aggregate is not None:
            motion = out.get("useful", out.get("motion"))
            out["appearance"], out["fused"] = self.aggregate(key, feats[-1], motion)
        else:
            out["appearance"] = out["fused"] = key
        out["heatmaps"] = self.head(out["fused"])
        return out

    def freeze_single_frame(self, head: bool = True) -> None:
        """Backbone (and head) stop learning: no gradients, BatchNorm statistics kept fixed."""
        self.frozen = SINGLE_FRAME_PARTS if head else ("backbone",)
        for name in self.frozen:
            getattr(self, name).requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> TDMI:
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self


def load_single_frame(model: TDMI, source: str | dict[str, Tensor]) -> LoadReport:
    """Load a single-frame checkpoint's (path or state dict) backbone.* and head.* into `model`.

    The report lists what was loaded, which single-frame tensors the source lacked (missing) and
    what it held that was not loaded (unexpected: other parts, or shapes that differ).
    """
    state = read_state_dict(source) if isinstance(source, str) else dict(source)
    keys = {k for k in model.state_dict() if k.split(".", 1)[0] in SINGLE_FRAME_PARTS}
    report = load_matching(model, state, keys)
    log.info(
        "single-frame weights: %d tensors loaded, %d missing (first: %s), %d unexpected",
        len(report.loaded),
        len(report.missing),
        report.missing[:3],
        len(report.unexpected),
    )
    return report


def build_model(cfg: ModelConfig) -> TDMI:
    """Build TDMI from a plain config (no Hydra here); loads `cfg.pretrained` into the backbone."""
    model = TDMI(cfg)
    log.info("TDMI %s: %.2fM parameters", cfg, sum(p.numel() for p in model.parameters()) / 1e6)
    return model
