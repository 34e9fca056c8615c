"""The authors' two-phase recipe as composed configs (issue 14; ../shared/docs/TDMI_MODEL.md,
"Training recipe"): a single-frame pose network is trained first, then frozen, and only the
temporal parts learn on top of it.

The pipeline (dvc.yaml: pretrain -> train) and the ablation grid (tdmi/studies/grid.py) build their
runs from these functions, so both follow one recipe. The input is the composed config (a plain
dict) with a ``pretrain`` section (``epochs``, ``train_dir``, ``checkpoint``, ``freeze_backbone``);
nothing here trains.

- Phase 1 (:func:`pretrain_spec`): the ``single_frame`` preset with the ``train`` settings for
  ``pretrain.epochs`` epochs into ``pretrain.train_dir``, from scratch, except ``pretrain.lr`` and
  ``pretrain.steps_per_epoch`` where given (a network learnt from scratch and temporal parts
  learnt on a frozen one want different budgets: measured, README "Results"); its metrics go to
  ``metrics_dir``/pretrain.json and ``plots_dir``/pretrain_curve.csv.
- Skipped (:func:`pretrain_skipped`) when ``pretrain.checkpoint`` names another file than phase 1's
  own ``best.pt``: the user gave a trained pose network (paper scale: an HRNet trained for pose).
- Phase 2 (:func:`temporal_config`): the config with ``model.init_from = pretrain.checkpoint`` and
  ``train.freeze_backbone = pretrain.freeze_backbone`` (tdmi/run.py loads and freezes).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tdmi.eval.results import write_metrics_json
from tdmi.models.presets import SINGLE_FRAME, preset_sections
from tdmi.run import RunSpec
from tdmi.utils.config import require, require_count
from tdmi.utils.paths import project_root, under_root

PHASE1_TRAIN_KEYS = ("lr", "steps_per_epoch")  # pretrain.<key> replaces train.<key> in phase 1


def with_preset(config: Mapping[str, Any], preset: str) -> dict[str, Any]:
    """A copy of ``config`` with ``preset``'s row of tdmi.models.presets, as ``preset=<preset>``
    gives: every field of ``model`` and ``loss`` the row decides is the row's; scale fields and
    run-level keys (``model.init_from``) stay the config's."""
    out = copy.deepcopy(dict(config))
    for key, section in preset_sections(preset).items():
        out[key] = {**out.get(key, {}), **section}
    out["preset"] = preset
    return out


def own_checkpoint(config: Mapping[str, Any]) -> str:
    """Phase 1's output: ``pretrain.train_dir``/best.pt."""
    return f"{config['pretrain']['train_dir']}/best.pt"


def pretrain_skipped(config: Mapping[str, Any]) -> bool:
    """True when ``pretrain.checkpoint`` is a network the user gave, not phase 1's output."""
    return Path(config["pretrain"]["checkpoint"]) != Path(own_checkpoint(config))


def pretrain_spec(config: Mapping[str, Any], root: str | Path | None = None) -> RunSpec:
    """Phase 1's run: the single-frame network, from scratch, for ``pretrain.epochs`` epochs."""
    pretrain = config["pretrain"]
    epochs = require_count(pretrain.get("epochs"), "pretrain.epochs")
    cell = with_preset(config, SINGLE_FRAME)
    cell["model"]["init_from"] = None
    own = {key: pretrain[key] for key in PHASE1_TRAIN_KEYS if key in pretrain}  # phase 1's own budget
    cell["train"] = {**cell["train"], **own, "epochs": epochs, "freeze_backbone": False}
    cell["train_dir"] = pretrain["train_dir"]
    spec = RunSpec.from_dict(cell, root)
    root = project_root(root)
    return dataclasses.replace(
        spec,
        metrics_file=under_root(config.get("metrics_dir", "metrics"), root) / "pretrain.json",
        curve_file=under_root(config.get("plots_dir", "plots"), root) / "pretrain_curve.csv",
    )


def temporal_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Phase 2: ``config`` starting from ``pretrain.checkpoint``, frozen as ``pretrain.freeze_backbone`` says."""
    out = copy.deepcopy(dict(config))
    out["model"] = {**out["model"], "init_from": config["pretrain"]["checkpoint"]}
    out["train"] = {**out["train"], "freeze_backbone": config["pretrain"]["freeze_backbone"]}
    return out


def record_skip(config: Mapping[str, Any], root: str | Path | None = None) -> Path:
    """Phase 1 skipped: check the given network exists, say so in ``metrics_dir``/pretrain.json and
    in ``pretrain.train_dir``/SKIPPED (the stage's output must exist); returns the checkpoint."""
    root = project_root(root)
    given = under_root(config["pretrain"]["checkpoint"], root)
    require(
        given.is_file(),
        "pretrain.checkpoint",
        config["pretrain"]["checkpoint"],
        f"does not exist: give an existing pose checkpoint, or {own_checkpoint(config)} to pretrain one",
    )
    note = f"pretrain skipped: pretrain.checkpoint={config['pretrain']['checkpoint']} is a given network\n"
    out = under_root(config["pretrain"]["train_dir"], root)
    out.mkdir(parents=True, exist_ok=True)
    (out / "SKIPPED").write_text(note)
    write_metrics_json(
        {"skipped": True, "checkpoint": config["pretrain"]["checkpoint"]},
        under_root(config.get("metrics_dir", "metrics"), root) / "pretrain.json",
    )
    return given
