"""fit(): the training loop as small steps on a :class:`Trainer` holding a typed :class:`TrainState`:
setup -> resume -> epochs (one epoch, validate, checkpoint, callbacks) -> result.

- Validation is passed in: any :class:`Evaluator` (``tdmi.engine.predict.PoseTrackEvaluator`` for
  PoseTrack mAP), so fit() knows no file format. The best epoch is the one of highest
  ``evaluator.metric``; that epoch's files (e.g. predictions) are written beside ``best.pt``.

- Optimiser: AdamW over the model's *and* the loss's parameters (the MI estimators learn with the
  model, tdmi/losses.py). LR schedule per epoch: cosine to 0 over ``epochs``, or steps at
  ``lr_steps`` (no steps = constant). Gradient clipping (``grad_clip``) applies to the model and to
  the MI estimators separately, each logged (``grad_norm``, ``estimator_grad_norm``).
- Mixed precision: ``amp="bf16"`` (CPU or CUDA) or ``"fp16"`` (CUDA, with a GradScaler).
  ``channels_last`` converts the model's weights; convolutions then run NHWC (the 5-D clip is
  flattened to frames inside the model, and conv outputs follow the weights' layout).
- Non-finite loss: the step is skipped (no backward, no update) and counted; ``max_nonfinite``
  skips in a row stop the run with :class:`NonFiniteLossError` naming the step and the first loss
  term (in the loss's order, heatmap first) that went bad. A non-finite gradient norm counts the
  same way, except under fp16, where the GradScaler skips such steps by design.
- ``epochs=0`` trains nothing: the starting network (e.g. a pretrained single-frame network,
  tdmi/run.py ``init_from``) is validated once as "epoch 0" and recorded like a trained run
  (history, best.pt, the evaluator's files, callbacks): the recipe's as-is baseline (grid.py).
- Checkpoints: ``out_dir/last.pt`` after every epoch, ``out_dir/best.pt`` when val mAP improves,
  both atomic (checkpoint.py). With ``resume`` a run continues from ``last.pt``: weights,
  optimiser, scheduler, scaler, epoch, best, history and RNG states, so the result equals an
  uninterrupted run's. The data order is a function of (seed, epoch) through the sampler.
  Order of writes in an improving epoch: ``best.pt``, the best epoch's files, then ``last.pt``
  (and the caller's metrics files only after fit() returns), so a failure at any point (disk
  full) leaves a ``last.pt`` whose best epoch has its ``best.pt``: the resume redoes the epoch.
  Temporary files a killed save left (``.last.pt.*.tmp``) are removed when a run starts.
- Several processes (``torchrun``): DistributedDataParallel over model + loss, a
  DistributedSampler, ``batch_size`` is the *global* batch. Logged loss terms are means over
  processes (one all-reduce per step, which also makes every process skip the same steps).
  Validation predictions are gathered and every process computes the same metrics, so callbacks
  (e.g. Optuna pruning) decide alike everywhere; only rank 0 writes files.
- BatchNorm (``bn``): "batch" normalises with each process's own batch (the usual DDP behaviour;
  with few clips per GPU the statistics get noisy), "sync" with the whole global batch
  (SyncBatchNorm, CUDA only; one process = plain BN), "frozen" with the running statistics in
  training too (eval-mode BN; its affine weights still learn): for fine-tuning from a pretrained
  backbone, and what makes a DDP run equal a one-process run on CPU (tests/test_ddp.py).
- ``find_unused_parameters``: DDP's search, every step, for parameters that got no gradient. A
  preset that builds a part its loss never reaches (e.g. "rdm": the noisy branch without its MI
  terms) needs it, or DDP stops with "Expected to have finished reduction"; for every other preset
  it is a wasted graph traversal per step. None (default) decides by :func:`unused_parameters`, one
  probe step before training, so no preset has to declare which of its parts go unused.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from tdmi.data.clips import normalize_clips
from tdmi.engine.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from tdmi.utils.config import check_fields, require

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
SCHEDULES = ("cosine", "step")
BN_MODES = ("batch", "sync", "frozen")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 16  # global: split across processes under torchrun
    steps_per_epoch: int | None = None  # cap on steps per epoch; None = the whole training set
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | step
    lr_steps: tuple[int, ...] = ()  # step: after these epochs lr *= lr_factor
    lr_factor: float = 0.1
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping (the norm is still logged)
    amp: str = "none"  # none | bf16 | fp16
    channels_last: bool = False
    bn: str = "batch"  # batch | sync | frozen (module docstring)
    find_unused_parameters: bool | None = None  # DDP; None: True when unused_parameters() finds any
    val_every: int = 1  # validate every N epochs and after the last one
    val_batch_size: int | None = None  # None = batch_size
    flip_test: bool = False
    num_workers: int = 0
    max_nonfinite: int = 20  # consecutive skipped steps that stop the run
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms (warn-only)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    resume: bool = True  # continue from out_dir/last.pt when it exists
    progress: bool = True

    def __post_init__(self) -> None:
        """Types first (``train.epochs=abc``), then ranges; each a ConfigError naming the key."""
        if isinstance(self.lr_steps, list):
            self.lr_steps = tuple(self.lr_steps)
        check_fields(TrainConfig, asdict(self), "train.")
        for key, allowed in (("schedule", SCHEDULES), ("bn", BN_MODES), ("amp", tuple(AMP_DTYPES))):
            require(getattr(self, key) in allowed, f"train.{key}", getattr(self, key), f"must be one of {allowed}")
        require(self.epochs >= 0, "train.epochs", self.epochs, "must be an integer >= 0 (0: evaluate the start as is)")
        for key in ("batch_size", "val_every", "max_nonfinite"):
            require(getattr(self, key) >= 1, f"train.{key}", getattr(self, key), "must be an integer >= 1")
        require(
            self.steps_per_epoch is None or self.steps_per_epoch >= 1,
            "train.steps_per_epoch",
            self.steps_per_epoch,
            "must be an integer >= 1, or null for the whole training set",
        )
        require(
            self.val_batch_size is None or self.val_batch_size >= 1,
            "train.val_batch_size",
            self.val_batch_size,
            "must be an integer >= 1, or null for train.batch_size",
        )
        require(math.isfinite(self.lr) and self.lr > 0, "train.lr", self.lr, "must be a number > 0")
        for key in ("weight_decay", "grad_clip", "lr_factor"):
            value = getattr(self, key)
            require(math.isfinite(value) and value >= 0, f"train.{key}", value, "must be a number >= 0")
        require(self.num_workers >= 0, "train.num_workers", self.num_workers, "must be an integer >= 0")


class Callback(Protocol):
    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called on every process after each epoch's checkpoint; raising stops the run."""


