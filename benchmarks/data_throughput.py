"""Five-frame clips/s at 256x192 from the synthetic set: our loader vs a plain one, 0/1/2 workers.

The plain baseline decodes every supporting frame at full resolution for every clip, warps it and
normalises it to float in the worker (what a straightforward HRNet-style loader does); ours keeps
decoded frames in a per-worker LRU cache, uses JPEG's reduced decode when the crop shrinks the
frame, and ships uint8 clips that are normalised batched after collation. Both are measured in the
same run, in shuffled (training) and sequential (evaluation) order.

    python benchmarks/data_throughput.py [--root data/synth] [--clips 600]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from tdmi.data.clips import ClipConfig, PoseTrackClips, normalize_clips
from tdmi.data.posetrack import load_posetrack
from tdmi.data.synth import SynthConfig, generate


class PlainClips(PoseTrackClips):
    """The baseline: no cache, full-resolution decode, float normalisation per sample."""

    def __init__(self, videos, cfg: ClipConfig):
        super().__init__(videos, ClipConfig(**{**cfg.__dict__, "cache_frames": 0, "reduced_decode": False}), train=True)

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        sample["clip"] = normalize_clips(sample["clip"])
        return sample


def clips_per_second(ds: PoseTrackClips, workers: int, shuffle: bool, clips: int) -> float:
    loader = DataLoader(
        ds,
        batch_size=16,
        shuffle=shuffle,
        num_workers=workers,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(0),
    )
    it = iter(loader)
    next(it)  # worker start-up is not throughput
    seen, start = 0, time.perf_counter()
    for batch in it:
        clip = batch["clip"]
        if clip.dtype == torch.uint8:
            clip = normalize_clips(clip)  # ours finishes normalisation batched, as training does
        seen += clip.shape[0]
        if seen >= clips:
            break
    return seen / (time.perf_counter() - start)


def measure(table: Table, name: str, root: Path, clips: int) -> None:
    videos = load_posetrack(root / "annotations" / "train")
    size = (192, 256)
    ours = PoseTrackClips(videos, ClipConfig(input_size=size), train=True)
    plain = PlainClips(videos, ClipConfig(input_size=size))
    for shuffle in (True, False):
        for workers in (0, 1, 2):
            p = clips_per_second(plain, workers, shuffle, clips)
            o = clips_per_second(ours, workers, shuffle, clips)
            table.add_row(
                name, "shuffled" if shuffle else "sequential", str(workers), f"{p:.0f}", f"{o:.0f}", f"{o / p:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path("data/synth"), help="the default synthetic set (made if missing)"
    )
    parser.add_argument(
        "--hd-root",
        type=Path,
        default=Path("data/synth_hd"),
        help="1280x720 frames, PoseTrack's usual size (made if missing)",
    )
    parser.add_argument("--clips", type=int, default=600)
    args = parser.parse_args()
    sets = {"default 320x240": (args.root, SynthConfig()),
            "HD 1280x720": (args.hd_root, SynthConfig(videos=6, val_videos=0, width=1280, height=720))}  # fmt: skip
    table = Table(title="five-frame clips/s at 256x192 (training clips, batch 16)")
    for col in ("frames", "order", "workers", "plain", "ours", "ours / plain"):
        table.add_column(col, justify="right")
    for name, (root, synth) in sets.items():
        if not (root / "annotations" / "train").is_dir():
            t = time.perf_counter()
            generate(synth, root)
            print(f"generated {name} in {time.perf_counter() - t:.1f} s")
        torch.set_num_threads(1)
        measure(table, name, root, args.clips)
    Console().print(table)


if __name__ == "__main__":
    main()
