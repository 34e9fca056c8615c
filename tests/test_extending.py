"""README "Extending": its temporal module, registered from this file, builds and trains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tdmi.losses import build_loss
from tdmi.models import build_model
from tdmi.models.presets import preset_configs, preset_name
from tdmi.models.registry import TEMPORAL, register

REPO = Path(__file__).resolve().parents[1]
SECTION = REPO.joinpath("README.md").read_text().split("## Extending", 1)[1].split("\n## ", 1)[0]
exec(re.search(r"```python\n(.*?)```", SECTION, re.S).group(1))  # registers "frame_diff"


def test_readme_module_builds_and_takes_a_training_step():
    model_cfg, loss_cfg = preset_configs(
        "tde3", temporal="frame_diff", temporal_args={"channels": 8}, tiny_width=8, head_dilations=(1,)
    )
    assert preset_name(model_cfg, loss_cfg, declared="tde3") == "tde3+custom"
    torch.manual_seed(0)
    model = build_model(model_cfg)
    loss = build_loss(loss_cfg, model)
    assert model.temporal.out_channels == 8 and type(model.temporal).__name__ == "FrameDiff"
    with torch.no_grad():
        model.aggregate.zero.weight.normal_(std=0.1)  # off the zero start: the module gets a gradient
    opt = torch.optim.AdamW([*model.parameters(), *loss.parameters()], lr=1e-2)
    clip, target = torch.randn(2, 5, 3, 64, 48), torch.rand(2, 17, 16, 12)
    before = model.temporal.conv.weight.clone()
    terms = loss(model(clip), target, torch.ones(2, 17))
    terms["total"].backward()
    opt.step()
    assert torch.isfinite(terms["total"]) and not torch.equal(model.temporal.conv.weight, before)


def test_config_names_a_module_by_import_path():
    with initialize_config_dir(str(REPO / "experiments" / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "model=tde3",
                f"model.temporal={__name__}:frame_diff",
                "+model.temporal_args.channels=4",
                "model.tiny_width=8",
            ],
        )
    fields = OmegaConf.to_container(cfg.model)
    fields = {k: v for k, v in fields.items() if k in ("preset", "temporal", "temporal_args", "tiny_width")}
    model = build_model(preset_configs(fields.pop("preset"), **fields)[0])
    assert model.temporal.out_channels == 4
    with pytest.raises(ValueError, match=r"model.temporal: cannot import 'no_such_lab'"):
        build_model(preset_configs("tde3", temporal="no_such_lab:frame_diff")[0])


def test_a_second_module_under_one_name_is_refused():
    with pytest.raises(ValueError, match=r"'frame_diff' is already registered"):
        register(TEMPORAL, "frame_diff")(object)


def test_mi_terms_fail_clearly_on_a_module_without_useful_motion():
    model = build_model(preset_configs("tdmi", temporal="frame_diff", tiny_width=8, head_dilations=(1,))[0])
    loss = build_loss(preset_configs("tdmi")[1], model)
    with pytest.raises(ValueError, match=r"need model outputs \['noisy', 'useful'\]"):
        loss(model(torch.randn(2, 5, 3, 64, 48)), torch.rand(2, 17, 16, 12), torch.ones(2, 17))
