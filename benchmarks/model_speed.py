"""Speed and memory of TDMI against the single-frame baseline, same run, same settings.

For each backbone (tiny, HRNet-W48) at 256x192 with T = 5 frames, for the "baseline" and
"tdmi" presets: parameters, GFLOPs per clip (torch.utils.flop_counter: convolutions and matmuls,
so deformable sampling and elementwise ops are not in it), forward+backward clips/s (model and
loss, as in training) and peak memory, then TDMI / baseline ratios: the price of temporal
modelling. CPU runs each measurement in a fresh process so its peak RSS is its own. With a CUDA
device the same rows are measured in bf16 autocast + channels_last, with the fraction of the
device's dense bf16 peak reached (forward+backward FLOPs / time / peak).

    python benchmarks/model_speed.py [--iters 3] [--threads N] [--size 256 192] [--frames 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import resource
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from tdmi.losses import build_loss
from tdmi.models import build_model
from tdmi.models.presets import preset_configs

BACKBONES = {"tiny": {"cpu": 8, "cuda": 64}, "hrnet_w48": {"cpu": 1, "cuda": 16}}  # batch
PRESETS = ("baseline", "tdmi")
# Dense bf16 tensor-core peaks (vendor data sheets, no sparsity); matched in the device name.
PEAK_BF16 = {
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
}


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(
    backbone: str,
    preset: str,
    batch: int,
    size: tuple[int, int],
    frames: int,
    iters: int,
    device: str,
    threads: int | None,
) -> dict:
    """One row: build, count FLOPs, time `iters` training steps (forward+backward, no update)."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model_cfg, loss_cfg = preset_configs(preset, backbone=backbone, num_frames=frames)
    model = build_model(model_cfg).to(device)
    loss_fn = build_loss(loss_cfg, model).to(device)
    h, w = size
    clip = torch.randn(batch, frames, 3, h, w, device=device)
    target = torch.rand(batch, model_cfg.num_joints, h // 4, w // 4, device=device)
    weight = torch.ones(batch, model_cfg.num_joints, device=device)
    cuda = device == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
            terms = loss_fn(model(clip), target, weight)
        terms["total"].backward()

    rss0 = _rss_mib()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
            model(clip)
    fwd_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        step()
    train_flops = counter.get_total_flops()

    step()  # warm-up
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / iters
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    )
    return {
        "backbone": backbone,
        "preset": preset,
        "batch": batch,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflops_fwd": fwd_flops / batch / 1e9,
        "gflops_train": train_flops / batch / 1e9,
        "clips_s": batch / seconds,
        "peak_mib": peak,
        "tflops_s": train_flops / seconds / 1e12,
    }


def _peak_flops() -> float | None:
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def report(rows: list[dict], title: str, peak: float | None = None) -> None:
    print(f"\n{title}")
    head = (
        f"{'backbone':<10} {'preset':<9} {'batch':>5} {'params M':>9} {'GFLOP fwd':>10} "
        f"{'GFLOP f+b':>10} {'clips/s':>8} {'peak MiB':>9}"
    )
    print(head + ("  % of peak" if peak else ""))
    for r in rows:
        line = (
            f"{r['backbone']:<10} {r['preset']:<9} {r['batch']:>5} {r['params_M']:>9.2f} "
            f"{r['gflops_fwd']:>10.2f} {r['gflops_train']:>10.2f} {r['clips_s']:>8.2f} "
            f"{r['peak_mib']:>9.0f}"
        )
        print(line + (f"  {100 * r['tflops_s'] * 1e12 / peak:>8.1f}" if peak else ""))
    print("TDMI / baseline (price of temporal modelling):")
    for bb in dict.fromkeys(r["backbone"] for r in rows):
        base, full = (
            next(r for r in rows if r["backbone"] == bb and r["preset"] == p) for p in PRESETS
        )
        print(
            f"  {bb:<10} params x{full['params_M'] / base['params_M']:.2f}  "
            f"GFLOPs x{full['gflops_train'] / base['gflops_train']:.2f}  "
            f"time/clip x{base['clips_s'] / full['clips_s']:.2f}  "
            f"memory x{full['peak_mib'] / max(base['peak_mib'], 1):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 192))
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    args = parser.parse_args()
    size = tuple(args.size)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads by default, "
        f"input {size[0]}x{size[1]}, T = {args.frames}"
    )

    rows = []
    with cf.ProcessPoolExecutor(
        1, mp_context=mp.get_context("spawn"), max_tasks_per_child=1
    ) as pool:
        for bb in args.backbones:
            for preset in PRESETS:
                job = pool.submit(
                    measure,
                    bb,
                    preset,
                    BACKBONES[bb]["cpu"],
                    size,
                    args.frames,
                    args.iters,
                    "cpu",
                    args.threads,
                )
                rows.append(job.result())
    report(
        rows,
        f"CPU, float32, forward+backward (threads: {args.threads or 'default'}); "
        "peak MiB = peak RSS above the RSS once model and batch are built",
    )

    if torch.cuda.is_available():
        gpu_rows = [
            measure(
                bb, p, BACKBONES[bb]["cuda"], size, args.frames, max(args.iters, 10), "cuda", None
            )
            for bb in args.backbones
            for p in PRESETS
        ]
        report(
            gpu_rows,
            f"{torch.cuda.get_device_name()}, bf16 autocast + channels_last, "
            "forward+backward; peak MiB = max allocated",
            _peak_flops(),
        )


if __name__ == "__main__":
    main()
