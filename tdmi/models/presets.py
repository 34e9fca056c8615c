"""The ablation rows by name: one vocabulary for the pipeline, sweep, ablation grid and dashboard.

Rows: the paper's ablation (single frame, TDE with 1-4 stages, RDM, the MI groups, TDMI), the
author's development rows from NOTES (`align`: FAMI-Pose's alignment + aggregation, no motion,
the notes' base) and two of ours: `static` (tde3's parts fed the key frame's features only,
same parameters, no temporal information: tells a gain from time apart from one from capacity)
and `tdmi_bounds` (all MI groups with the principled estimators instead of CODE's KL proxy).
Temporal rows use `DEFAULT_STAGES` TDE stages (the paper ablates 1-4; 3 is our default, the
sweep tunes it). T = 3 (FIG's window) instead of 5: `model.num_frames=3` with
`train.clip.offsets=[-1,0,1]`, on any preset.

`tdmi_bounds` weights (`BOUNDS_WEIGHTS`): set so that each group's gradient into the model's
trainable parameters is a tenth of the heatmap loss's at the start of training. Measured on one
batch of 16 default-knob synthetic clips (tiny backbone, 128x96, fresh model, MI weight 1,
mi_grad_to "rdm", the default), group gradient norm / heatmap gradient norm: motion 12.2,
multi-modal 0.71, regularisation 0.71, hence 0.1 / ratio = 8e-3, 0.14, 0.14 (under "tde": 243,
51, 51; under "all": 243, 53, 589; so a run that changes mi_grad_to should rescale). The
estimators fit alone for `mi_warmup` = 20 steps, then the MI weight ramps up over 60 steps.

`tdmi_scaled`: `tdmi` (CODE's KL proxy, weight 1 per group as in CODE) with the motion group's
weight scaled to `SCALED_MOTION` = 3e-3. Under the recipe (a frozen pretrained network, the
aggregation started at zero so the heatmap loss's gradient upstream of it starts at 0), the motion
group's gradient into the RDM at weight 1 ran at 18-42x the heatmap loss's over phase 2
(`train/grad_ratio/mi_motion/*`, ablation cells tdmi seeds 0-1, default data) while the other two
groups send none under `mi_grad_to=rdm`; 0.1 / ~30 = 3e-3 gives the same tenth as `tdmi_bounds`.

The presets exist once, here, and are generated into three Hydra groups
(`python -m tdmi.models.presets experiments/conf`; tests/test_presets.py fails when the files differ):

- `model/<arch>.yaml`: a row's ModelConfig fields over `model/_base.yaml` (every field at its
  default), its temporal module as the nested group `model/temporal=<name>` (tdmi/run.py reads
  `model.temporal.name` and passes the group's other keys to the module);
- `loss/<objective>.yaml`: a row's LossConfig fields over `loss/_base.yaml`;
- `preset/<row>.yaml`: one name picks a row, `preset=tdmi` = `model=rdm loss=tdmi` plus the
  top-level key `preset: tdmi` (train_dir, the preset tag's declared name).

Rows that share an architecture (or an objective) share one file, named after the first such row
in ABLATION_ORDER (`rdm` is the architecture of rdm, the MI rows and tdmi); an objective with every
MI weight 0 is `heatmap` (the heatmap loss alone). Our choice, where the issue left it open: the
old `model=<row>` form is not kept as an alias (model/ holds architectures only); a row is picked
with `preset=<row>`, and `model=` / `loss=` then override one half of it.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import yaml

from tdmi.losses import MI_TERMS, LossConfig
from tdmi.models.tdmi import ModelConfig

DEFAULT_STAGES = 3
BOUNDS_WEIGHTS = {"mi_motion": 8e-3, "mi_multimodal": 0.14, "mi_regularisation": 0.14}
SCALED_MOTION = 3e-3  # tdmi_scaled's motion-group weight (module docstring)
_NO_MI = dict.fromkeys(MI_TERMS, 0.0)
_NONE = {"temporal": "none", "tde_stages": 0, "use_rdm": False}  # tde_stages 0: no TDE
_TDE = {"temporal": "tde", "tde_stages": DEFAULT_STAGES, "use_rdm": False}
_RDM = {**_TDE, "use_rdm": True}

PRESETS: dict[str, dict] = {
    "single_frame": {**_NONE, **_NO_MI},
    "align": {**_NONE, "appearance": "aligned", **_NO_MI},
    **{f"tde{s}": {**_TDE, "tde_stages": s, **_NO_MI} for s in range(1, 5)},
    "static": {**_TDE, "temporal_input": "key_only", **_NO_MI},
    "rdm": {**_RDM, **_NO_MI},
    **{group: {**_RDM, **_NO_MI, group: 1.0} for group in MI_TERMS},
    "tdmi": {**_RDM, **dict.fromkeys(MI_TERMS, 1.0), "mi_estimator": "kl_proxy"},
    "tdmi_scaled": {**_RDM, **dict.fromkeys(MI_TERMS, 1.0), "mi_estimator": "kl_proxy", "mi_motion": SCALED_MOTION},
    "tdmi_bounds": {
        **_RDM,
        **BOUNDS_WEIGHTS,
        "mi_estimator": "bounds",
        "mi_warmup": 20,
        "mi_ramp": 60,
    },
}
ABLATION_ORDER: list[str] = list(PRESETS)
SINGLE_FRAME = "single_frame"

_MODEL_FIELDS = {f.name for f in fields(ModelConfig)}
_LOSS_FIELDS = {f.name for f in fields(LossConfig)}
# Size and capacity settings an experiment sets for every row alike; any other field a run
# changes makes it a different row ("<preset>+custom").
SCALE_FIELDS = frozenset(
    {
        "backbone",
        "num_joints",
        "num_frames",
        "tiny_width",
        "tiny_blocks",
        "head_dilations",
        "deform_backend",
        "pretrained",
        "rdm_hidden",
        "mi_hidden",
        "mi_dim",
        "grad_ratio_every",
    }
)


NO_MI_LOSS = "heatmap"  # the objective with every MI weight 0


def preset_configs(name: str, **overrides) -> tuple[ModelConfig, LossConfig]:
    """The preset's configs, then `overrides` (any ModelConfig or LossConfig field) on top."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset preset={name!r}; known: {ABLATION_ORDER}")
    values = {**PRESETS[name], **overrides}
    unknown = set(values) - _MODEL_FIELDS - _LOSS_FIELDS
    if unknown:
        raise TypeError(f"not a ModelConfig or LossConfig field: {sorted(unknown)}")
    model = ModelConfig(**{k: v for k, v in values.items() if k in _MODEL_FIELDS})
    loss = LossConfig(**{k: v for k, v in values.items() if k in _LOSS_FIELDS})
    return model, loss


