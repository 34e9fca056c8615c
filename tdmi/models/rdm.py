"""Representation Disentanglement Module (RDM): motion M -> useful part M_u and noisy part M_n.

FIG and CODE (JM-Pose `use_motion_structure` / `noisy_motion_structure`) agree: global average
pooling of M, then two *independent* channel gates, each an MLP C -> hidden (128) -> C with ReLU
and a sigmoid: M_u = g_u(M) * M, M_n = g_n(M) * M. The gates are not complementary (g_n is not
1 - g_u); only the MI objective (tdmi/losses.py) tells the two parts apart.

The earlier variants of this module (two conv branches; one gate and its complement) are gone:
neither is in FIG or CODE, and the conv-branch split needed an extra reconstruction term to stop
the noisy branch from collapsing; no measurement argued for keeping either as an option.
"""

from __future__ import annotations

from torch import Tensor, nn


def channel_gate(channels: int, hidden: int) -> nn.Sequential:
    """GAP -> Linear(C, hidden) -> ReLU -> Linear(hidden, C) -> sigmoid, shaped (B, C, 1, 1)."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, channels),
        nn.Sigmoid(),
        nn.Unflatten(1, (channels, 1, 1)),
    )


class RepresentationDisentanglement(nn.Module):
    def __init__(self, channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.useful, self.noisy = channel_gate(channels, hidden), channel_gate(channels, hidden)

    def forward(self, motion: Tensor) -> tuple[Tensor, Tensor]:
        """(useful, noisy), each shaped like `motion`."""
        return self.useful(motion) * motion, self.noisy(motion) * motion
