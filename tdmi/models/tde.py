"""Multi-stage Temporal Difference Encoder (TDE), as the paper's Figure 2 draws it.

Sources (../shared/docs/TDMI_MODEL.md): FIG = the paper's Figure 2, CODE = JM-Pose's
`DTDMNRV15_10` (the first author's group's code that carries TDMI's core). Per backbone stage j:

    F^j_1..T (B, T, C, h, w) -> [F^j_2 - F^j_1, ..., F^j_T - F^j_{T-1}] concatenated on channels
      -> N_j residual blocks ((T-1) C -> C)                                  = D^j
      -> modulated deformable conv (DCNv2) on D^j, offsets and masks predicted from
         [key frame's final feature, D^j] (one residual block, then a dilation-3 conv)  = D'^j
    cascade: M^1 = Conv(D'^1);  M^j = Smooth_j(M^{j-1} + D'^j);  the last M is the motion M_t.

- `blocks`, N_j per backbone stage: (3, 3, 3, 2) from FIG (CODE uses 2 basic blocks everywhere).
- Stage 1's conv is a 3x3 conv-BN-ReLU (FIG draws a conv; CODE has none); Smooth_j is one basic
  block (CODE; FIG draws a conv).
- `offset_groups`: deformable groups; None = about C / 4 (CODE: 12 groups for 48 channels).
- `stages` S < 4 uses the *last* S backbone stages (4-S+1 .. 4): the cascade always ends on the
  final feature, the one the head reads, so S = 1 is the notes' "single-stage difference" row
  (the final feature's differences, CODE's stage 4) and each extra stage adds a shallower, finer
  difference sequence in front of it. The sources do not ablate S; the paper's table does (1-4).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tdmi.models.backbone import res_blocks
from tdmi.models.deform import DeformConv2d, default_offset_groups

STAGE_BLOCKS = (3, 3, 3, 2)


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TemporalDifferenceEncoder(nn.Module):
    """S cascaded stages over per-stage feature differences -> motion feature M (B, C, h, w)."""

    def __init__(
        self,
        stage_channels: list[int],
        num_frames: int,
        stages: int = 3,
        blocks: tuple[int, ...] = STAGE_BLOCKS,
        offset_groups: int | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        n = len(stage_channels)
        if len(set(stage_channels)) != 1:
            raise ValueError(f"TDE needs equal-width backbone stages, got {stage_channels}")
        if not 1 <= stages <= n:
            raise ValueError(f"model.tde_stages must be in 1..{n}, got {stages}")
        if len(blocks) != n:
            raise ValueError(f"model.tde_blocks needs one count per backbone stage ({n}), got {blocks}")
        if num_frames < 2:
            raise ValueError("temporal differences need model.num_frames >= 2")
        c = self.out_channels = stage_channels[-1]
        groups = offset_groups or default_offset_groups(c)
        self.used = list(range(n - stages, n))  # backbone stages read, shallow to deep
        self.encode = nn.ModuleList(res_blocks((num_frames - 1) * c, c, blocks[j]) for j in self.used)
        self.guide = nn.ModuleList(res_blocks(2 * c, c, 1) for _ in self.used)
        self.dcn = nn.ModuleList(
            DeformConv2d(c, c, 3, backend=backend, guide_channels=c, offset_groups=groups, offset_dilation=3)
            for _ in self.used
        )
        self.smooth = nn.ModuleList(conv_bn_relu(c, c) if s == 0 else res_blocks(c, c, 1) for s in range(stages))

    def forward(self, feats: list[Tensor]) -> Tensor:
        """feats: per backbone stage, (B, T, C, h, w), frames in temporal order."""
        key = feats[-1][:, feats[-1].shape[1] // 2]
        motion = None
        for j, encode, guide, dcn, smooth in zip(
            self.used, self.encode, self.guide, self.dcn, self.smooth, strict=True
        ):
            f = feats[j]
            d = encode((f[:, 1:] - f[:, :-1]).flatten(1, 2))
            d = dcn(d, guide(torch.cat((key, d), dim=1)))
            motion = smooth(d if motion is None else motion + d)
        return motion
