"""One training run, the seam every entry point goes through: ``train(spec, tracker, callbacks)``.

``experiments/train.py``, a sweep trial, an ablation cell, the benchmarks and the tests all call
:func:`train` with a :class:`RunSpec`, so every run logs the same params, tags, per-epoch metrics,
``best/*`` summary metrics and artifacts, writes the same checkpoints, and resumes by one policy:

- Resume: a run continues from ``out_dir/last.pt`` (``train.resume``) only when the checkpoint was
  trained with the same training-relevant config (:meth:`RunSpec.identity`: model, loss, clip and
  train settings and the data fingerprint; ``train.progress``, ``num_workers`` and ``resume`` only
  change how a run executes). Otherwise it stops before anything is trained or tracked with a
  :class:`ConfigError` that lists the keys that differ: a changed ``train.lr`` must not "resume" a
  finished run and report its old mAP, and the earlier run's MLflow status is never touched.
  Stopping rather than silently starting fresh elsewhere is our choice: the output folder is the
  DVC stage's declared output, so moving it would desynchronise the pipeline.
- Tracking: an :class:`MLflowTracker` not yet entered is opened here (reopening the MLflow run of
  the checkpoint being resumed); one already entered (a sweep's nested trial run) is used as is.
  Only rank 0 tracks and writes files (torchrun: every process calls train()).
- Files: ``metrics_file`` (best epoch, best mAP, the MLflow ``run_id``, ...) and ``curve_file``
  (the learning curve CSV) when set, written only after fit() returns, i.e. after ``best.pt`` and
  ``last.pt`` (tdmi/engine/train.py): a metrics file never names a best epoch without its file.

:meth:`RunSpec.from_dict` turns the composed config (a plain dict, e.g. Hydra's) into the
library's dataclasses and checks every value first (:mod:`tdmi.utils.config`), so a wrong type or
a nonsense value fails with one line naming the key. To add a setting, add a field to the
dataclass it belongs to (or to :class:`RunSpec`) and read it in :meth:`RunSpec.from_dict`.

- The authors' two phases (issue 14; ../shared/docs/TDMI_MODEL.md, "Training recipe"): a trained
  single-frame network is loaded first (``model.init_from``: a checkpoint of ours, whose
  ``backbone.*`` and ``head.*`` tensors load, or a pose HRNet's own names, which load into the
  backbone; :func:`init_single_frame`), then frozen (``train.freeze_backbone``: backbone and head
  when the head was loaded and the model has parts of its own; the backbone only otherwise: a
  random head must learn, and the single-frame preset keeps something to train).
  Both are recorded: the run's params hold the config, its tags what was loaded and frozen, and
  the run identity the checkpoint's digest, so a re-pretrained network is a new run.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tdmi.data.clips import ClipConfig, PoseTrackClips
from tdmi.data.datasets import load_dataset
from tdmi.data.joints import JOINT_SETS, joint_set
from tdmi.data.summary import fingerprint
from tdmi.engine.checkpoint import load_checkpoint, seed_everything
from tdmi.engine.predict import PoseTrackEvaluator
from tdmi.engine.tracking import MLflowTracker
from tdmi.engine.train import (
    Callback,
    FitResult,
    TrainConfig,
    fit,
    init_distributed,
    resolve_device,
)
from tdmi.eval.results import write_metrics_json
from tdmi.losses import MI_TERMS, LossConfig, build_loss
from tdmi.models.backbone import LoadReport, read_state_dict
from tdmi.models.presets import ABLATION_ORDER, PRESETS, preset_configs, preset_name
from tdmi.models.tdmi import SINGLE_FRAME_PARTS, TDMI, ModelConfig, build_model, load_single_frame
from tdmi.utils.config import EXECUTION_ONLY, ConfigError, check_fields, config_diff, require
from tdmi.utils.io import write_csv_rows
from tdmi.utils.paths import project_root, under_root

DEFAULT_LOADER = "posetrack"  # tdmi.data.datasets: a data config without `loader`
log = logging.getLogger(__name__)


@dataclass
class RunSpec:
    """Everything one training run needs, in the library's types."""

    model: ModelConfig
    loss: LossConfig
    clip: ClipConfig
    train: TrainConfig
    preset: str
    data_root: Path  # the dataset, read by the `dataset` loader
    out_dir: Path  # fit()'s checkpoints and the best epoch's files
    config: Mapping[str, Any]  # the composed config: MLflow params and the checkpoints' "config"
    dataset: str = DEFAULT_LOADER  # tdmi.data.datasets loader name
    metrics_file: Path | None = None  # train.json (rank 0, after training)
    curve_file: Path | None = None  # learning_curve.csv (rank 0, after training)
    init_from: Path | None = None  # model.init_from: a trained single-frame network to start from
    freeze_backbone: bool = False  # train.freeze_backbone: what init_from loaded does not learn

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], root: str | Path | None = None, files: bool = False) -> RunSpec:
        """The composed config (keys ``preset``, ``model`` with its ``temporal`` node, ``loss``,
        ``train`` with ``clip``, ``seed``, ``data.root``, ``train_dir``) as a RunSpec; the spec's
        preset is :func:`tdmi.models.presets.preset_name` of the configs, so a run that overrides a
        row's field is "<preset>+custom". Relative paths are under ``root``
        (:func:`tdmi.utils.paths.project_root`). ``files``: also write ``metrics_dir/train.json``
        and ``plots_dir/learning_curve.csv``. Raises ConfigError naming the first bad key."""
        root = project_root(root)
        model = dict(_section(config, "model"))
        init_from = _init_from(model.pop("init_from", None), root)
        preset = config.get("preset")
        require(preset in PRESETS, "preset", preset, f"must be one of {ABLATION_ORDER}")
        model_cfg, loss_cfg = _model_and_loss(preset, model, dict(_section(config, "loss")))
        train = dict(_section(config, "train"))
        freeze = train.pop("freeze_backbone", False)
        require(isinstance(freeze, bool), "train.freeze_backbone", freeze, "must be true or false")
        require(
            not freeze or init_from is not None,
            "train.freeze_backbone",
            freeze,
            "needs model.init_from (a trained single-frame network to freeze)",
        )
        clip_cfg = _clip(dict(train.pop("clip", {})))
        require(
            len(clip_cfg.offsets) == model_cfg.num_frames,
            "train.clip.offsets",
            list(clip_cfg.offsets),
            f"must give model.num_frames={model_cfg.num_frames} frames (one offset per frame)",
        )
        seed = config.get("seed", 0)
        require(isinstance(seed, int) and not isinstance(seed, bool), "seed", seed, "must be an integer")
        train_cfg = TrainConfig(seed=seed, **train)
        data = _section(config, "data")
        require(isinstance(data.get("root"), str), "data.root", data.get("root"), "must be a path")
        loader = data.get("loader") or DEFAULT_LOADER
        require(loader in JOINT_SETS, "data.loader", loader, f"must be one of {sorted(JOINT_SETS)}")
        model_cfg.num_joints = joint_set(loader).num_joints  # the dataset's joints, not model.num_joints
        require(isinstance(config.get("train_dir"), str), "train_dir", config.get("train_dir"), "must be a path")
        spec = cls(
            model_cfg,
            loss_cfg,
            clip_cfg,
            train_cfg,
            preset_name(model_cfg, loss_cfg, preset),
            under_root(data["root"], root),
            under_root(config["train_dir"], root),
            dict(config),
            loader,
            init_from=init_from,
            freeze_backbone=freeze,
        )
        if files:
            spec.metrics_file = under_root(config.get("metrics_dir", "metrics"), root) / "train.json"
            spec.curve_file = under_root(config.get("plots_dir", "plots"), root) / "learning_curve.csv"
        return spec

    def identity(self, data_fingerprint: str) -> dict[str, Any]:
        """What decides a run's result: the configs (less EXECUTION_ONLY train fields) and the data.
        Equal identities may resume each other; tdmi/studies/ablation.py hashes it per cell."""
        train = {k: v for k, v in asdict(self.train).items() if k not in EXECUTION_ONLY}
        identity = {
            "data": data_fingerprint,
            "model": asdict(self.model),
            "loss": asdict(self.loss),
            "clip": asdict(self.clip),
            "train": train,
        }
        if self.init_from is not None:  # only then: runs from scratch keep the identities they had
            identity["init"] = {"digest": file_digest(self.init_from), "freeze_backbone": self.freeze_backbone}
        return identity