@dataclass
class EpochValidation:
    """One validation: flat metrics (fit() prefixes them with "val/") and how to write this
    epoch's files into a folder (called on rank 0 only, when the epoch is the best so far)."""

    metrics: dict[str, float]
    write: Callable[[Path], None] = lambda out_dir: None


class Evaluator(Protocol):
    """Validation passed into fit(): ``metric`` (a key of the metrics) decides the best epoch."""

    metric: str

    def __call__(
        self, model: nn.Module, device: torch.device, autocast: contextlib.AbstractContextManager
    ) -> EpochValidation:
        """Evaluate ``model`` (every process calls this; all must return the same metrics)."""

    def files(self, out_dir: Path) -> dict[str, Path]:
        """The files :attr:`EpochValidation.write` writes into ``out_dir``, by name."""


class NonFiniteLossError(RuntimeError):
    pass


@dataclass
class TrainState:
    """Where a run stands: what a checkpoint's "progress" holds (plain types only)."""

    epoch: int = 0  # the last finished epoch
    step: int = 0  # optimiser steps tried, over all epochs
    best_epoch: int | None = None
    best_metric: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)  # one row per finished epoch
    skipped: int = 0  # non-finite steps skipped, over all epochs
    bad_in_row: int = 0  # non-finite steps in a row, up to now

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> TrainState:
        return cls(**state)


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one row per epoch: "epoch", "lr", "train/*", "val/*"
    out_dir: Path
    best_epoch: int | None = None
    best_metric: float | None = None  # val mAP of best_epoch
    skipped_steps: int = 0
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)  # last, best, predictions, per_joint

    @property
    def best_row(self) -> dict[str, float]:
        """The history row of the best epoch (empty when nothing was validated)."""
        return next((row for row in self.history if row["epoch"] == self.best_epoch), {})

    def summary(self) -> str:
        last = self.history[-1] if self.history else {}
        lines = [
            f"trained {len(self.history)} epochs in {self.seconds:.1f} s "
            f"({last.get('train/clips_per_s', float('nan')):.1f} clips/s in the last epoch), "
            f"{self.skipped_steps} non-finite steps skipped",
            f"final train loss {last.get('train/total', float('nan')):.4g}",
        ]
        if self.best_epoch is not None:
            lines.append(f"best val mAP {self.best_metric:.2f} at epoch {self.best_epoch}")
        lines += [f"{name}: {path}" for name, path in self.files.items()]
        return "\n".join(lines)