def _row(model: ModelConfig, loss: LossConfig) -> dict:
    return {k: v for k, v in {**asdict(model), **asdict(loss)}.items() if k not in SCALE_FIELDS}


def preset_name(model: ModelConfig, loss: LossConfig, declared: str | None = None) -> str:
    """The preset this pair equals (scale fields aside), else "<declared>+custom" ("custom").

    A run of `preset=tdmi model.use_rdm=false` is "tdmi+custom", never "tdmi".
    """
    row = _row(model, loss)
    candidates = [declared] if declared in PRESETS else ABLATION_ORDER
    for name in candidates:
        if _row(*preset_configs(name)) == row:
            return name
    return f"{declared}+custom" if declared else "custom"


def temporal_node(model: ModelConfig) -> dict[str, Any]:
    """The `model.temporal` config node of ``model``: the module's name and its own settings."""
    return {"name": model.temporal, **model.temporal_args}


def preset_sections(name: str) -> dict[str, dict[str, Any]]:
    """The `model` and `loss` config sections `preset=<name>` composes, every non-scale field set
    (a scale field is an experiment's to set: tdmi/recipe.py keeps the config's)."""
    model, loss = preset_configs(name)
    sections = {"model": asdict(model), "loss": asdict(loss)}
    sections["model"]["temporal"] = temporal_node(model)
    del sections["model"]["temporal_args"]
    return {
        key: {k: list(v) if isinstance(v, tuple) else v for k, v in section.items() if k not in SCALE_FIELDS}
        for key, section in sections.items()
    }


