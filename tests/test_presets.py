"""Presets exist once: the Hydra model group is generated from PRESETS and equals it; names tell
the truth about overridden runs; the sweep space and the ablation grid use the same vocabulary."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tdmi.losses import MI_TERMS, LossConfig
from tdmi.models.presets import (
    ABLATION_ORDER,
    PRESETS,
    SINGLE_FRAME,
    hydra_files,
    preset_configs,
    preset_name,
)
from tdmi.models.tdmi import ModelConfig
from tdmi.studies.search_space import check_space, flatten_space, grid

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "experiments" / "conf"


FIELDS = {f.name for f in (*fields(ModelConfig), *fields(LossConfig))} | {"preset"}


def _model_group(overrides: list[str]) -> dict:
    """The composed `model` node's preset and config fields (run-level keys such as init_from,
    which tdmi/run.py reads, left out)."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        model = OmegaConf.to_container(compose("config", overrides=overrides).model, resolve=True)
    return {k: v for k, v in model.items() if k in FIELDS}


def test_model_group_files_are_generated_from_presets():
    files = hydra_files()
    assert {p.name for p in (CONF / "model").glob("*.yaml")} == set(files)
    stale = [n for n, text in files.items() if (CONF / "model" / n).read_text() != text]
    assert not stale, f"run `python -m tdmi.models.presets experiments/conf/model`: {stale}"


def test_generator_command_writes_the_group(tmp_path):
    (tmp_path / "baseline.yaml").write_text("stale: true\n")
    subprocess.run(
        [sys.executable, "-m", "tdmi.models.presets", str(tmp_path)], check=True, cwd=REPO, capture_output=True
    )
    assert {p.name: p.read_text() for p in tmp_path.glob("*.yaml")} == hydra_files()


@pytest.mark.parametrize("name", ABLATION_ORDER)
def test_composed_preset_equals_presets(name):
    model = _model_group([f"model={name}"])
    assert model.pop("preset") == name
    assert preset_configs(name, **model) == preset_configs(name)
    assert {k: v for k, v in model.items() if k in PRESETS[name]} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in PRESETS[name].items()
    }
    assert preset_name(*preset_configs(name, **model), declared=name) == name


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
        "tdmi_bounds",
        *MI_TERMS,
    } == set(PRESETS)
    single, _ = preset_configs("single_frame")
    static, _ = preset_configs("static")
    assert single.temporal == "none" and static.temporal_input == "key_only"
    assert preset_configs("tdmi_bounds")[1].mi_estimator == "bounds"
    with pytest.raises(KeyError, match="unknown preset model.preset='baseline'"):
        preset_configs("baseline")
    with pytest.raises(TypeError, match="not_a_field"):
        preset_configs("tdmi", not_a_field=1)


def test_sweep_space_covers_mi_groups_with_off_and_stages():
    space = flatten_space(yaml.safe_load((CONF / "sweep" / "default.yaml").read_text())["space"])
    check_space(space)
    assert set(space) == {"model.tde_stages", *(f"model.{t}" for t in MI_TERMS)}
    assert all(space[f"model.{t}"]["zero"] for t in MI_TERMS)
    points = list(grid(space, points=2))
    assert {p["model.tde_stages"] for p in points} == {1, 2, 3, 4}
    assert {p["model.mi_motion"] for p in points} >= {0.0, 1e-4, 10.0}
    for point in points[:: max(len(points) // 20, 1)]:  # every value builds a valid config
        preset_configs("tdmi", **{k.removeprefix("model."): v for k, v in point.items()})


def test_ablation_grid_uses_the_presets():
    ablate = yaml.safe_load((CONF / "ablate" / "default.yaml").read_text())
    assert ablate["baseline"] == SINGLE_FRAME
    assert ablate["presets"] is None or set(ablate["presets"]) <= set(PRESETS)
