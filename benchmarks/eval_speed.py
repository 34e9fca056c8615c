"""PoseTrack AP speed: score 100,000 predicted people on one core (target: under 10 s).

Synthetic PoseTrack-shaped data: 10,000 frames with 8 annotated people each, a third of the frames
with an ignore region, and 10 predictions per frame (8 jittered people, 2 false positives). Times
the in-memory evaluation, the command's path (write the result files, read them, evaluate), and,
as a baseline on the same predictions, pycocotools' OKS evaluation.

    python benchmarks/eval_speed.py [--frames 10000]
"""

from __future__ import annotations

import os

os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from tdmi.data.posetrack import Frame, Person, Video  # noqa: E402
from tdmi.eval.coco import coco_oks  # noqa: E402
from tdmi.eval.posetrack import evaluate_posetrack  # noqa: E402
from tdmi.eval.results import (
    PosePrediction,
    group_by_image,
    read_posetrack_results,
    write_posetrack_results,
)  # noqa: E402

PEOPLE, PREDICTIONS, FRAMES_PER_VIDEO = 8, 10, 100


def synthetic(n_frames: int, seed: int = 0) -> tuple[list[Video], list[PosePrediction]]:
    rng = np.random.default_rng(seed)
    videos, preds = [], []
    for v in range(n_frames // FRAMES_PER_VIDEO):
        frames = []
        for f in range(FRAMES_PER_VIDEO):
            image_id = 10_000_000_000 + v * 10_000 + f
            centres = rng.uniform(100, 1800, (PREDICTIONS, 2))
            joints = np.concatenate(
                [
                    centres[:, None] + rng.normal(0, 60, (PREDICTIONS, 17, 2)),
                    np.ones((PREDICTIONS, 17, 1)),
                ],
                axis=2,
            )
            joints[:, 3:5] = 0
            people = [
                Person(joints[k], np.array([0, 0, 200, 400.0]), np.array([0, 0, 40, 50.0]), k, k)
                for k in range(PEOPLE)
            ]
            regions = [np.array([[0.0, 0], [300, 0], [300, 300], [0, 300]])] if f % 3 == 0 else []
            name = f"images/val/{v:06d}_bench/{f:06d}.jpg"
            frames.append(
                Frame(
                    image_id,
                    f"{v:06d}",
                    f,
                    Path(name),
                    1920,
                    1080,
                    FRAMES_PER_VIDEO,
                    True,
                    regions,
                    people,
                    name,
                )
            )
            xy = joints[:, :, :2] + rng.normal(0, 6, (PREDICTIONS, 17, 2))
            scores = rng.random((PREDICTIONS, 17))
            preds += [
                PosePrediction(image_id, xy[k], scores[k], float(scores[k].mean()), k)
                for k in range(PREDICTIONS)
            ]
        videos.append(Video(f"{v:06d}", frames))
    return videos, preds


def timed(label: str, fn, n_people: int):
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:7.2f} s  {n_people / seconds:10,.0f} people/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    videos, preds = synthetic(args.frames)
    n = len(preds)
    print(f"{n:,} predicted people, {args.frames:,} frames, one core")
    by_image = group_by_image(preds)
    result = timed(
        "PoseTrack AP (evaluate_posetrack)", lambda: evaluate_posetrack(videos, by_image), n
    )
    with tempfile.TemporaryDirectory() as tmp:
        timed(
            "write PoseTrack result files", lambda: write_posetrack_results(preds, videos, tmp), n
        )
        timed(
            "read result files + PoseTrack AP",
            lambda: evaluate_posetrack(videos, read_posetrack_results(tmp, videos)),
            n,
        )
    coco = timed("baseline: COCO OKS AP (pycocotools)", lambda: coco_oks(videos, by_image), n)
    print(f"mean AP {result.columns()['Mean']:.2f}, COCO AP {coco['AP']:.3f}")


if __name__ == "__main__":
    main()
