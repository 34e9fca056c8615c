"""Presets exist once: the Hydra model, loss and preset groups are generated from PRESETS and
equal it; names tell the truth about overridden runs; the sweep space and the ablation grid use the
same vocabulary."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tdmi.losses import MI_TERMS
from tdmi.models.presets import (
    ABLATION_ORDER,
    PRESETS,
    SINGLE_FRAME,
    group_choices,
    hydra_files,
    preset_configs,
    preset_name,
    preset_sections,
)
from tdmi.models.tdmi import ModelConfig
from tdmi.recipe import with_preset
from tdmi.run import RunSpec
from tdmi.studies.search_space import check_space, flatten_space, grid

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "experiments" / "conf"
GENERATED = ("model", "loss", "preset")


def _compose(overrides: list[str]) -> dict:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)


def _sections(config: dict) -> tuple[dict, dict]:
    """The composed `model` (its temporal node flattened as ModelConfig has it) and `loss` fields."""
    model = {k: v for k, v in config["model"].items() if k in {f.name for f in fields(ModelConfig)}}
    temporal = dict(model.pop("temporal"))
    model.update(temporal=temporal.pop("name"), temporal_args=temporal)
    return model, config["loss"]


def test_groups_are_generated_from_presets():
    files = hydra_files()
    assert {f"{g}/{p.name}" for g in GENERATED for p in (CONF / g).glob("*.yaml")} == set(files)
    stale = [n for n, text in files.items() if (CONF / n).read_text() != text]
    assert not stale, f"run `python -m tdmi.models.presets experiments/conf`: {stale}"


def test_generator_command_writes_the_groups(tmp_path):
    (tmp_path / "loss").mkdir()
    (tmp_path / "loss" / "baseline.yaml").write_text("stale: true\n")
    (tmp_path / "model" / "temporal").mkdir(parents=True)
    (tmp_path / "model" / "temporal" / "mine.yaml").write_text("name: mine\n")  # hand-written: kept
    subprocess.run(
        [sys.executable, "-m", "tdmi.models.presets", str(tmp_path)], check=True, cwd=REPO, capture_output=True
    )
    written = {f"{g}/{p.name}": p.read_text() for g in GENERATED for p in (tmp_path / g).glob("*.yaml")}
    assert written == hydra_files() and (tmp_path / "model" / "temporal" / "mine.yaml").exists()


def test_rows_share_architecture_and_objective_files():
    choices = group_choices()
    assert choices["tdmi"] == ("rdm", "tdmi") and choices["mi_motion"] == ("rdm", "mi_motion")
    assert choices["tde3"] == ("tde3", "heatmap") and choices["single_frame"] == ("single_frame", "heatmap")
    assert len({arch for arch, _ in choices.values()}) == 8  # single_frame align tde1..4 static rdm


@pytest.mark.parametrize("name", ABLATION_ORDER)
def test_composed_preset_equals_presets(name):
    config = _compose([f"preset={name}"])
    assert config["preset"] == name and config["train_dir"] == f"checkpoints/synth-{name}"
    model, loss = _sections(config)
    assert preset_configs(name, **model, **loss) == preset_configs(name)
    assert RunSpec.from_dict(config).preset == name
    assert with_preset(_compose([]), name)["model"] | {"init_from": None} == config["model"] | {"init_from": None}
    assert with_preset(_compose([]), name)["loss"] == config["loss"]


def test_one_half_of_a_row_is_swapped_and_named_custom():
    config = _compose(["preset=tdmi", "loss=tdmi_bounds"])
    assert config["preset"] == "tdmi" and config["loss"]["mi_estimator"] == "bounds"
    assert RunSpec.from_dict(config).preset == "tdmi+custom"
    assert RunSpec.from_dict(_compose(["preset=tdmi", "model.use_rdm=false"])).preset == "tdmi+custom"
    assert RunSpec.from_dict(_compose(["preset=tdmi", "model.tiny_width=8"])).preset == "tdmi"  # scale


def test_an_unknown_preset_names_the_key():
    config = _compose([])
    config["preset"] = "baseline"
    with pytest.raises(ValueError, match=r"preset='baseline': must be one of \['single_frame'"):
        RunSpec.from_dict(config)


def test_with_preset_resets_what_the_row_decides_and_keeps_scale():
    base = _compose(["preset=tdmi_bounds", "model.tiny_width=8", "model.temporal_input=key_only"])
    cell = with_preset(base, "mi_motion")
    assert cell["loss"] == preset_sections("mi_motion")["loss"] | {
        k: base["loss"][k] for k in ("mi_hidden", "mi_dim", "grad_ratio_every")
    }
    assert cell["model"]["tiny_width"] == 8 and cell["model"]["temporal_input"] == "clip"
    assert RunSpec.from_dict(cell).preset == "mi_motion"


def test_preset_name_tells_overrides_apart_from_scale():
    assert preset_name(*preset_configs("tdmi", backbone="hrnet_w48", tiny_width=8)) == "tdmi"
    assert preset_name(*preset_configs("tdmi", use_rdm=False), declared="tdmi") == "tdmi+custom"
    assert preset_name(*preset_configs("tdmi", mi_grad_to="all"), declared="tdmi") == "tdmi+custom"
    assert (
        preset_name(*preset_configs("tdmi", use_rdm=False, **dict.fromkeys(MI_TERMS, 0.0)), declared="tdmi")
        == "tdmi+custom"
    )
    # Undeclared: found by value; an override that makes it another row names that row.
    assert preset_name(*preset_configs("rdm", use_rdm=False)) == "tde3"
    assert preset_name(*preset_configs("rdm", tde_stages=2)) == "custom"


def test_rows_the_issue_names():
    assert ABLATION_ORDER[0] == SINGLE_FRAME
    assert {
        "single_frame",
        "align",
        "tde1",
        "tde2",
        "tde3",
        "tde4",
        "rdm",
        "static",
        "tdmi",
        "tdmi_scaled",
        "tdmi_bounds",
        *MI_TERMS,
    } == set(PRESETS)
    scaled, tdmi = preset_configs("tdmi_scaled")[1], preset_configs("tdmi")[1]
    assert (scaled.mi_motion, scaled.mi_estimator) == (3e-3, "kl_proxy") and tdmi.mi_motion == 1.0
    single, _ = preset_configs("single_frame")
    static, _ = preset_configs("static")
    assert single.temporal == "none" and static.temporal_input == "key_only"
    assert preset_configs("tdmi_bounds")[1].mi_estimator == "bounds"
    with pytest.raises(KeyError, match="unknown preset preset='baseline'"):
        preset_configs("baseline")
    with pytest.raises(TypeError, match="not_a_field"):
        preset_configs("tdmi", not_a_field=1)


def test_sweep_space_covers_mi_groups_with_off_and_stages():
    space = flatten_space(yaml.safe_load((CONF / "sweep" / "default.yaml").read_text())["space"])
    check_space(space)
    assert set(space) == {"model.tde_stages", *(f"loss.{t}" for t in MI_TERMS)}
    assert all(space[f"loss.{t}"]["zero"] for t in MI_TERMS)
    points = list(grid(space, points=2))
    assert {p["model.tde_stages"] for p in points} == {1, 2, 3, 4}
    assert {p["loss.mi_motion"] for p in points} >= {0.0, 1e-4, 10.0}
    for point in points[:: max(len(points) // 20, 1)]:  # every value builds a valid config
        preset_configs("tdmi", **{k.split(".", 1)[1]: v for k, v in point.items()})


def test_ablation_grid_uses_the_presets():
    ablate = yaml.safe_load((CONF / "ablate" / "default.yaml").read_text())
    assert ablate["baseline"] == SINGLE_FRAME
    assert ablate["presets"] is None or set(ablate["presets"]) <= set(PRESETS)
