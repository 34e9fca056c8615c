"""README "Extending": its temporal module, registered from this file, and its YAML file in the
`model/temporal` group compose, build and train."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tdmi.losses import build_loss
from tdmi.models import build_model
from tdmi.models.presets import preset_configs
from tdmi.models.registry import TEMPORAL, register
from tdmi.run import RunSpec
from tdmi.utils.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
SECTION = REPO.joinpath("README.md").read_text().split("## Extending", 1)[1].split("\n## ", 1)[0]
exec(re.search(r"```python\n(.*?)```", SECTION, re.S).group(1))  # registers "frame_diff"
YAML = re.search(r"```yaml\n# (experiments/conf/\S+)\n(.*?)```", SECTION, re.S)
TINY = ["model.tiny_width=8", "model.head_dilations=[1]", "loss.mi_hidden=16", "loss.mi_dim=8"]


def compose_with_readme_yaml(tmp_path: Path, overrides: list[str]) -> dict:
    """The config composed from a copy of experiments/conf plus the README's YAML file, with the
    README's `my_lab.motion` module standing for this file (which holds its Python block)."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "experiments" / "conf", conf)
    target = tmp_path / YAML.group(1).removeprefix("experiments/")
    target.write_text(YAML.group(2).replace("my_lab.motion", __name__))
    with initialize_config_dir(str(conf), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)


def test_readme_yaml_route_builds_and_takes_a_training_step(tmp_path):
    assert YAML.group(1) == "experiments/conf/model/temporal/frame_diff.yaml"
    config = compose_with_readme_yaml(tmp_path, ["preset=tde3", "model/temporal=frame_diff", *TINY])
    assert config["model"]["temporal"] == {"name": f"{__name__}:frame_diff", "channels": 8}
    spec = RunSpec.from_dict(config, tmp_path)
    assert spec.preset == "tde3+custom" and spec.model.temporal_args == {"channels": 8}
    torch.manual_seed(0)
    model = build_model(spec.model)
    loss = build_loss(spec.loss, model)
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


def test_python_route_equals_the_yaml_route(tmp_path):
    config = compose_with_readme_yaml(tmp_path, ["preset=tde3", "model/temporal=frame_diff"])
    spec = RunSpec.from_dict(config, tmp_path)
    model_cfg, loss_cfg = preset_configs("tde3", temporal=f"{__name__}:frame_diff", temporal_args={"channels": 8})
    assert (spec.model, spec.loss) == (model_cfg, loss_cfg)


def test_a_bad_temporal_config_names_the_key(tmp_path):
    config = compose_with_readme_yaml(tmp_path, ["preset=tde3"])
    config["model"]["temporal"] = "frame_diff"  # the old flat form
    with pytest.raises(ConfigError, match=r"model.temporal='frame_diff': must be a temporal module's config"):
        RunSpec.from_dict(config, tmp_path)
    config["model"]["temporal"], config["model"]["temporal_args"] = {"name": "tde"}, {"channels": 8}
    with pytest.raises(ConfigError, match=r"model.temporal_args=.*the other keys of model.temporal"):
        RunSpec.from_dict(config, tmp_path)
    with pytest.raises(ValueError, match=r"model.temporal: cannot import 'no_such_lab'"):
        build_model(preset_configs("tde3", temporal="no_such_lab:frame_diff")[0])


def test_every_builtin_temporal_module_has_its_yaml():
    files = {p.stem: p for p in (REPO / "experiments" / "conf" / "model" / "temporal").glob("*.yaml")}
    assert set(files) == {"none", *(n for n in TEMPORAL if n != "frame_diff")}
    for stem in files:
        with initialize_config_dir(str(REPO / "experiments" / "conf"), version_base="1.3"):
            assert compose("config", overrides=[f"model/temporal={stem}"]).model.temporal.name == stem


def test_a_second_module_under_one_name_is_refused():
    with pytest.raises(ValueError, match=r"'frame_diff' is already registered"):
        register(TEMPORAL, "frame_diff")(object)


def test_mi_terms_fail_clearly_on_a_module_without_useful_motion():
    model = build_model(preset_configs("tdmi", temporal="frame_diff", tiny_width=8, head_dilations=(1,))[0])
    loss = build_loss(preset_configs("tdmi")[1], model)
    with pytest.raises(ValueError, match=r"need model outputs \['noisy', 'useful'\]"):
        loss(model(torch.randn(2, 5, 3, 64, 48)), torch.rand(2, 17, 16, 12), torch.ones(2, 17))