@dataclass
class RunResult(FitResult):
    """fit()'s result and the MLflow run that recorded it (None when untracked)."""

    run_id: str | None = None


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    require(isinstance(value, Mapping), key, value, "must be a config group (a mapping)")
    return value


def _model_and_loss(preset: str, model: dict[str, Any], loss: dict[str, Any]) -> tuple[ModelConfig, LossConfig]:
    """``model.*`` (ModelConfig fields, the temporal module as the node ``model.temporal``:
    ``name`` and the module's own settings) and ``loss.*`` (LossConfig fields) checked, then
    ``preset``'s configs with them on top."""
    require(
        "temporal_args" not in model,
        "model.temporal_args",
        model.get("temporal_args"),
        "is not a setting: a temporal module's settings are the other keys of model.temporal",
    )
    if "temporal" in model:  # absent: the preset's module
        temporal = model.pop("temporal")
        require(
            isinstance(temporal, Mapping) and isinstance(temporal.get("name"), str),
            "model.temporal",
            temporal,
            "must be a temporal module's config, model/temporal=<name> (a mapping with `name`)",
        )
        model.update(temporal=temporal["name"], temporal_args={k: v for k, v in temporal.items() if k != "name"})
    check_fields(ModelConfig, model, "model.")
    check_fields(LossConfig, loss, "loss.")
    for term in MI_TERMS:
        value = loss.get(term, PRESETS[preset].get(term, 0.0))
        require(math.isfinite(value) and value >= 0, f"loss.{term}", value, "must be a weight >= 0 (0 = term off)")
    stages = model.get("tde_stages", PRESETS[preset].get("tde_stages", 0))
    require(stages >= 0, "model.tde_stages", stages, "must be an integer >= 0 (0 = no temporal encoder)")
    return preset_configs(preset, **model, **loss)


