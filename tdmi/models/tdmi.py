"""TDMI = shared backbone + Temporal Difference Encoder + RDM + fusion + deformable pose head.

    clip (B, T, 3, H, W) -> backbone on all B*T frames in one call -> per-stage features
      -> TDE over consecutive differences -> raw motion M -> RDM -> useful U (and noisy N)
      -> fuse [key-frame feature, U] -> deformable head -> heatmaps (B, J, H/4, W/4)

Choices the paper leaves open (all ModelConfig fields):
- Fusion: concatenate the key frame's final feature with the useful motion (M itself without
  RDM) and mix with a 3x3 conv-BN-ReLU; the simplest fusion that lets the head weigh both.
- Head (`head_dilations`): DCPose-style parallel modulated deformable convs, one per dilation
  (3, 6, 9, 12, 15 as in DCPose), offsets and masks predicted from the fused feature, summed,
  then a 1x1 conv to heatmaps. The last conv starts at std 0.001 as in HRNet's final layer.
- Baseline (tde_stages = 0): only the key frame goes through the backbone, and the same fusion
  conv and head run on its feature, so ablation rows differ only in their temporal parts.
- `motion_channels` / `head_channels` default to the backbone's final width.

torch.compile works with fullgraph=True (tests: the aot_eager backend on forward and backward;
inductor, marked slow, compiles the tiny model in ~40 s on two CPU cores and matches eager).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tdmi.models.backbone import LoadReport, build_backbone, load_pretrained
from tdmi.models.deform import DeformConv2d
from tdmi.models.rdm import RepresentationDisentanglement
from tdmi.models.tde import TemporalDifferenceEncoder, conv_bn_relu

log = logging.getLogger(__name__)


@dataclass
class ModelConfig:
    backbone: str = "tiny"  # tiny | hrnet_w18 | hrnet_w32 | hrnet_w48
    num_joints: int = 17
    num_frames: int = 5  # key frame at index num_frames // 2
    tde_stages: int = 3  # S; 0 = single-frame baseline (no TDE, no RDM)
    tde_source: str = "backbone_stages"  # or "final"
    use_rdm: bool = True
    rdm_mode: str = "branch"  # or "gate"
    motion_channels: int | None = None
    head_channels: int | None = None
    head_dilations: tuple[int, ...] = (3, 6, 9, 12, 15)
    deform_backend: str = "auto"  # auto | torch | torchvision
    tiny_width: int = 32
    tiny_blocks: int = 1
    pretrained: str | None = None  # local HRNet checkpoint for the backbone


class PoseHead(nn.Module):
    """Parallel dilated deformable convs on the fused feature -> joint heatmaps."""

    def __init__(self, channels: int, num_joints: int, dilations: Sequence[int], backend: str):
        super().__init__()
        self.branches = nn.ModuleList(
            DeformConv2d(channels, channels, dilation=d, backend=backend) for d in dilations
        )
        self.act = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.final = nn.Conv2d(channels, num_joints, 1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.final(self.act(sum(branch(x) for branch in self.branches)))


class TDMI(nn.Module):
    """The whole model; parts a preset switches off are not built (`tde`, `rdm` are None)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.tde_stages < 0 or (cfg.use_rdm and cfg.tde_stages == 0):
            raise ValueError("tde_stages must be >= 0, and RDM needs at least one TDE stage")
        self.cfg = cfg
        self.backbone = build_backbone(cfg.backbone, cfg.tiny_width, cfg.tiny_blocks)
        self.load_report: LoadReport | None = None
        if cfg.pretrained:
            self.load_report = load_pretrained(self.backbone, cfg.pretrained)
        key_ch = self.key_channels = self.backbone.stage_channels[-1]
        self.motion_channels = cfg.motion_channels or key_ch
        self.tde = self.rdm = None
        if cfg.tde_stages:
            self.tde = TemporalDifferenceEncoder(
                self.backbone.stage_channels,
                cfg.num_frames,
                cfg.tde_stages,
                self.motion_channels,
                cfg.tde_source,
            )
        if cfg.use_rdm:
            self.rdm = RepresentationDisentanglement(self.motion_channels, cfg.rdm_mode)
        head_ch = cfg.head_channels or key_ch
        self.fuse = conv_bn_relu(
            key_ch + (self.motion_channels if self.tde is not None else 0), head_ch
        )
        self.head = PoseHead(head_ch, cfg.num_joints, cfg.head_dilations, cfg.deform_backend)

    def forward(self, clip: Tensor) -> dict[str, Tensor]:
        """clip (B, T, 3, H, W) -> {"heatmaps", "key_feature"[, "motion"[, "useful", "noisy"]]}."""
        b, t = clip.shape[:2]
        if t != self.cfg.num_frames:
            raise ValueError(f"model built for {self.cfg.num_frames} frames, got {t}")
        frames = clip if self.tde is not None else clip[:, t // 2 : t // 2 + 1]
        feats = [f.unflatten(0, (b, -1)) for f in self.backbone(frames.flatten(0, 1))]
        key = feats[-1][:, frames.shape[1] // 2]
        out = {"key_feature": key}
        parts = [key]
        if self.tde is not None:
            out["motion"] = self.tde(feats)
            if self.rdm is not None:
                out["useful"], out["noisy"] = self.rdm(out["motion"])
            parts.append(out.get("useful", out["motion"]))
        out["heatmaps"] = self.head(self.fuse(torch.cat(parts, dim=1)))
        return out


def build_model(cfg: ModelConfig) -> TDMI:
    """Build TDMI from a plain config (no Hydra here); loads `cfg.pretrained` into the backbone."""
    model = TDMI(cfg)
    log.info("TDMI %s: %.2fM parameters", cfg, sum(p.numel() for p in model.parameters()) / 1e6)
    return model