class _Step(nn.Module):
    """Model and loss as one module, so DDP also synchronises the loss's own parameters."""

    def __init__(self, model: nn.Module, loss: nn.Module):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, clip: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.loss(self.model(clip), target, weight)


def init_distributed() -> tuple[int, int]:
    """Join the process group torchrun describes (NCCL on CUDA, else gloo); (rank, world size)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank_world()


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def autocast_for(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """Autocast for TrainConfig.amp on ``device`` (disabled for "none")."""
    dtype = AMP_DTYPES[amp]
    if dtype is torch.float16 and device.type != "cuda":
        raise ValueError("TrainConfig.amp='fp16' needs CUDA; use 'bf16' on CPU")
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1))
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.lr_steps), gamma=cfg.lr_factor)


def unused_parameters(step: nn.Module, sample: dict[str, Any], device: torch.device) -> list[str]:
    """Trainable parameters that no gradient reaches in a training step on ``sample`` (twice, as a
    batch of two: InfoNCE needs a negative); ``step``'s weights and buffers are restored after."""
    state = copy.deepcopy(step.state_dict())
    batch = [torch.stack([torch.as_tensor(sample[k])] * 2).to(device) for k in ("clip", "target", "target_weight")]
    step.train()
    step(normalize_clips(batch[0]), *batch[1:])["total"].backward()
    unused = [name for name, p in step.named_parameters() if p.requires_grad and p.grad is None]
    step.zero_grad(set_to_none=True)
    step.load_state_dict(state)
    return unused


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Delete the ``.<name>.pt.*.tmp`` files a save killed mid-write left (checkpoint.py)."""
    stale = sorted(out_dir.glob(".*.pt.*.tmp")) if out_dir.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


class Trainer:
    """One training run's parts and its :class:`TrainState`; :meth:`run` is fit()."""

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        train_set: Dataset,
        evaluator: Evaluator | None,
        cfg: TrainConfig,
        out_dir: str | Path,
        callbacks: Sequence[Callback] = (),
        extra: dict[str, Any] | None = None,
    ):
        """Setup: device, precision, DDP, optimiser, scheduler, loader (no training yet)."""
        self.start = time.perf_counter()
        self.rank, self.world = rank_world()
        if cfg.batch_size % self.world:
            raise ValueError(f"TrainConfig.batch_size {cfg.batch_size} must be divisible by the {self.world} processes")
        self.cfg, self.evaluator, self.callbacks, self.extra = cfg, evaluator, list(callbacks), extra or {}
        self.device = device = resolve_device(cfg.device)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.out_dir = Path(out_dir)
        if self.rank == 0:
            remove_stale_temporaries(self.out_dir)
        if cfg.bn == "sync" and self.world > 1:
            if device.type != "cuda":
                raise ValueError("TrainConfig.bn='sync' needs CUDA (SyncBatchNorm); use 'frozen' or 'batch' on CPU")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.autocast = autocast_for(device, cfg.amp)
        self.model, self.loss = model.to(device), loss.to(device)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        step_module = _Step(model, loss)
        self.net: nn.Module = step_module
        if self.world > 1:
            find_unused = cfg.find_unused_parameters
            if find_unused is None:
                find_unused = bool(unused_parameters(step_module, train_set[0], device))
            self.net = DistributedDataParallel(step_module, find_unused_parameters=find_unused)
        groups = {
            "grad_norm": [p for p in model.parameters() if p.requires_grad],
            "estimator_grad_norm": [p for p in loss.parameters() if p.requires_grad],
        }
        self.groups = {name: group for name, group in groups.items() if group}
        params = [p for p in step_module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = _scheduler(self.optimizer, cfg)
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
        self.state = TrainState()
        self.train_set = train_set
        self.show = cfg.progress and self.rank == 0

    @property
    def files(self) -> dict[str, Path]:
        """The run's files so far: last.pt, and best.pt with the evaluator's files once there is a best epoch."""
        files = {"last": self.out_dir / "last.pt"}
        if self.state.best_epoch is not None:
            files["best"] = self.out_dir / "best.pt"
            files.update(self.evaluator.files(self.out_dir) if self.evaluator else {})
        return files

    def resume(self) -> None:
        """Continue from ``last.pt`` when ``cfg.resume`` and it exists; else seed a fresh run."""
        last = self.out_dir / "last.pt"
        if not (self.cfg.resume and last.exists()):
            seed_everything(self.cfg.seed)
            return
        ckpt = load_checkpoint(last, self.device)
        for name in ("model", "loss", "optimizer", "scheduler", "scaler"):
            getattr(self, name).load_state_dict(ckpt[name])
        self.state = TrainState.from_state_dict(ckpt["progress"])
        set_rng_state(ckpt["rng"])

    def _loader(self) -> tuple[DataLoader, DistributedSampler]:
        cfg = self.cfg
        sampler = DistributedSampler(
            self.train_set, num_replicas=self.world, rank=self.rank, shuffle=True, seed=cfg.seed, drop_last=True
        )
        loader = DataLoader(
            self.train_set,
            batch_size=cfg.batch_size // self.world,
            sampler=sampler,
            num_workers=cfg.num_workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            persistent_workers=cfg.num_workers > 0,
        )
        if len(loader) == 0:
            raise ValueError(
                f"{len(self.train_set)} training clips make no full batch of {cfg.batch_size // self.world} per process"
            )
        return loader, sampler

    def run(self) -> FitResult:
        """Resume, then epoch by epoch: train, validate, checkpoint, callbacks."""
        self.resume()
        loader, sampler = self._loader()
        if self.cfg.epochs == 0 and not self.state.history:  # the starting network as it is, as a run
            self.end_epoch(0, {"epoch": 0, "lr": 0.0})
        for epoch in range(self.state.epoch + 1, self.cfg.epochs + 1):
            sampler.set_epoch(epoch)
            metrics = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], **self.train_epoch(loader, epoch)}
            self.scheduler.step()
            self.end_epoch(epoch, metrics)
        result = FitResult(
            history=self.state.history,
            out_dir=self.out_dir,
            best_epoch=self.state.best_epoch,
            best_metric=self.state.best_metric,
            skipped_steps=self.state.skipped,
            seconds=time.perf_counter() - self.start,
            files=self.files,
        )
        if self.show:
            tqdm.write(result.summary())
        return result

    def end_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Validate, record the epoch (best or not), checkpoint, call back."""
        validation = self.validate(epoch)
        improved = validation is not None and self._improves(validation.metrics[self.evaluator.metric])
        if validation is not None:
            metrics.update({f"val/{k}": v for k, v in validation.metrics.items()})
        if improved:
            self.state.best_epoch, self.state.best_metric = epoch, validation.metrics[self.evaluator.metric]
        self.state.history.append(metrics)
        self.state.epoch = epoch
        self.checkpoint(validation if improved else None)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, metrics)

    def _improves(self, value: float) -> bool:
        return self.state.best_metric is None or value > self.state.best_metric

    def validate(self, epoch: int) -> EpochValidation | None:
        """The evaluator's result on validation epochs (every ``val_every`` and the last); else None."""
        if self.evaluator is None or (epoch % self.cfg.val_every and epoch != self.cfg.epochs):
            return None
        return self.evaluator(self.model, self.device, self.autocast)

    def checkpoint(self, best: EpochValidation | None) -> None:
        """Rank 0: ``best.pt`` and the best epoch's files when ``best``, then ``last.pt`` (docstring)."""
        if self.rank != 0:
            return
        state = {
            "model": self.model.state_dict(),
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "progress": self.state.state_dict(),
            "rng": rng_state(),
            **self.extra,
        }
        if best is not None:
            save_checkpoint(state, self.out_dir / "best.pt")
            best.write(self.out_dir)
        save_checkpoint(state, self.out_dir / "last.pt")

    def train_epoch(self, loader: DataLoader, epoch: int) -> dict[str, float]:
        """One pass over ``loader``; mean loss terms, grad norms (per parameter group), clips/s, skips."""
        cfg = self.cfg
        self.net.train()
        if cfg.bn == "frozen":
            for module in self.net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        steps = min(len(loader), cfg.steps_per_epoch or len(loader))
        sums: dict[str, float] = defaultdict(float)
        done = skipped = clips = 0
        tic = time.perf_counter()
        bar = tqdm(
            loader,
            total=steps,
            desc=f"epoch {epoch}/{cfg.epochs}",
            disable=not self.show,
            leave=False,
            dynamic_ncols=True,
        )
        for i, batch in enumerate(bar):
            if i == steps:
                break
            values = self.train_step(batch, epoch, i)
            if values is None:
                skipped += 1
                continue
            done += 1
            clips += batch["clip"].shape[0] * self.world
            for k, v in values.items():
                sums[k] += v
            if self.show:
                rate = clips / (time.perf_counter() - tic)
                bar.set_postfix(
                    {**{k: f"{v / done:.3g}" for k, v in sums.items()}, "clips/s": f"{rate:.1f}"}, refresh=False
                )
        seconds = time.perf_counter() - tic
        out = {f"train/{k}": v / done for k, v in sums.items()} if done else {}
        return {**out, "train/clips_per_s": clips / seconds, "train/skipped": float(skipped)}

    def train_step(self, batch: dict[str, torch.Tensor], epoch: int, index: int) -> dict[str, float] | None:
        """One optimiser step; the loss terms (means over processes) and grad norms, or None when
        the step was skipped as non-finite (NonFiniteLossError after ``max_nonfinite`` in a row)."""
        cfg, state, device = self.cfg, self.state, self.device
        state.step += 1
        clip = normalize_clips(batch["clip"].to(device, non_blocking=True))
        target = batch["target"].to(device, non_blocking=True)
        weight = batch["target_weight"].to(device, non_blocking=True)
        with self.autocast:
            terms = self.net(clip, target, weight)
        values = torch.stack([v.detach().float() for v in terms.values()])
        if self.world > 1:
            dist.all_reduce(values)
            values /= self.world
        values = dict(zip(terms, values.tolist(), strict=True))
        bad = next((k for k, v in values.items() if not math.isfinite(v)), None)
        if bad is None:
            self.scaler.scale(terms["total"]).backward()
            self.scaler.unscale_(self.optimizer)
            # The model and the MI estimators are clipped apart: CLUB's q-network fits its own
            # likelihood with gradients ~100x the model's, and one global clip would shrink the
            # pose model's update by that factor.
            for name, group in self.groups.items():
                values[name] = float(torch.nn.utils.clip_grad_norm_(group, cfg.grad_clip or math.inf))
                if not self.scaler.is_enabled() and not math.isfinite(values[name]):
                    bad = name
        if bad is not None:
            self.optimizer.zero_grad(set_to_none=True)
            state.skipped += 1
            state.bad_in_row += 1
            if state.bad_in_row >= cfg.max_nonfinite:
                raise NonFiniteLossError(
                    f"loss term {bad!r} was {values[bad]} at step {state.step} (epoch {epoch}, batch {index + 1}): "
                    f"{state.bad_in_row} non-finite steps in a row reached train.max_nonfinite={cfg.max_nonfinite}. "
                    "Lower the learning rate, clip gradients (train.grad_clip) or check that batch's data."
                )
            return None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        state.bad_in_row = 0
        return values


def fit(
    model: nn.Module,
    loss: nn.Module,
    train_set: Dataset,
    evaluator: Evaluator | None,
    cfg: TrainConfig,
    out_dir: str | Path,
    callbacks: Sequence[Callback] = (),
    extra: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` with ``loss`` (a module returning named terms and "total") on ``train_set``.

    ``evaluator`` (None = no validation) gives the val metrics, e.g. PoseTrack mAP
    (:class:`tdmi.engine.predict.PoseTrackEvaluator`). ``extra`` is stored in every checkpoint as
    is (e.g. the configs that rebuild the model).
    """
    return Trainer(model, loss, train_set, evaluator, cfg, out_dir, callbacks, extra).run()
