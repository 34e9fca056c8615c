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

The presets exist once, here: `python -m tdmi.models.presets experiments/conf/model` writes the
Hydra group (one YAML per preset plus `_base.yaml` with every field's default) and
tests/test_presets.py fails when the files differ from what this module generates.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from pathlib import Path

import yaml

from tdmi.losses import MI_TERMS, LossConfig
from tdmi.models.tdmi import ModelConfig

DEFAULT_STAGES = 3
BOUNDS_WEIGHTS = {"mi_motion": 8e-3, "mi_multimodal": 0.14, "mi_regularisation": 0.14}
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


def preset_configs(name: str, **overrides) -> tuple[ModelConfig, LossConfig]:
    """The preset's configs, then `overrides` (any ModelConfig or LossConfig field) on top."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset model.preset={name!r}; known: {ABLATION_ORDER}")
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

    A run of `model=tdmi model.use_rdm=false` is "tdmi+custom", never "tdmi".
    """
    row = _row(model, loss)
    candidates = [declared] if declared in PRESETS else ABLATION_ORDER
    for name in candidates:
        if _row(*preset_configs(name)) == row:
            return name
    return f"{declared}+custom" if declared else "custom"


def _yaml(data: dict) -> str:
    """One `key: value` line per field, values in YAML flow style."""
    lines = []
    for key, value in data.items():
        value = list(value) if isinstance(value, tuple) else value
        text = yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()
        lines.append(f"{key}: {text}\n")
    return "".join(lines)


def hydra_files() -> dict[str, str]:
    """File name -> text of the Hydra `model` group generated from PRESETS."""
    note = "# Generated by `python -m tdmi.models.presets experiments/conf/model` from\n"
    note += "# tdmi/models/presets.py; edit PRESETS there, not this file.\n"
    base = {**asdict(ModelConfig()), **asdict(LossConfig())}
    files = {"_base.yaml": note + "# Every ModelConfig and LossConfig field at its default.\n" + _yaml(base)}
    for name, row in PRESETS.items():
        head = {"defaults": ["_base", "_self_"], "preset": name}
        files[f"{name}.yaml"] = note + _yaml(head) + _yaml(row)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the Hydra model group from PRESETS.")
    parser.add_argument("out_dir", type=Path, help="e.g. experiments/conf/model")
    out_dir = parser.parse_args().out_dir
    files = hydra_files()
    for stale in set(p.name for p in out_dir.glob("*.yaml")) - set(files):
        (out_dir / stale).unlink()
    for name, text in files.items():
        (out_dir / name).write_text(text)
    print(f"wrote {len(files)} files to {out_dir}")


if __name__ == "__main__":
    main()
