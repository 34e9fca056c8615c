"""fit(): the training loop, read top to bottom: setup -> resume -> epochs (train, validate,
checkpoint, callbacks) -> result.

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
- Checkpoints: ``out_dir/last.pt`` after every epoch, ``out_dir/best.pt`` when val mAP improves,
  both atomic (checkpoint.py). With ``resume`` a run continues from ``last.pt``: weights,
  optimiser, scheduler, scaler, epoch, best, history and RNG states, so the result equals an
  uninterrupted run's. The data order is a function of (seed, epoch) through the sampler.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from tdmi.data.clips import PoseTrackClips, normalize_clips
from tdmi.engine.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from tdmi.engine.predict import evaluate, predict
from tdmi.eval.results import write_per_joint_csv, write_posetrack_results

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
        self.lr_steps = tuple(int(v) for v in self.lr_steps)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.bn not in BN_MODES:
            raise ValueError(f"TrainConfig.bn must be one of {BN_MODES}, got {self.bn!r}")
        if self.amp not in AMP_DTYPES:
            raise ValueError(f"TrainConfig.amp must be one of {tuple(AMP_DTYPES)}, got {self.amp!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.val_every < 1 or self.max_nonfinite < 1:
            raise ValueError("TrainConfig.epochs, batch_size, val_every and max_nonfinite must be >= 1")


class Callback(Protocol):
    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called on every process after each epoch's checkpoint; raising stops the run."""


class NonFiniteLossError(RuntimeError):
    pass


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one row per epoch: "epoch", "lr", "train/*", "val/*"
    out_dir: Path
    best_epoch: int | None = None
    best_metric: float | None = None  # val mAP of best_epoch
    skipped_steps: int = 0
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)  # last, best, predictions, per_joint

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
    return _rank_world()


def _rank_world() -> tuple[int, int]:
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
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
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


