"""Deformable conv: zero offsets equal a plain conv; the pure-PyTorch op equals a direct loop."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from tdmi.models.deform import DeformConv2d, _torchvision_op, deform_conv2d, deform_conv2d_torch


def _bilinear(img: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """torchvision's bilinear read of img (C, H, W) at one point; zero outside the image."""
    h, w = img.shape[-2:]
    yf, xf = float(y.detach()), float(x.detach())
    if yf <= -1 or yf >= h or xf <= -1 or xf >= w:
        return img.new_zeros(img.shape[0])
    y0, x0 = math.floor(yf), math.floor(xf)
    out = img.new_zeros(img.shape[0])
    for yy, xx in itertools.product((y0, y0 + 1), (x0, x0 + 1)):
        if 0 <= yy < h and 0 <= xx < w:
            out = out + img[:, yy, xx] * (1 - (y - yy).abs()) * (1 - (x - xx).abs())
    return out


def _loop_deform(x, offset, weight, bias, stride, padding, dilation, mask):
    """The definition, one output pixel and one tap at a time (groups = offset groups = 1)."""
    b, _, _, _ = x.shape
    o, _, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    rows = []
    for n, i, j in itertools.product(range(b), range(ho), range(wo)):
        acc = bias.clone()
        for ki, kj in itertools.product(range(kh), range(kw)):
            k = ki * kw + kj
            y = i * stride - padding + ki * dilation + offset[n, 2 * k, i, j]
            xx = j * stride - padding + kj * dilation + offset[n, 2 * k + 1, i, j]
            v = _bilinear(x[n], y, xx) * mask[n, k, i, j]
            acc = acc + weight[:, :, ki, kj] @ v
        rows.append(acc)
    return torch.stack(rows).view(b, ho, wo, o).permute(0, 3, 1, 2)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 2, 2)])
def test_zero_offset_equals_conv(stride, padding, dilation):
    torch.manual_seed(0)
    x, w, bias = torch.randn(2, 4, 9, 7), torch.randn(6, 2, 3, 3), torch.randn(6)
    ref = F.conv2d(x, w, bias, stride, padding, dilation, groups=2)
    off = torch.zeros(2, 18, *ref.shape[-2:])
    out = deform_conv2d_torch(x, off, w, bias, stride, padding, dilation)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_matches_loop_values_and_gradients():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    # Offsets up to +-2.5 px: samples cross pixel borders and the image edge.
    off = (torch.rand(2, 18, 3, 2, dtype=torch.float64) * 5 - 2.5).requires_grad_()
    mask = torch.rand(2, 9, 3, 2, dtype=torch.float64, requires_grad=True)
    args = (x, off, w, bias, 2, 1, 1, mask)
    out, ref = deform_conv2d_torch(*args), _loop_deform(*args)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, off, w, bias, mask), g)
    refs = torch.autograd.grad(ref, (x, off, w, bias, mask), g)
    for a, r in zip(grads, refs, strict=True):
        torch.testing.assert_close(a, r)


@pytest.mark.skipif(_torchvision_op() is None, reason="torchvision not installed")
def test_torchvision_agrees():
    torch.manual_seed(0)
    x, w = torch.randn(1, 4, 8, 6), torch.randn(4, 4, 3, 3)
    off, mask = torch.randn(1, 18, 8, 6), torch.rand(1, 9, 8, 6)
    args = (x, off, w, None, 1, 1, 1, mask)
    torch.testing.assert_close(
        deform_conv2d(*args, backend="torchvision"),
        deform_conv2d_torch(*args),
        atol=1e-4,
        rtol=1e-4,
    )


def test_module_starts_as_half_gain_conv():
    torch.manual_seed(0)
    layer = DeformConv2d(4, 5, dilation=2, backend="torch")
    x = torch.randn(2, 4, 8, 6)
    ref = 0.5 * F.conv2d(x, layer.weight, None, padding=2, dilation=2) + layer.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x), ref, atol=1e-5, rtol=1e-5)
