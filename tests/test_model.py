"""The model: every preset's shapes and gradients, determinism, channels_last, bf16 autocast,
torch.compile, checkpoint loading, and a tiny model overfitting a few synthetic clips."""

import pytest
import torch

from tdmi.losses import MI_TERMS, TDMILoss, build_loss
from tdmi.models import build_model, load_pretrained
from tdmi.models.backbone import build_backbone
from tdmi.models.presets import ABLATION_ORDER, PRESETS, preset_configs

H, W = 64, 48  # input; heatmaps are 16 x 12
SMALL = {"tiny_width": 16, "head_dilations": (1, 3)}


def _batch(t: int, b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(b, t, 3, H, W, generator=g)
    return clip, torch.rand(b, 17, H // 4, W // 4, generator=g), torch.ones(b, 17)


def _build(name: str, **overrides):
    torch.manual_seed(0)
    model_cfg, loss_cfg = preset_configs(name, **overrides)
    model = build_model(model_cfg)
    return model, build_loss(loss_cfg, model)


def test_presets_cover_ablation_rows():
    assert list(PRESETS) == ABLATION_ORDER
    assert {"baseline", "tde1", "tde4", "rdm", "tdmi", *MI_TERMS} <= set(PRESETS)
    with pytest.raises(TypeError):
        preset_configs("tdmi", not_a_field=1)


@pytest.mark.parametrize("t", [3, 5])
@pytest.mark.parametrize("name", ABLATION_ORDER)
def test_preset_shapes_and_gradients(name, t):
    model, loss_fn = _build(name, num_frames=t, **SMALL)
    clip, target, weight = _batch(t)
    out = model(clip)
    assert out["heatmaps"].shape == (2, 17, H // 4, W // 4)
    mcfg, lcfg = model.cfg, loss_fn.cfg
    assert ("motion" in out) == (mcfg.tde_stages > 0)
    assert ("useful" in out) == ("noisy" in out) == mcfg.use_rdm
    terms = loss_fn(out, target, weight)
    assert set(terms) >= {"heatmap", "total"} | {k for k in MI_TERMS if getattr(lcfg, k)}
    assert set(loss_fn.estimators) == {k for k in MI_TERMS if getattr(lcfg, k)}
    terms["total"].backward()
    # The noisy branch has no gradient path unless a term that reads it is on (rows "rdm" and
    # "mi_task"); everything else the preset built must receive a gradient.
    noisy_unused = mcfg.use_rdm and not (lcfg.mi_disentangle or lcfg.mi_recon)
    params = [*model.named_parameters(), *(("loss." + k, p) for k, p in loss_fn.named_parameters())]
    no_grad = {k for k, p in params if p.grad is None}
    assert no_grad == (
        {k for k, _ in params if k.startswith("rdm.noisy.")} if noisy_unused else set()
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"tde_source": "final", "tde_stages": 2},
        {"rdm_mode": "gate", "upper_bound": "l1out", "task_target": "key_feature"},
    ],
)
def test_options_train(overrides):
    model, loss_fn = _build("tdmi", **SMALL, **overrides)
    loss_fn(model(_batch(5)[0]), *_batch(5)[1:])["total"].backward()


def test_hrnet_backbone_in_the_model():
    model, loss_fn = _build(
        "tdmi", backbone="hrnet_w18", num_frames=3, tde_stages=4, head_dilations=(1,)
    )
    clip = torch.randn(2, 3, 3, 64, 64)  # HRNet's 1/32 branch needs sides divisible by 32
    out = model(clip)
    assert out["heatmaps"].shape == (2, 17, 16, 16)
    loss_fn(out, torch.rand(2, 17, 16, 16), torch.ones(2, 17))["total"].backward()


def test_same_seed_same_output():
    clip = _batch(5)[0]
    a, b = (_build("tdmi", **SMALL)[0](clip)["heatmaps"] for _ in range(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_channels_last_and_bf16_autocast():
    model, loss_fn = _build("tdmi", **SMALL)
    clip, target, weight = _batch(5)
    model.eval()
    ref = model(clip)["heatmaps"]
    model = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(model(clip)["heatmaps"], ref, atol=1e-5, rtol=1e-4)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(clip)
        terms = loss_fn(out, target, weight)
    assert out["heatmaps"].dtype == torch.bfloat16
    assert all(torch.isfinite(v) for v in terms.values())
    terms["total"].backward()


def test_torch_compile_graph_capture():
    """Dynamo + AOTAutograd on forward and backward, without C++ codegen (fast)."""
    model, loss_fn = _build("tdmi", **SMALL)
    clip, target, weight = _batch(5)
    model.eval()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(clip)["heatmaps"], model(clip)["heatmaps"])
    loss_fn(compiled(clip), target, weight)["total"].backward()


@pytest.mark.slow
def test_torch_compile_inductor():
    """Inductor needs a C++ compiler on CPU and ~40 s to compile the tiny model on 2 cores."""
    model = _build("tdmi", **SMALL)[0].eval()
    clip = _batch(5)[0]
    with torch.no_grad():
        compiled = torch.compile(model)(clip)["heatmaps"]
        torch.testing.assert_close(compiled, model(clip)["heatmaps"], atol=1e-4, rtol=1e-3)


def test_load_pretrained_round_trip(tmp_path):
    src = build_backbone("hrnet_w18")
    state = src.state_dict()
    # Official parameter names, including the last stage's single fuse row (multi_scale_output).
    assert {
        "conv1.weight",
        "bn2.running_var",
        "layer1.0.downsample.0.weight",
        "transition1.1.0.0.weight",
        "transition3.3.0.0.weight",
        "stage2.0.fuse_layers.1.0.0.0.weight",
        "stage4.2.fuse_layers.0.3.1.running_mean",
    } <= set(state)
    assert not any(k.startswith("stage4.2.fuse_layers.1") for k in state)
    path = tmp_path / "plain.pth"
    torch.save(state, path)
    dst = build_backbone("hrnet_w18")
    report = load_pretrained(dst, str(path))
    assert report.missing == [] and report.unexpected == [] and len(report.loaded) == len(state)
    torch.testing.assert_close(dst.state_dict(), state)

    # A DataParallel COCO checkpoint: "module." prefix, nested dict, the official final_layer.
    wrapped = {"state_dict": {"module." + k: v for k, v in state.items()}}
    wrapped["state_dict"]["module.final_layer.weight"] = torch.zeros(17, 18, 1, 1)
    del wrapped["state_dict"]["module.conv1.weight"]
    torch.save(wrapped, tmp_path / "coco.pth")
    report = load_pretrained(build_backbone("hrnet_w18"), str(tmp_path / "coco.pth"))
    assert report.missing == ["conv1.weight"] and report.unexpected == ["final_layer.weight"]


def _synthetic_clips(n: int, t: int, joints: int = 17, seed: int = 0):
    """Coloured blobs moving linearly; targets are Gaussians at the key frame's blob centres."""
    g = torch.Generator().manual_seed(seed)
    h, w = H // 4, W // 4
    start = torch.rand(n, joints, 2, generator=g) * torch.tensor([h - 4.0, w - 4.0]) + 2
    step = torch.rand(n, joints, 2, generator=g) - 0.5
    pos = start[:, None] + step[:, None] * (torch.arange(t) - t // 2).view(1, t, 1, 1)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    blobs = torch.exp(-((yy - pos[..., :1, None]) ** 2 + (xx - pos[..., 1:, None]) ** 2) / 2)
    frames = torch.einsum("ntjhw,jc->ntchw", blobs, torch.rand(joints, 3, generator=g))
    clip = torch.nn.functional.interpolate(frames.flatten(0, 1), size=(H, W), mode="bilinear")
    return clip.unflatten(0, (n, t)) * 4 - 1, blobs[:, t // 2], torch.ones(n, joints)


def test_tiny_model_overfits_synthetic_clips():
    model, loss_fn = _build("tdmi", num_frames=3, **SMALL)
    clip, target, weight = _synthetic_clips(n=4, t=3)
    opt = torch.optim.Adam([*model.parameters(), *loss_fn.parameters()], lr=1e-2)
    losses = []
    for _ in range(120):
        terms = loss_fn(model(clip), target, weight)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        losses.append(terms["heatmap"].item())
    print(f"heatmap loss {losses[0]:.2e} -> {losses[-1]:.2e}: x{losses[0] / losses[-1]:.0f}")
    assert losses[-1] < losses[0] / 10, losses


def test_mi_terms_need_rdm():
    model, _ = _build("tde2", **SMALL)
    loss_fn = TDMILoss(preset_configs("tdmi")[1], model.motion_channels, model.key_channels)
    with pytest.raises(ValueError, match="RDM"):
        loss_fn(model(_batch(5)[0]), *_batch(5)[1:])