def _init_from(value: Any, root: Path) -> Path | None:
    if value is None:
        return None
    require(isinstance(value, str), "model.init_from", value, "must be a checkpoint path or null")
    path = under_root(value, root)
    require(
        path.is_file(),
        "model.init_from",
        value,
        "does not exist: run the pretrain stage (dvc repro pretrain, "
        "or python experiments/pretrain.py) or give an existing pose checkpoint",
    )
    return path


def file_digest(path: Path) -> str:
    """16 hex digits of sha256 over the file's bytes (which checkpoint a run started from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def init_single_frame(model: TDMI, spec: RunSpec) -> dict[str, str]:
    """Load ``spec.init_from`` into ``model`` and freeze it per ``spec.freeze_backbone``; the MLflow
    tags saying what was done (none without init_from). ConfigError when nothing matches. The head
    stays trainable when it was not loaded, or when it is all there is to learn (single_frame: the
    same recipe, a frozen backbone and the same budget, without temporal parts)."""
    if spec.init_from is None:
        return {}
    try:
        state = read_state_dict(str(spec.init_from))
    except Exception as err:  # torch.load's errors vary by what the file is
        raise ConfigError("model.init_from", str(spec.init_from), f"is not a readable checkpoint ({err})") from None
    report: LoadReport = load_single_frame(model, state)
    if not report.loaded:  # a pose HRNet's own names (no "backbone." prefix): the backbone only
        report = load_single_frame(model, {f"backbone.{k}": v for k, v in state.items()})
    require(
        bool(report.loaded),
        "model.init_from",
        str(spec.init_from),
        "holds no tensor of the single-frame network (backbone.*/head.* of ours, or HRNet's own names)",
    )
    frozen = ""
    if spec.freeze_backbone:
        more = any(p.requires_grad for n, p in model.named_parameters() if n.split(".", 1)[0] not in SINGLE_FRAME_PARTS)
        model.freeze_single_frame(head=more and not any(k.startswith("head.") for k in report.missing))
        frozen = ",".join(model.frozen)
    log.info(
        "init_from %s: %d tensors loaded, %d missing (first: %s), %d unexpected; frozen: %s",
        spec.init_from,
        len(report.loaded),
        len(report.missing),
        report.missing[:3],
        len(report.unexpected),
        frozen or "nothing",
    )
    return {
        "init_from": str(spec.init_from),
        "init_digest": file_digest(spec.init_from),
        "init_loaded": str(len(report.loaded)),
        "init_missing": str(len(report.missing)),
        "init_unexpected": str(len(report.unexpected)),
        "frozen": frozen or "none",
    }


def _clip(clip: dict[str, Any]) -> ClipConfig:
    check_fields(ClipConfig, clip, "train.clip.")
    defaults = ClipConfig()
    for key in ("sigma", "box_pad"):
        value = clip.get(key, getattr(defaults, key))
        require(math.isfinite(value) and value > 0, f"train.clip.{key}", value, "must be a number > 0")
    size = clip.get("input_size", defaults.input_size)
    require(all(v > 0 for v in size), "train.clip.input_size", list(size), "must be [width, height] > 0")
    try:
        return ClipConfig(**clip)
    except ValueError as err:
        raise ConfigError("train.clip", clip, str(err)) from None


def resumable(spec: RunSpec, identity: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint ``spec`` resumes from (empty when none, or ``train.resume`` is off); a
    ConfigError naming the differing keys when it was trained with another config."""
    last = spec.out_dir / "last.pt"
    if not (spec.train.resume and last.exists()):
        return {}
    ckpt = load_checkpoint(last)
    recorded = ckpt.get("run_identity")
    differs = config_diff(recorded, identity) if recorded is not None else ["its config was not recorded"]
    if differs:
        raise ConfigError(
            "train_dir",
            str(spec.out_dir),
            f"its last.pt was trained with another config "
            f"({'; '.join(differs)}); give another train_dir, or train.resume=false to overwrite it",
        )
    return ckpt


