"""Representation Disentanglement Module (RDM): raw motion M -> useful part U and noisy part N.

Paper: RDM "explicitly defines useful and noisy constituents of the raw motion features" and
minimises their mutual information; only the useful part goes on to the pose head. The paper's
exact split is not in our spec, so two are offered (`mode`):

- "branch" (default): two independent conv branches, U = f_u(M), N = f_n(M). Nothing forces U and
  N to cover M, which is what the "mi_recon" term (losses.py) is for: without it, minimising
  I(U; N) is trivially won by a constant N.
- "gate": squeeze-and-excitation channel gate g = sigmoid(MLP(avgpool(M))), U = g * M and
  N = (1 - g) * M. U + N = M holds by construction (so "mi_recon" is redundant there) and the
  split is per channel only, a stronger prior with fewer parameters.
"""

from __future__ import annotations

from torch import Tensor, nn

from tdmi.models.tde import conv_bn_relu


class RepresentationDisentanglement(nn.Module):
    MODES = ("branch", "gate")

    def __init__(self, channels: int, mode: str = "branch") -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"rdm_mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        if mode == "branch":
            self.useful, self.noisy = (
                conv_bn_relu(channels, channels),
                conv_bn_relu(channels, channels),
            )
        else:
            hidden = max(channels // 4, 4)
            self.gate = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Conv2d(channels, hidden, 1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, channels, 1),
                nn.Sigmoid(),
            )

    def forward(self, motion: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (useful, noisy), each shaped like `motion`."""
        if self.mode == "branch":
            return self.useful(motion), self.noisy(motion)
        g = self.gate(motion)
        return g * motion, (1 - g) * motion
