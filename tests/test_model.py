"""The model: backbone stage contract, every preset's shapes and gradients at T = 3 and 5, zero
start from a single-frame network, loading and freezing it, determinism, channels_last, bf16
autocast, torch.compile, checkpoint loading, and a tiny model overfitting a few synthetic clips."""

import pytest
import torch

from tdmi.losses import MI_TERMS, build_loss
from tdmi.models import build_model, load_pretrained, load_single_frame
from tdmi.models.backbone import build_backbone
from tdmi.models.presets import ABLATION_ORDER, preset_configs

H, W = 64, 48  # input; heatmaps are 16 x 12
SMALL = {"tiny_width": 16, "head_dilations": (1, 3), "mi_hidden": 16, "mi_dim": 8, "grad_ratio_every": 0}
COMPACT = {"tde_stages": 2, "tde_blocks": (1, 1, 1, 1), "agg_blocks": 1, "head_dilations": (1,)}


def _batch(t: int, b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(b, t, 3, H, W, generator=g)
    return clip, torch.rand(b, 17, H // 4, W // 4, generator=g), torch.ones(b, 17)


def _build(name: str, **overrides):
    torch.manual_seed(0)
    model_cfg, loss_cfg = preset_configs(name, **{**SMALL, **overrides})
    model = build_model(model_cfg)
    return model, build_loss(loss_cfg, model)


@pytest.mark.parametrize("name", ["tiny", "hrnet_w18"])
def test_backbone_returns_four_equal_stages(name):
    net = build_backbone(name, tiny_width=16)
    feats = net(torch.randn(1, 3, 64, 64))
    assert len(feats) == 4 and len(set(net.stage_channels)) == 1
    assert all(f.shape == (1, net.stage_channels[-1], 16, 16) for f in feats)


@pytest.mark.parametrize("t", [3, 5])
@pytest.mark.parametrize("name", ABLATION_ORDER)
def test_preset_shapes_and_gradients(name, t):
    model, loss_fn = _build(name, num_frames=t)
    clip, target, weight = _batch(t)
    out = model(clip)
    assert out["heatmaps"].shape == (2, 17, H // 4, W // 4)
    mcfg, lcfg = model.cfg, loss_fn.cfg
    assert ("motion" in out) == (mcfg.temporal != "none")
    assert ("useful" in out) == ("noisy" in out) == (mcfg.temporal != "none" and mcfg.use_rdm)
    terms = loss_fn(out, target, weight)
    on = [k for k in MI_TERMS if getattr(lcfg, k)]
    assert set(on) <= set(terms) and all(torch.isfinite(v) for v in terms.values())
    terms["total"].backward()
    # RDM's noisy gate is read only by the motion group's I(M_u; M_n); everything else the preset
    # built gets a gradient (zeros behind the zero-initialised aggregation, but not None).
    noisy_unused = "noisy" in out and not lcfg.mi_motion
    no_grad = {k for k, p in model.named_parameters() if p.grad is None}
    assert no_grad == (
        {k for k, _ in model.named_parameters() if k.startswith("temporal.rdm.noisy.")} if noisy_unused else set()
    )


def _single_frame_state():
    """A single-frame network with non-trivial BatchNorm statistics and head weights."""
    model = _build("single_frame")[0]
    with torch.no_grad():
        model.train()
        model(_batch(5, b=4, seed=3)[0])  # running statistics move away from their init
        model.head.final.weight.normal_(std=0.1)
    return model.eval(), model.state_dict()


@pytest.mark.parametrize("name", ["align", "tde2", "static", "tdmi", "tdmi_bounds"])
def test_zero_start_predicts_what_the_single_frame_network_predicts(name):
    single, state = _single_frame_state()
    clip = _batch(5, seed=1)[0]
    expected = single(clip[:, 2:3].expand(-1, 5, -1, -1, -1))["heatmaps"]
    model = _build(name)[0]
    report = load_single_frame(model, state)
    assert report.missing == [] and report.unexpected == [] and len(report.loaded) == len(state)
    assert torch.equal(model.eval()(clip)["heatmaps"], expected)
    model.freeze_single_frame()  # frozen BN: the same in training mode too
    assert torch.equal(model.train()(clip)["heatmaps"], expected)


def test_freeze_keeps_backbone_and_head_fixed_through_training(tmp_path):
    single, state = _single_frame_state()
    torch.save({"model": state}, tmp_path / "single.pt")
    model, loss_fn = _build("tdmi")
    assert len(load_single_frame(model, str(tmp_path / "single.pt")).loaded) == len(state)
    model.freeze_single_frame()
    model.train()
    frozen = [m for n, m in model.named_modules() if n.startswith(("backbone", "head"))]
    assert all(not m.training for m in frozen) and model.temporal.training
    assert not any(p.requires_grad for p in [*model.backbone.parameters(), *model.head.parameters()])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = [p for p in [*model.parameters(), *loss_fn.parameters()] if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        loss_fn(model(_batch(5)[0]), *_batch(5)[1:])["total"].backward()
        opt.step()
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith(("backbone.", "head.")))
    assert not torch.equal(after["aggregate.zero.weight"], before["aggregate.zero.weight"])


def test_load_single_frame_reports_what_it_did_not_load():
    _, state = _single_frame_state()
    state = dict(state)
    del state["head.final.bias"]
    state["head.final.weight"] = torch.zeros(3, 3)  # wrong shape
    state["other.thing"] = torch.zeros(1)
    report = load_single_frame(_build("tdmi")[0], state)
    assert report.missing == ["head.final.bias", "head.final.weight"]
    assert report.unexpected == ["head.final.weight", "other.thing"]


def test_unknown_names_fail_with_the_config_key():
    with pytest.raises(ValueError, match=r"model.temporal='nope' is not registered; known: \["):
        _build("tdmi", temporal="nope")
    with pytest.raises(ValueError, match=r"model.backbone='resnet' is not registered"):
        _build("tdmi", backbone="resnet")
    with pytest.raises(ValueError, match=r"model.tde_stages must be in 1..4, got 5"):
        _build("tdmi", tde_stages=5)
    with pytest.raises(ValueError, match=r"model.temporal_input must be one of"):
        _build("tdmi", temporal_input="shuffled")


def test_mi_terms_need_the_outputs_they_read():
    model, _ = _build("tde2")
    loss_fn = build_loss(preset_configs("tdmi")[1], model)
    with pytest.raises(ValueError, match=r"need model outputs \['noisy', 'useful'\]"):
        loss_fn(model(_batch(5)[0]), *_batch(5)[1:])


def test_hrnet_backbone_in_the_model():
    model, loss_fn = _build("tdmi", backbone="hrnet_w18", num_frames=3, tde_stages=4)
    out = model(torch.randn(2, 3, 3, 64, 64))  # HRNet's 1/32 branch needs sides divisible by 32
    assert out["heatmaps"].shape == (2, 17, 16, 16) and out["motion"].shape == (2, 18, 16, 16)
    loss_fn(out, torch.rand(2, 17, 16, 16), torch.ones(2, 17))["total"].backward()


def test_same_seed_same_output():
    clip = _batch(5)[0]
    a, b = (_build("tdmi")[0](clip)["heatmaps"] for _ in range(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_channels_last_and_bf16_autocast():
    model, loss_fn = _build("tdmi", appearance="aligned")
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
    model, loss_fn = _build("tdmi", **COMPACT)
    clip, target, weight = _batch(5)
    model.eval()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(clip)["heatmaps"], model(clip)["heatmaps"])
    loss_fn(compiled(clip), target, weight)["total"].backward()


@pytest.mark.slow
def test_torch_compile_inductor():
    """Inductor needs a C++ compiler on CPU and minutes to compile the tiny model on 2 cores."""
    model = _build("tdmi", **COMPACT)[0].eval()
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
    model, loss_fn = _build("tdmi", num_frames=3, **COMPACT)
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