def train(
    spec: RunSpec, tracker: MLflowTracker | None = None, callbacks: Sequence[Callback] = (), **tags: str
) -> RunResult:
    """Train ``spec`` (module docstring); ``tags`` go on the MLflow run beside the usual ones."""
    rank, _ = init_distributed()
    joints = joint_set(spec.dataset)
    train_videos = load_dataset(spec.dataset, spec.data_root, "train")
    train_set = PoseTrackClips(train_videos, spec.clip, train=True, joints=joints)
    val_set = PoseTrackClips(load_dataset(spec.dataset, spec.data_root, "val"), spec.clip, joints=joints)
    data_fingerprint = fingerprint(spec.data_root / "annotations")
    identity = spec.identity(data_fingerprint)
    resumed = resumable(spec, identity)
    seed_everything(spec.train.seed)
    model = build_model(spec.model)
    tags = {**init_single_frame(model, spec), **tags}  # before fit(): a resumed last.pt loads over it
    loss = build_loss(spec.loss, model)
    extra = {
        "config": dict(spec.config),
        "model_config": asdict(spec.model),
        "loss_config": asdict(spec.loss),
        "clip_config": asdict(spec.clip),
        "run_identity": identity,
    }
    tracker = tracker if rank == 0 else None
    opens = tracker is not None and not tracker.active
    if opens and tracker.run_id is None:
        tracker.run_id = resumed.get("mlflow_run_id")
    with tracker if opens else contextlib.nullcontext():
        if tracker is not None:
            extra["mlflow_run_id"] = tracker.run_id
            tracker.log_config(spec.config)
            tracker.log_missing_epochs(resumed["progress"]["history"] if resumed else [])
            tracker.set_tags(data_fingerprint, str(resolve_device(spec.train.device)), spec.preset, **tags)
        evaluator = PoseTrackEvaluator.for_training(val_set, spec.train)
        fitted = fit(
            model,
            loss,
            train_set,
            evaluator,
            spec.train,
            spec.out_dir,
            [tracker, *callbacks] if tracker else callbacks,
            extra,
        )
        result = RunResult(**vars(fitted), run_id=tracker.run_id if tracker else None)
        if rank == 0:
            write_outputs(result, spec)
        if tracker is not None:
            tracker.log_result(result)
    return result


def write_outputs(result: RunResult, spec: RunSpec) -> None:
    """``spec.metrics_file`` and ``spec.curve_file``, when set."""
    if spec.metrics_file is not None:
        write_metrics_json(
            {
                "best_epoch": result.best_epoch,
                "best_mAP": result.best_metric,
                "epochs": len(result.history),
                "skipped_steps": result.skipped_steps,
                "run_id": result.run_id,
                "best": result.best_row,
                "last": result.history[-1] if result.history else {},
            },
            spec.metrics_file,
        )
    if spec.curve_file is not None:
        write_csv_rows(result.history, spec.curve_file)
