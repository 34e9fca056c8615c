"""Per-frame backbones: HRNet-W18/W32/W48 (Sun et al., CVPR 2019) and a tiny CPU network.

HRNet follows the official `pose_hrnet.py` (leoxiaobin/deep-high-resolution-net.pytorch) module
for module, so its parameter names (conv1, bn1, conv2, bn2, layer1, transition1, stage2, ...,
stage4) match official checkpoints and `load_pretrained` can load ImageNet or COCO-pose weights.
The official `final_layer` (1x1 conv to 17 heatmaps) is not built: TDMI predicts heatmaps with
its own head from the fused feature, so a checkpoint's final_layer.* is reported as unexpected.

Contract (tdmi/models/registry.py, `BACKBONES`): every backbone returns four feature maps, one per
stage, all with the same width C and all at 1/4 input resolution, shallow to deep, widths in
`.stage_channels`. The Temporal Difference Encoder reads the differences of each stage and the
key frame's visual feature is the last entry. For HRNet these are, as in CODE
(JM-Pose `HRNetPlus.forward(multi_scale=True)`, see ../shared/docs/TDMI_MODEL.md), the
high-resolution branch after the stem transition (transition1[0] of layer1's output) and after
stage2, stage3 and stage4, W channels each.

The tiny backbone (the CPU default) keeps the same contract: a stride-4 stem plus three stages of
residual blocks at 1/4 resolution with dilations 1, 2, 4 (the dilations buy HRNet-like receptive
field without extra resolutions), so T = 5 clips at 128x96 train at tens of clips/s on two CPU
cores and the CPU default runs the same code path as the paper scale.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tdmi.models.registry import BACKBONES, lookup, register

log = logging.getLogger(__name__)
BN_MOMENTUM = 0.1


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    pad = dilation * (k // 2)
    return [
        nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
    ]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, dilation=1):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(inplanes, planes, 3, stride, dilation)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, 1, dilation)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(inplanes, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride)
        self.conv3, self.bn3 = _conv_bn(planes, planes * 4, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _make_layer(block, inplanes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(*_conv_bn(inplanes, planes * block.expansion, 1, stride))
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def res_blocks(cin: int, cout: int, n: int) -> nn.Sequential:
    """n BasicBlocks from cin to cout channels (a 1x1 projection on the first when they differ)."""
    if n < 1:
        raise ValueError(f"a chain of residual blocks needs n >= 1, got {n}")
    return _make_layer(BasicBlock, cin, cout, n)


class HighResolutionModule(nn.Module):
    """Parallel branches, then every output branch sums all branches resampled to its size."""

    def __init__(self, channels: list[int], num_blocks: int, multi_scale_output: bool = True):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(_make_layer(BasicBlock, c, c, num_blocks) for c in channels)
        self.fuse_layers = nn.ModuleList()
        for i in range(n if multi_scale_output else 1):
            row = []
            for j in range(n):
                if j > i:  # lower resolution: 1x1 conv then nearest upsampling
                    row.append(
                        nn.Sequential(
                            *_conv_bn(channels[j], channels[i], 1),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    row.append(None)
                else:  # higher resolution: i - j stride-2 3x3 convs
                    steps = [
                        nn.Sequential(*_conv_bn(channels[j], channels[j], 3, 2), nn.ReLU(True))
                        for _ in range(i - j - 1)
                    ]
                    steps.append(nn.Sequential(*_conv_bn(channels[j], channels[i], 3, 2)))
                    row.append(nn.Sequential(*steps))
            self.fuse_layers.append(nn.ModuleList(row))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[i]
            for j, layer in enumerate(row):
                if j != i:
                    y = y + layer(xs[j])
            out.append(self.relu(y))
        return out


def _transition(prev: list[int], cur: list[int]) -> nn.ModuleList:
    layers = []
    for i, c in enumerate(cur):
        if i < len(prev):
            same = c == prev[i]
            layers.append(None if same else nn.Sequential(*_conv_bn(prev[i], c), nn.ReLU(True)))
        else:  # a new, lower branch from the lowest existing one
            steps = [
                nn.Sequential(*_conv_bn(prev[-1], c if k == i - len(prev) else prev[-1], 3, 2), nn.ReLU(True))
                for k in range(i + 1 - len(prev))
            ]
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """Official pose HRNet without its final 1x1 heatmap layer (see module docstring)."""

    # (modules, branches) per stage; 4 BasicBlocks per branch as in w*_256x192_adam_lr1e-3.yaml.
    STAGES = ((1, 2), (4, 3), (3, 4))

    def __init__(self, width: int = 32):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(3, 64, 3, 2)
        self.conv2, self.bn2 = _conv_bn(64, 64, 3, 2)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_layer(Bottleneck, 64, 64, 4)
        prev = [256]
        for s, (modules, branches) in enumerate(self.STAGES, start=2):
            cur = [width * 2**b for b in range(branches)]
            setattr(self, f"transition{s - 1}", _transition(prev, cur))
            last = s == 4  # stage4 keeps only the high-resolution output, as in pose_hrnet
            setattr(
                self,
                f"stage{s}",
                nn.Sequential(
                    *(
                        HighResolutionModule(cur, 4, multi_scale_output=not (last and m == modules - 1))
                        for m in range(modules)
                    )
                ),
            )
            prev = cur
        self.stage_channels = [width] * 4

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"HRNet needs H and W divisible by 32 (1/32 branch), got {x.shape}")
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys, feats = [self.layer1(x)], []
        for s in (2, 3, 4):
            trans = getattr(self, f"transition{s - 1}")
            # As in pose_hrnet: kept branches pass through, new ones grow from the lowest one.
            xs = [ys[i] if t is None else t(ys[-1]) for i, t in enumerate(trans)]
            if s == 2:
                feats.append(xs[0])  # the stem transition's high-resolution branch
            ys = getattr(self, f"stage{s}")(xs)
            feats.append(ys[0])
        return feats


class TinyBackbone(nn.Module):
    """Stride-4 stem + three dilated residual stages at 1/4 resolution (CPU default)."""

    def __init__(self, width: int = 32, blocks: int = 1):
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn(3, width // 2, 3, 2),
            nn.ReLU(True),
            *_conv_bn(width // 2, width, 3, 2),
            nn.ReLU(True),
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(BasicBlock(width, width, dilation=2**s) for _ in range(blocks))) for s in range(3)
        )
        self.stage_channels = [width] * 4

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


HRNET_WIDTHS = {"hrnet_w18": 18, "hrnet_w32": 32, "hrnet_w48": 48}


@register(BACKBONES, "tiny")
def _tiny(tiny_width: int = 32, tiny_blocks: int = 1, **_) -> TinyBackbone:
    return TinyBackbone(tiny_width, tiny_blocks)


def _hrnet(width: int, **_) -> HRNet:
    return HRNet(width)


for _name, _width in HRNET_WIDTHS.items():
    register(BACKBONES, _name)(functools.partial(_hrnet, _width))


def build_backbone(name: str, tiny_width: int = 32, tiny_blocks: int = 1) -> nn.Module:
    """A registered backbone by name ("tiny", "hrnet_w18", "hrnet_w32", "hrnet_w48", ...)."""
    return lookup(BACKBONES, name, "model.backbone")(tiny_width=tiny_width, tiny_blocks=tiny_blocks)


@dataclass
class LoadReport:
    """What `load_pretrained` did: keys loaded, absent from the file, or ignored from it."""

    loaded: list[str]
    missing: list[str]
    unexpected: list[str]


def read_state_dict(path: str) -> dict[str, Tensor]:
    """A local checkpoint's tensors: a state_dict, or one under "state_dict"/"model".

    Reads with `weights_only=True` (tensors only, no pickled code) and strips DataParallel/DDP's
    "module." prefix.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_matching(module: nn.Module, state: dict[str, Tensor], keys: set[str] | None = None) -> LoadReport:
    """Load the tensors of `state` whose name and shape match `module`'s (restricted to `keys`).

    Tensors whose shape differs are reported as unexpected instead of failing the load; `missing`
    lists the module's keys (within `keys`) that the state did not provide.
    """
    own = module.state_dict()
    wanted = set(own) if keys is None else keys & set(own)
    fits = {k: v for k, v in state.items() if k in wanted and own[k].shape == v.shape}
    module.load_state_dict(fits, strict=False)
    return LoadReport(
        loaded=sorted(fits), missing=sorted(wanted - set(fits)), unexpected=sorted(set(state) - set(fits))
    )


def load_pretrained(model: nn.Module, path: str, prefix: str = "") -> LoadReport:
    """Load a local checkpoint into a backbone (`read_state_dict`, then `load_matching`).

    An optional `prefix` is stripped (e.g. "backbone." for a whole-TDMI checkpoint).
    """
    state = {k.removeprefix(prefix): v for k, v in read_state_dict(path).items()}
    report = load_matching(model, state)
    log.info(
        "loaded %d tensors from %s; %d missing, %d unexpected (first: %s)",
        len(report.loaded),
        path,
        len(report.missing),
        len(report.unexpected),
        report.unexpected[:5],
    )
    return report
