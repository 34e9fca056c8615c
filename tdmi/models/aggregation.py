"""Feature aggregation: appearance feature + useful motion -> the feature the pose head reads.

FIG: M_u and the key frame's feature F_t go through "Feature Aggregation" to the head. CODE and
NOTES (../shared/docs/TDMI_MODEL.md): the appearance side is FAMI-Pose's, supporting-frame
features aligned to the key frame with a chain of deformable convs and aggregated with the key
feature; [useful motion, appearance] then go through 3 basic blocks. So (`appearance`):

- "key": F_a = F_t, the key frame's final backbone feature (FIG).
- "aligned": F_a = FAMI-Pose's appearance branch (CODE `sup_agg`, `combined_feat_layers`,
  `dcn_1..4`, `all_agg_block`): supporting features concatenated -> 2 blocks = S; [S, F_t] ->
  1 block -> two self-guided DCNs (dilation 3) = G; DCN(S, offsets from G) -> DCN = aligned;
  [F_t, aligned] -> 3 blocks = F_a.

Then F_final = F_t + Z(Blocks([F_a, M_u])), where Blocks are `blocks` basic blocks (CODE: 3)
and Z is a 1x1 conv initialised at zero. That residual form with a zero last layer is our
choice (the sources train a new head from scratch): before its first step the temporal model
feeds the head exactly F_t, so a TDMI model built on a trained single-frame network predicts
what that network predicts, and training starts where the baseline ends.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tdmi.models.backbone import res_blocks
from tdmi.models.deform import DeformConv2d, default_offset_groups

APPEARANCES = ("key", "aligned")


class AppearanceAlignment(nn.Module):
    """FAMI-Pose's alignment + aggregation of the supporting frames to the key frame."""

    def __init__(self, channels: int, num_frames: int, backend: str = "auto") -> None:
        super().__init__()
        if num_frames < 2:
            raise ValueError("model.appearance='aligned' needs model.num_frames >= 2")
        c = channels

        def dcn(guided: bool) -> DeformConv2d:
            return DeformConv2d(
                c,
                c,
                3,
                dilation=3,
                backend=backend,
                offset_groups=default_offset_groups(c),
                guide_channels=c if guided else None,
            )

        self.support = res_blocks((num_frames - 1) * c, c, 2)
        self.combine = res_blocks(2 * c, c, 1)
        self.guide = nn.ModuleList([dcn(False), dcn(False)])
        self.align, self.refine = dcn(True), dcn(False)
        self.aggregate = res_blocks(2 * c, c, 3)

    def forward(self, frames: Tensor) -> Tensor:
        """frames (B, T, C, h, w), key frame in the middle -> appearance feature (B, C, h, w)."""
        k = frames.shape[1] // 2
        key = frames[:, k]
        support = self.support(torch.cat((frames[:, :k], frames[:, k + 1 :]), dim=1).flatten(1, 2))
        guide = self.combine(torch.cat((support, key), dim=1))
        for layer in self.guide:
            guide = layer(guide)
        aligned = self.refine(self.align(support, guide))
        return self.aggregate(torch.cat((key, aligned), dim=1))


class FeatureAggregation(nn.Module):
    """(key feature, all frames' final features, motion or None) -> (F_a, F_final)."""

    def __init__(
        self,
        channels: int,
        motion_channels: int,
        num_frames: int,
        appearance: str = "key",
        blocks: int = 3,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if appearance not in APPEARANCES:
            raise ValueError(f"model.appearance must be one of {APPEARANCES}, got {appearance!r}")
        self.align = AppearanceAlignment(channels, num_frames, backend) if appearance == "aligned" else None
        self.mix = res_blocks(channels + motion_channels, channels, blocks)
        self.zero = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.zero.weight)
        nn.init.zeros_(self.zero.bias)

    def forward(self, key: Tensor, frames: Tensor, motion: Tensor | None) -> tuple[Tensor, Tensor]:
        appearance = key if self.align is None else self.align(frames)
        parts = (appearance,) if motion is None else (appearance, motion)
        return appearance, key + self.zero(self.mix(torch.cat(parts, dim=1)))
