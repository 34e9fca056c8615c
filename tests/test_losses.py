"""The MI objective: where its gradients go (mi_grad_to, a frozen single-frame network), that the
estimators learn only from their own objectives, the diagnostics, warm-up, and config errors."""

import pytest
import torch

from tdmi.losses import LossConfig, build_loss
from tdmi.models import build_model
from tdmi.models.presets import preset_configs

SMALL = {
    "tiny_width": 16,
    "head_dilations": (1,),
    "mi_hidden": 16,
    "mi_dim": 8,
    "tde_blocks": (1, 1, 1, 1),
    "agg_blocks": 1,
    "grad_ratio_every": 0,
}
REACHABLE = {  # model parts an MI gradient may reach, by mi_grad_to (backbone and head frozen)
    "rdm": ("temporal.rdm.",),
    "tde": ("temporal.",),
    "all": ("temporal.", "aggregate."),
}


def _setup(preset: str, **overrides):
    torch.manual_seed(0)
    model_cfg, loss_cfg = preset_configs(preset, **{**SMALL, **overrides})
    model = build_model(model_cfg)
    with torch.no_grad():  # leave the zero start, so gradients pass the aggregation
        model.aggregate.zero.weight.normal_(std=0.1)
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(4, 5, 3, 64, 48, generator=g), torch.rand(4, 17, 16, 12, generator=g), torch.ones(4, 17))
    return model, build_loss(loss_cfg, model), batch


@pytest.mark.parametrize("estimator", ["kl_proxy", "bounds"])
@pytest.mark.parametrize("grad_to", ["rdm", "tde", "all"])
def test_mi_gradients_reach_only_what_grad_to_allows(estimator, grad_to):
    preset = "tdmi" if estimator == "kl_proxy" else "tdmi_bounds"
    model, loss_fn, (clip, target, weight) = _setup(
        preset, mi_grad_to=grad_to, mi_warmup=0, mi_ramp=0, appearance="aligned"
    )
    model.freeze_single_frame()
    terms = loss_fn(model(clip), target, weight)
    (terms["total"] - terms["heatmap"]).backward()  # the MI terms (and estimator objectives)
    reached = {k for k, p in model.named_parameters() if p.grad is not None and p.grad.any()}
    assert reached, "no MI gradient reached the model at all"
    assert all(k.startswith(REACHABLE[grad_to]) for k in reached), sorted(reached)[:5]
    assert all(p.grad is None for p in [*model.backbone.parameters(), *model.head.parameters()])
    if grad_to != "rdm":
        assert any(k.startswith("temporal.tde.") for k in reached)


def test_estimators_learn_only_from_their_own_objectives():
    """Scaling every MI weight by 100 scales the model's MI gradient, not the estimators'."""
    grads = []
    for scale in (0.01, 1.0):
        weights = {k: scale for k in ("mi_motion", "mi_multimodal", "mi_regularisation")}
        model, loss_fn, (clip, target, weight) = _setup("tdmi_bounds", mi_warmup=0, **weights)
        torch.manual_seed(1)  # the same pixel samples in both runs
        terms = loss_fn(model(clip), target, weight)
        terms["total"].backward()
        grads.append(
            (
                {k: p.grad.clone() for k, p in loss_fn.named_parameters()},
                model.temporal.rdm.useful[2].weight.grad.clone(),
            )
        )
    (est_small, rdm_small), (est_big, rdm_big) = grads
    assert est_small.keys() == est_big.keys() and len(est_small) > 0
    assert all(torch.allclose(est_small[k], est_big[k]) for k in est_small)
    assert not torch.allclose(rdm_small, rdm_big)


def test_diagnostics_are_logged_and_stay_out_of_the_total():
    totals = []
    for every in (0, 1):
        model, loss_fn, (clip, target, weight) = _setup("tdmi_bounds", mi_warmup=0, grad_ratio_every=every)
        torch.manual_seed(1)
        terms = loss_fn(model(clip), target, weight)
        totals.append(terms["total"].item())
    ratios = {k: v for k, v in terms.items() if k.startswith("grad_ratio/")}
    assert len(ratios) == 9 and all(v >= 0 for v in ratios.values())
    assert ratios["grad_ratio/mi_motion/useful_noisy"] > 0  # a live term reaches the model
    assert ratios["grad_ratio/mi_multimodal/appearance_fused"] == 0  # both sides detached (tde)
    assert {k for k in terms if k.startswith("negative/")} == {
        "negative/useful_noisy",
        "negative/useful_appearance",
        "negative/useful_heatmaps",
        "negative/appearance_heatmaps",
    }
    assert all(not v.requires_grad for k, v in terms.items() if k not in ("total", "heatmap"))
    assert totals[0] == pytest.approx(totals[1], rel=1e-6)


def test_warmup_then_ramp():
    model, loss_fn, (clip, target, weight) = _setup("tdmi_bounds", mi_warmup=2, mi_ramp=4)
    contributions, ramps = [], []
    for _ in range(7):
        ramps.append(loss_fn._ramp())
        terms = loss_fn(model(clip), target, weight)
        contributions.append(terms["mi_motion"].item())
    assert ramps == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert contributions[:2] == [0.0, 0.0] and all(v != 0 for v in contributions[2:])
    assert loss_fn._ramp() == 1.0
    assert int(loss_fn.calls) == 7 and "calls" in loss_fn.state_dict()  # resumes exactly


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mi_estimator", "mine", r"loss.mi_estimator must be one of \('kl_proxy', 'bounds'\)"),
        ("mi_grad_to", "head", r"loss.mi_grad_to must be one of \('rdm', 'tde', 'all'\)"),
        ("upper_bound", "nwj", r"loss.upper_bound must be one of"),
        ("mi_motion", -1.0, r"loss.mi_motion must be >= 0"),
    ],
)
def test_bad_loss_config_names_the_key(field, value, message):
    with pytest.raises(ValueError, match=message):
        LossConfig(**{field: value})


def test_bounds_need_the_outputs_at_build_time():
    model, _, _ = _setup("tde2")
    with pytest.raises(ValueError, match=r"loss term useful_noisy \(loss.mi_motion > 0\) needs"):
        build_loss(preset_configs("tdmi_bounds")[1], build_model(preset_configs("single_frame")[0]))
    assert model.motion_channels == 16
