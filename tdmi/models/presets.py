"""The paper's ablation rows as named presets: one vocabulary for the pipeline, sweep, dashboard.

Each preset sets the ModelConfig and LossConfig fields that define its row; everything else
(backbone, input size, widths) stays at the caller's defaults or overrides. Rows with RDM use
`DEFAULT_STAGES` TDE stages (the paper ablates 1-4; 3 is our default, not a figure from the
paper; the sweep tunes it). In "rdm" the noisy branch is built but receives no gradient: that row
is the module without its MI objectives.
"""

from __future__ import annotations

from dataclasses import fields

from tdmi.losses import MI_TERMS, LossConfig
from tdmi.models.tdmi import ModelConfig

DEFAULT_STAGES = 3
DEFAULT_MI_WEIGHT = 1e-3
_NO_MI = dict.fromkeys(MI_TERMS, 0.0)

PRESETS: dict[str, dict] = {
    "baseline": {"tde_stages": 0, "use_rdm": False, **_NO_MI},
    **{f"tde{s}": {"tde_stages": s, "use_rdm": False, **_NO_MI} for s in range(1, 5)},
    "rdm": {"tde_stages": DEFAULT_STAGES, "use_rdm": True, **_NO_MI},
    **{
        term: {"tde_stages": DEFAULT_STAGES, "use_rdm": True, **_NO_MI, term: DEFAULT_MI_WEIGHT}
        for term in MI_TERMS
    },
    "tdmi": {
        "tde_stages": DEFAULT_STAGES,
        "use_rdm": True,
        **dict.fromkeys(MI_TERMS, DEFAULT_MI_WEIGHT),
    },
}

ABLATION_ORDER: list[str] = ["baseline", "tde1", "tde2", "tde3", "tde4", "rdm", *MI_TERMS, "tdmi"]

_MODEL_FIELDS = {f.name for f in fields(ModelConfig)}
_LOSS_FIELDS = {f.name for f in fields(LossConfig)}


def preset_configs(name: str, **overrides) -> tuple[ModelConfig, LossConfig]:
    """The preset's configs, then `overrides` (any ModelConfig or LossConfig field) on top."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {ABLATION_ORDER}")
    values = {**PRESETS[name], **overrides}
    unknown = set(values) - _MODEL_FIELDS - _LOSS_FIELDS
    if unknown:
        raise TypeError(f"not a ModelConfig or LossConfig field: {sorted(unknown)}")
    model = ModelConfig(**{k: v for k, v in values.items() if k in _MODEL_FIELDS})
    loss = LossConfig(**{k: v for k, v in values.items() if k in _LOSS_FIELDS})
    return model, loss
