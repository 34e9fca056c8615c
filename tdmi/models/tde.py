"""Multi-stage Temporal Difference Encoder (TDE).

Paper: differences of consecutive frames' features (frame t+1 minus frame t) are encoded "in
several stages by incremental cascaded learning conditioned on multi-stage feature difference
sequences". Our reading, with the choices the paper leaves open:

- Stage s reads one difference sequence D^(s) = [F^(s)_{t+1} - F^(s)_t for t = 1..T-1] and the
  previous stage's motion feature M_{s-1}:  M_s = Block_s([Proj_s(D^(s)), M_{s-1}]),
  where Proj_s is a 3x3 conv over the T-1 differences stacked on channels (it sees their order,
  i.e. which side of the key frame each comes from) and Block_s two 3x3 conv-BN-ReLU layers.
  The raw motion feature is M = M_S.
- Source of D^(s) (`source`): "backbone_stages" (default, DESIGN.md) takes the backbone's
  successive stages, deepest first: stage 1 reads the final feature, stage 2 the one before it,
  and so on, so S = 1 is the same model under both sources and each extra stage adds lower-level
  (finer, less semantic) motion cues to the cascade. "final" gives every stage the final feature's
  differences, so extra stages only add depth to the cascade.
- S = 0 is not built here: the model then has no temporal branch (single-frame baseline).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class TemporalDifferenceEncoder(nn.Module):
    """S cascaded stages over feature-difference sequences -> raw motion feature M (B, C, h, w)."""

    SOURCES = ("backbone_stages", "final")

    def __init__(
        self,
        stage_channels: list[int],
        num_frames: int,
        stages: int,
        channels: int,
        source: str = "backbone_stages",
    ) -> None:
        super().__init__()
        if source not in self.SOURCES:
            raise ValueError(f"tde_source must be one of {self.SOURCES}, got {source!r}")
        if num_frames < 2:
            raise ValueError("temporal differences need at least 2 frames")
        if source == "backbone_stages" and stages > len(stage_channels):
            raise ValueError(f"{stages} TDE stages but the backbone has {len(stage_channels)}")
        # Feature index per stage: -1 (final), -2, ... or always -1.
        self.sources = [-(s + 1) if source == "backbone_stages" else -1 for s in range(stages)]
        self.proj = nn.ModuleList(
            conv_bn_relu((num_frames - 1) * stage_channels[i], channels) for i in self.sources
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                conv_bn_relu(channels * (1 if s == 0 else 2), channels),
                conv_bn_relu(channels, channels),
            )
            for s in range(stages)
        )

    def forward(self, feats: list[Tensor]) -> Tensor:
        """feats: per backbone stage, (B, T, C_i, h, w) with frames in temporal order."""
        motion = None
        for src, proj, block in zip(self.sources, self.proj, self.blocks, strict=True):
            f = feats[src]
            diff = (f[:, 1:] - f[:, :-1]).flatten(1, 2)  # (B, (T-1) C_i, h, w)
            x = proj(diff)
            motion = block(x if motion is None else torch.cat((x, motion), dim=1))
        return motion
