"""Parameters, forward GFLOPs and CPU clips/s of every preset, beside the single-frame network.

For each scale, the tiny backbone at 128x96 and HRNet-W48 at 384x288 (T = 5 frames by default),
and each preset of tdmi/models/presets.py: parameters (all, and those that train under the
two-phase recipe, i.e. with the single-frame network frozen), forward GFLOPs per clip
(torch.utils.flop_counter: convolutions and matmuls, so deformable sampling and elementwise ops
are not in it; counted on the meta device, so no arithmetic runs), forward-only clips/s on the
CPU (eval mode, no_grad; `--iters 0` skips the timing), and both as ratios to the
`single_frame` preset measured in the same run. The recipe trains only the temporal parts while
the frozen backbone runs forward, so forward FLOPs are its cost; the check at the end is the
issue's budget: TDMI W48 at 384x288, T = 5 within 6x the single-frame network's FLOPs.

    python benchmarks/model_speed.py [--iters 3] [--threads 1] [--frames 5] [--scales tiny w48]
        [--presets single_frame tde3 tdmi]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from tdmi.models import build_model
from tdmi.models.presets import ABLATION_ORDER, SINGLE_FRAME, preset_configs

# scale -> (backbone, input H x W, CPU batch)
SCALES = {"tiny": ("tiny", (96, 128), 8), "w48": ("hrnet_w48", (384, 288), 1)}
BUDGET = 6.0  # TDMI / single-frame forward FLOPs at W48, 384x288, T = 5 (issue 11)


def measure(preset: str, backbone: str, size: tuple[int, int], batch: int, frames: int, iters: int) -> dict:
    """One row: parameters and forward FLOPs on the meta device (shapes only, no arithmetic),
    then, unless `iters` is 0, `iters` timed CPU forward passes after one warm-up."""
    cfg = preset_configs(preset, backbone=backbone, num_frames=frames)[0]
    with torch.device("meta"):
        model = build_model(cfg).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(batch, frames, 3, *size))
    frozen = sum(p.numel() for part in (model.backbone, model.head) for p in part.parameters())
    total = sum(p.numel() for p in model.parameters())
    clips_s = float("nan")
    if iters:
        torch.manual_seed(0)
        model, clip = build_model(cfg).eval(), torch.randn(batch, frames, 3, *size)
        with torch.no_grad():
            model(clip)
            start = time.perf_counter()
            for _ in range(iters):
                model(clip)
            clips_s = batch * iters / (time.perf_counter() - start)
    return {
        "preset": preset,
        "params_M": total / 1e6,
        "train_M": (total - frozen) / 1e6 if preset != SINGLE_FRAME else total / 1e6,
        "gflops": counter.get_total_flops() / batch / 1e9,
        "clips_s": clips_s,
    }


def report(rows: list[dict], title: str) -> None:
    base = next(r for r in rows if r["preset"] == SINGLE_FRAME)
    print(f"\n{title}")
    print(
        f"{'preset':<18} {'params M':>9} {'trains M':>9} {'GFLOP fwd':>10} {'x single':>9} {'clips/s':>8} {'time x':>7}"
    )
    for r in rows:
        print(
            f"{r['preset']:<18} {r['params_M']:>9.2f} {r['train_M']:>9.2f} {r['gflops']:>10.2f} "
            f"{r['gflops'] / base['gflops']:>9.2f} {r['clips_s']:>8.2f} "
            f"{base['clips_s'] / r['clips_s']:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3, help="timed passes; 0 = FLOPs only")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--presets", nargs="+", default=ABLATION_ORDER, choices=ABLATION_ORDER)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    presets = list(dict.fromkeys([SINGLE_FRAME, *args.presets]))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, T = {args.frames}, "
        "forward only (eval, no_grad); ratios to single_frame in the same run"
    )
    for scale in args.scales:
        backbone, size, batch = SCALES[scale]
        rows = [measure(p, backbone, size, batch, args.frames, args.iters) for p in presets]
        report(rows, f"{backbone} at {size[1]}x{size[0]}, batch {batch}")
        if scale == "w48" and args.frames == 5:
            base = rows[0]["gflops"]
            worst = max((r for r in rows if r["preset"] != SINGLE_FRAME), key=lambda r: r["gflops"])
            tdmi = next((r for r in rows if r["preset"] == "tdmi"), None)
            if tdmi is not None:
                ratio = tdmi["gflops"] / base
                verdict = "within" if ratio <= BUDGET else "OVER"
                print(f"budget: tdmi / single_frame FLOPs = {ratio:.2f}x, {verdict} {BUDGET:.0f}x")
            print(f"largest preset: {worst['preset']} at {worst['gflops'] / base:.2f}x")


if __name__ == "__main__":
    main()