def group_choices() -> dict[str, tuple[str, str]]:
    """Preset -> (model file, loss file): rows with equal configs share one, named as the module
    docstring says."""
    models: dict[str, ModelConfig] = {}
    losses: dict[str, LossConfig] = {}
    choices = {}
    for name in ABLATION_ORDER:
        model, loss = preset_configs(name)
        arch = next((k for k, v in models.items() if v == model), name)
        no_mi = all(getattr(loss, term) == 0 for term in MI_TERMS)
        objective = next((k for k, v in losses.items() if v == loss), NO_MI_LOSS if no_mi else name)
        models[arch], losses[objective] = model, loss
        choices[name] = (arch, objective)
    return choices


def _yaml(data: dict) -> str:
    """One `key: value` line per field, values in YAML flow style."""
    lines = []
    for key, value in data.items():
        value = list(value) if isinstance(value, tuple) else value
        text = yaml.safe_dump(value, default_flow_style=True, width=1000).removesuffix("\n...\n").strip()
        lines.append(f"{key}: {text}\n")
    return "".join(lines)


def _fields(name: str, owned: set[str]) -> dict[str, Any]:
    return {k: v for k, v in PRESETS[name].items() if k in owned}


def hydra_files() -> dict[str, str]:
    """Path under experiments/conf -> text of the `model`, `loss` and `preset` groups generated
    from PRESETS (model/temporal/ is written by hand: one file per temporal module)."""
    note = "# Generated by `python -m tdmi.models.presets experiments/conf` from\n"
    note += "# tdmi/models/presets.py; edit PRESETS there, not this file.\n"
    every = "# Every {} field at its default.\n"
    model_base = {k: v for k, v in asdict(ModelConfig()).items() if k not in ("temporal", "temporal_args")}
    files = {
        "model/_base.yaml": note + every.format("ModelConfig") + _yaml(model_base),
        "loss/_base.yaml": note + every.format("LossConfig") + _yaml(asdict(LossConfig())),
    }
    for name, (arch, objective) in group_choices().items():
        if f"model/{arch}.yaml" not in files:
            row = _fields(arch, _MODEL_FIELDS - {"temporal_args"})
            head = {"defaults": ["_base", {"temporal": row.pop("temporal", ModelConfig.temporal)}, "_self_"]}
            files[f"model/{arch}.yaml"] = note + _yaml(head) + _yaml(row)
        if f"loss/{objective}.yaml" not in files:
            row = _fields(objective if objective in PRESETS else name, _LOSS_FIELDS)
            files[f"loss/{objective}.yaml"] = note + _yaml({"defaults": ["_base", "_self_"]}) + _yaml(row)
        head = {"defaults": [{"override /model": arch}, {"override /loss": objective}], "preset": name}
        files[f"preset/{name}.yaml"] = "# @package _global_\n" + note + _yaml(head)
    return files


def write_hydra_files(conf_dir: Path) -> list[Path]:
    """Write :func:`hydra_files` under ``conf_dir``, removing generated groups' stale files."""
    files = hydra_files()
    for group in ("model", "loss", "preset"):
        for stale in (conf_dir / group).glob("*.yaml"):
            if f"{group}/{stale.name}" not in files:
                stale.unlink()
    for name, text in files.items():
        (conf_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (conf_dir / name).write_text(text)
    return [conf_dir / name for name in files]


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the Hydra model, loss and preset groups from PRESETS.")
    parser.add_argument("conf_dir", type=Path, help="e.g. experiments/conf")
    conf_dir = parser.parse_args().conf_dir
    print(f"wrote {len(write_hydra_files(conf_dir))} files under {conf_dir}")


if __name__ == "__main__":
    main()