def fit(
    model: nn.Module,
    loss: nn.Module,
    train_set: Dataset,
    val_set: PoseTrackClips | None,
    cfg: TrainConfig,
    out_dir: str | Path,
    callbacks: Sequence[Callback] = (),
    extra: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` with ``loss`` (a module returning named terms and "total") on ``train_set``.

    ``val_set`` (clips from ground-truth or detected boxes; None = no validation) gives val mAP.
    ``extra`` is stored in every checkpoint as is (e.g. the configs that rebuild the model).
    """
    start = time.perf_counter()
    rank, world = _rank_world()
    if cfg.batch_size % world:
        raise ValueError(f"TrainConfig.batch_size {cfg.batch_size} must be divisible by the {world} processes")
    device = resolve_device(cfg.device)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    out_dir = Path(out_dir)
    files = {"last": out_dir / "last.pt"}
    if cfg.bn == "sync" and world > 1:
        if device.type != "cuda":
            raise ValueError("TrainConfig.bn='sync' needs CUDA (SyncBatchNorm); use 'frozen' or 'batch' on CPU")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    autocast = autocast_for(device, cfg.amp)
    model.to(device)
    loss.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    step_module = _Step(model, loss)
    net = step_module
    if world > 1:
        find_unused = cfg.find_unused_parameters
        if find_unused is None:
            find_unused = bool(unused_parameters(step_module, train_set[0], device))
        net = DistributedDataParallel(step_module, find_unused_parameters=find_unused)
    params = [p for p in step_module.parameters() if p.requires_grad]
    groups = {"grad_norm": [p for p in model.parameters() if p.requires_grad],
              "estimator_grad_norm": [p for p in loss.parameters() if p.requires_grad]}
    groups = {name: group for name, group in groups.items() if group}
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = _scheduler(optimizer, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    progress = {"epoch": 0, "step": 0, "best_epoch": None, "best_metric": None, "history": [], "skipped": 0, "bad_in_row": 0}
    if cfg.resume and files["last"].exists():
        ckpt = load_checkpoint(files["last"], device)
        model.load_state_dict(ckpt["model"])
        loss.load_state_dict(ckpt["loss"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        progress = ckpt["progress"]
        set_rng_state(ckpt["rng"])
    else:
        seed_everything(cfg.seed)
    if progress["best_epoch"] is not None:
        files.update(best=out_dir / "best.pt", predictions=out_dir / "predictions.json", per_joint=out_dir / "per_joint.csv")

    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    loader = DataLoader(
        train_set, batch_size=cfg.batch_size // world, sampler=sampler, num_workers=cfg.num_workers,
        drop_last=True, pin_memory=device.type == "cuda", persistent_workers=cfg.num_workers > 0,
    )
    if len(loader) == 0:
        raise ValueError(f"{len(train_set)} training clips make no full batch of {cfg.batch_size // world} per process")
    show = cfg.progress and rank == 0
    for epoch in range(progress["epoch"] + 1, cfg.epochs + 1):
        sampler.set_epoch(epoch)
        metrics = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        metrics.update(_train_epoch(net, loader, optimizer, scaler, autocast, groups, cfg, progress, device, epoch, show))
        scheduler.step()
        improved = False
        if val_set is not None and (epoch % cfg.val_every == 0 or epoch == cfg.epochs):
            predictions = _predict_all(model, val_set, cfg, device, autocast, rank, world)
            val_metrics, table = evaluate(val_set.videos, predictions)
            metrics.update({f"val/{k}": v for k, v in val_metrics.items()})
            improved = progress["best_metric"] is None or val_metrics["mAP"] > progress["best_metric"]
            if improved:
                progress.update(best_epoch=epoch, best_metric=val_metrics["mAP"])
                files.update(best=out_dir / "best.pt", predictions=out_dir / "predictions.json", per_joint=out_dir / "per_joint.csv")
                if rank == 0:
                    write_posetrack_results(predictions, val_set.videos, files["predictions"], per_video=False)
                    write_per_joint_csv({k: table.columns(k) for k in ("ap", "precision", "recall")}, files["per_joint"])
        progress["history"].append(metrics)
        progress["epoch"] = epoch
        if rank == 0:
            state = {
                "model": model.state_dict(), "loss": loss.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "progress": progress,
                "rng": rng_state(), **(extra or {}),
            }
            save_checkpoint(state, files["last"])
            if improved:
                save_checkpoint(state, files["best"])
        for callback in callbacks:
            callback.on_epoch_end(epoch, metrics)
    result = FitResult(
        history=progress["history"], out_dir=out_dir, best_epoch=progress["best_epoch"],
        best_metric=progress["best_metric"], skipped_steps=progress["skipped"],
        seconds=time.perf_counter() - start, files=files,
    )
    if show:
        tqdm.write(result.summary())
    return result


def _train_epoch(
    net: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
    autocast: contextlib.AbstractContextManager, groups: dict[str, list[nn.Parameter]], cfg: TrainConfig,
    progress: dict, device: torch.device, epoch: int, show: bool,
) -> dict[str, float]:
    """One pass over ``loader``; mean loss terms, grad norms (per parameter group), clips/s, skips."""
    net.train()
    if cfg.bn == "frozen":
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    world = _rank_world()[1]
    steps = min(len(loader), cfg.steps_per_epoch or len(loader))
    sums: dict[str, float] = defaultdict(float)
    done = skipped = clips = 0
    tic = time.perf_counter()
    bar = tqdm(loader, total=steps, desc=f"epoch {epoch}/{cfg.epochs}", disable=not show, leave=False, dynamic_ncols=True)
    for i, batch in enumerate(bar):
        if i == steps:
            break
        progress["step"] += 1
        clip = normalize_clips(batch["clip"].to(device, non_blocking=True))
        target = batch["target"].to(device, non_blocking=True)
        weight = batch["target_weight"].to(device, non_blocking=True)
        with autocast:
            terms = net(clip, target, weight)
        values = torch.stack([v.detach().float() for v in terms.values()])
        if world > 1:
            dist.all_reduce(values)
            values /= world
        values = dict(zip(terms, values.tolist(), strict=True))
        bad = next((k for k, v in values.items() if not math.isfinite(v)), None)
        if bad is None:
            scaler.scale(terms["total"]).backward()
            scaler.unscale_(optimizer)
            # The model and the MI estimators are clipped apart: CLUB's q-network fits its own
            # likelihood with gradients ~100x the model's, and one global clip would shrink the
            # pose model's update by that factor.
            for name, group in groups.items():
                values[name] = float(torch.nn.utils.clip_grad_norm_(group, cfg.grad_clip or math.inf))
                if not scaler.is_enabled() and not math.isfinite(values[name]):
                    bad = name
        if bad is not None:
            optimizer.zero_grad(set_to_none=True)
            skipped += 1
            progress["skipped"] += 1
            progress["bad_in_row"] += 1
            if progress["bad_in_row"] >= cfg.max_nonfinite:
                raise NonFiniteLossError(
                    f"loss term {bad!r} was {values[bad]} at step {progress['step']} (epoch {epoch}, batch {i + 1}): "
                    f"{progress['bad_in_row']} non-finite steps in a row reached train.max_nonfinite={cfg.max_nonfinite}. "
                    "Lower the learning rate, clip gradients (train.grad_clip) or check that batch's data."
                )
            continue
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        progress["bad_in_row"] = 0
        done += 1
        clips += clip.shape[0] * world
        for k, v in values.items():
            sums[k] += v
        if show:
            rate = clips / (time.perf_counter() - tic)
            bar.set_postfix({**{k: f"{v / done:.3g}" for k, v in sums.items()}, "clips/s": f"{rate:.1f}"}, refresh=False)
    seconds = time.perf_counter() - tic
    out = {f"train/{k}": v / done for k, v in sums.items()} if done else {}
    return {**out, "train/clips_per_s": clips / seconds, "train/skipped": float(skipped)}


def _predict_all(
    model: nn.Module, val_set: PoseTrackClips, cfg: TrainConfig, device: torch.device,
    autocast: contextlib.AbstractContextManager, rank: int, world: int,
) -> list:
    """Every process predicts its shard; the shards are merged by clip index (dropping padding)."""
    sampler = DistributedSampler(val_set, num_replicas=world, rank=rank, shuffle=False)
    loader = DataLoader(val_set, batch_size=cfg.val_batch_size or cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers)
    mine = predict(model, loader, device, cfg.flip_test, autocast)
    if world > 1:
        shards: list[dict] = [{} for _ in range(world)]
        dist.all_gather_object(shards, mine)
        mine = {k: v for shard in shards for k, v in shard.items()}
    return [mine[k] for k in sorted(mine)]
