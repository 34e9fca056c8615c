"""Deformable convolution (Dai et al. 2017; modulated variant, Zhu et al. 2019 "DCNv2").

The pose head of this family of models (DCPose, FAMI-Pose, TDMI) samples its input at learned
offsets. `deform_conv2d` uses `torchvision.ops.deform_conv2d` when torchvision imports (compiled
kernel, CPU and CUDA) and otherwise a pure-PyTorch implementation: every kernel tap is a bilinear
`grid_sample` at (regular grid + offset), and the weighted sum over taps is one matmul. The pure
path is differentiable with respect to input, offset, mask and weight through autograd, runs under
autocast and `torch.compile`, and needs no build step, which is why the CPU default does not depend
on torchvision (there is no torchvision CPU wheel for this torch).

Offset layout (torchvision's, so both paths agree): `offset` is (B, 2 * G * kh * kw, Ho, Wo) with
(dy, dx) pairs ordered by offset group g, then kernel tap k = i * kw + j; `mask` is
(B, G * kh * kw, Ho, Wo). Samples outside the image read zero, bilinearly blended at the border.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Pair = int | tuple[int, int]


def _pair(v: Pair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


@functools.cache
def _torchvision_op():
    """torchvision's compiled op, or None; imported lazily so the library never requires it."""
    try:
        return importlib.import_module("torchvision.ops").deform_conv2d
    except Exception:  # ImportError, or a torchvision built for another torch
        return None


def deform_conv2d_torch(
    x: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
    mask: Tensor | None = None,
) -> Tensor:
    """Pure-PyTorch deformable convolution with torchvision's semantics (see module docstring)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    b, c, h, w = x.shape
    out_ch, c_per_group, kh, kw = weight.shape
    groups, taps = c // c_per_group, kh * kw
    ho, wo = offset.shape[-2:]
    off_groups = offset.shape[1] // (2 * taps)

    # Sampling positions in input pixels: regular grid + learned offset, (B, G, K, Ho, Wo).
    ky, kx = torch.meshgrid(
        torch.arange(kh, device=x.device) * dh,
        torch.arange(kw, device=x.device) * dw,
        indexing="ij",
    )
    oy = torch.arange(ho, device=x.device) * sh - ph
    ox = torch.arange(wo, device=x.device) * sw - pw
    base_y = ky.reshape(taps, 1, 1) + oy.view(1, ho, 1)
    base_x = kx.reshape(taps, 1, 1) + ox.view(1, 1, wo)
    offset = offset.reshape(b, off_groups, taps, 2, ho, wo)
    py = base_y.to(offset.dtype) + offset[:, :, :, 0]
    px = base_x.to(offset.dtype) + offset[:, :, :, 1]
    # grid_sample with align_corners=False puts pixel i at (2i + 1) / size - 1; zeros padding
    # blends out-of-image corners as zero, exactly like torchvision's bilinear kernel.
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)
    grid = grid.reshape(b * off_groups, taps * ho, wo, 2)
    cols = F.grid_sample(
        x.reshape(b * off_groups, c // off_groups, h, w),
        grid.to(x.dtype),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    ).reshape(b, off_groups, c // off_groups, taps, ho * wo)
    if mask is not None:
        cols = cols * mask.reshape(b, off_groups, 1, taps, ho * wo).to(cols.dtype)

    # One matmul per conv group: (O/g, C/g * K) @ (C/g * K, Ho * Wo).
    cols = cols.reshape(b, groups, c_per_group * taps, ho * wo)
    out = weight.reshape(groups, out_ch // groups, c_per_group * taps).to(cols.dtype) @ cols
    out = out.reshape(b, out_ch, ho, wo)
    return out if bias is None else out + bias.view(1, -1, 1, 1).to(out.dtype)


def resolve_backend(backend: str) -> Callable[..., Tensor]:
    """The op for "auto" (torchvision if importable), "torchvision" or "torch"."""
    if backend not in ("auto", "torchvision", "torch"):
        raise ValueError(f"deform backend must be auto, torchvision or torch, got {backend!r}")
    op = _torchvision_op() if backend != "torch" else None
    if backend == "torchvision" and op is None:
        raise RuntimeError("backend='torchvision' requested but torchvision does not import")
    return op or deform_conv2d_torch


def deform_conv2d(
    x: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
    mask: Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    """Deformable conv through `resolve_backend(backend)`; torchvision's argument order."""
    op = resolve_backend(backend)
    return op(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)


def default_offset_groups(channels: int) -> int:
    """About 4 channels per deformable group (CODE: 12 groups for 48 channels), dividing C."""
    return math.gcd(channels, max(channels // 4, 1))


class DeformConv2d(nn.Module):
    """Modulated deformable conv (DCNv2) whose offsets and masks are predicted by a conv.

    By default the predictor reads the conv's own input, as DCPose/FAMI-Pose's head does. With
    `guide_channels` it reads a separate guide tensor instead (`forward(x, guide)`): TDMI's TDE
    predicts the offsets for the difference feature D^j from [key-frame feature, D^j] (CODE,
    JM-Pose `m_a_dcn_offset_s*`). `offset_groups` deformable groups share one offset field each
    (CODE: 12 groups for 48 channels); `offset_dilation` is the predictor's dilation (CODE: 3).
    The predictor starts at zero, as in DCNv2: zero offsets and mask 0.5 (sigmoid), a plain
    dilated convolution at half gain, so training starts from a well-behaved conv and learns
    where to look. (CODE feeds its mask conv's raw output to torchvision without the sigmoid;
    we keep DCNv2's sigmoid so the mask stays a modulation in [0, 1].)
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        dilation: int = 1,
        backend: str = "auto",
        guide_channels: int | None = None,
        offset_groups: int = 1,
        offset_dilation: int | None = None,
    ) -> None:
        super().__init__()
        if in_ch % offset_groups:
            raise ValueError(f"offset_groups {offset_groups} must divide the {in_ch} input channels")
        self.dilation, self.padding = dilation, dilation * (kernel_size // 2)
        self.op = resolve_backend(backend)  # once, so compiled graphs see a plain function
        taps = offset_groups * kernel_size * kernel_size
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        od = offset_dilation or dilation
        self.offset_mask = nn.Conv2d(
            guide_channels or in_ch, 3 * taps, kernel_size, padding=od * (kernel_size // 2), dilation=od
        )
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)

    def forward(self, x: Tensor, guide: Tensor | None = None) -> Tensor:
        om = self.offset_mask(x if guide is None else guide)
        taps = om.shape[1] // 3
        offset, mask = om[:, : 2 * taps], torch.sigmoid(om[:, 2 * taps :])
        return self.op(
            x,
            offset,
            self.weight,
            self.bias,
            padding=self.padding,
            dilation=self.dilation,
            mask=mask,
        )
