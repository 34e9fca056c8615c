"""The registered temporal modules (tdmi/models/registry.py, `TEMPORAL`).

Contract: `Temporal(stage_channels, num_frames, **cfg)` with `out_channels`; `forward(feats)`
takes the backbone's per-stage features, each (B, T, C, h, w), and returns {"motion": M} plus,
when it disentangles, {"useful": M_u, "noisy": M_n}, all (B, out_channels, h, w). A module that
disentangles may also offer `disentangle(motion) -> (useful, noisy)`, which the MI objective
uses with `mi_grad_to="rdm"` (MI gradients stop at the RDM). The model aggregates "useful" (or
"motion" when there is none) with the appearance feature; the loss terms ask for the outputs
they need by name.

"tde": TDMI's temporal branch, the multi-stage TDE (tde.py) and optionally the RDM (rdm.py).
"""

from __future__ import annotations

from torch import Tensor, nn

from tdmi.models.rdm import RepresentationDisentanglement
from tdmi.models.registry import TEMPORAL, register
from tdmi.models.tde import STAGE_BLOCKS, TemporalDifferenceEncoder


@register(TEMPORAL, "tde")
class TDEMotion(nn.Module):
    """TDE -> motion; with `rdm`, RDM -> useful and noisy motion."""

    def __init__(
        self,
        stage_channels: list[int],
        num_frames: int,
        stages: int = 3,
        blocks: tuple[int, ...] = STAGE_BLOCKS,
        rdm: bool = True,
        rdm_hidden: int = 128,
        offset_groups: int | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.tde = TemporalDifferenceEncoder(stage_channels, num_frames, stages, tuple(blocks), offset_groups, backend)
        self.out_channels = self.tde.out_channels
        self.rdm = RepresentationDisentanglement(self.out_channels, rdm_hidden) if rdm else None

    def disentangle(self, motion: Tensor) -> tuple[Tensor, Tensor]:
        if self.rdm is None:
            raise ValueError("this temporal module has no RDM (model.use_rdm=false)")
        return self.rdm(motion)

    def forward(self, feats: list[Tensor]) -> dict[str, Tensor]:
        out = {"motion": self.tde(feats)}
        if self.rdm is not None:
            out["useful"], out["noisy"] = self.rdm(out["motion"])
        return out
