"""PoseTrack AP speed: our command against poseval's own code on the same files, same numbers.

Writes a PoseTrack18-layout ground truth and prediction folder shaped like a large submission:
many small per-video files (default 16,440 videos x 2 frames x 3 predicted people = 98,640 people;
2-3 annotated people per frame, missing joints, an ignore region in a third of the frames, one
false positive per frame, random joint scores). Then runs, each in its own process on one core,

- ours:    ``python -m tdmi.eval.posetrack --gt GT --pred PRED --json OUT``
- poseval: ``python -m poseval.evaluate -g GT/ -p PRED/ -e`` from a poseval checkout (``--poseval``,
  e.g. ``git clone https://github.com/leonid-pishchulin/poseval``; needs ``click``, ``tqdm``,
  ``shapely``; its tracking module also imports ``motmetrics``, stubbed here as AP does not use it),

and prints CPU seconds (user + system), wall seconds and peak memory of each, the ratios, and the
largest difference between the 16 numbers (15 joints + total) of the two.

    python benchmarks/eval_speed.py [--videos 16440] [--poseval ~/src/poseval] [--keep DIR]

Measured 2026-11-25 on the shared 2-core machine under load (load average about 12; wall times
mean little there), defaults, poseval at github.com/leonid-pishchulin/poseval 4258a15:
  before (per-frame loops, json):  ours 29.5 s CPU / 318 MB, poseval 159.2 s / 2587 MB: 5.4x CPU
  after:                           ours  9.9 s CPU / 375 MB, poseval 152.9 s / 2587 MB: 15.4x CPU
  largest difference of the 16 numbers 1.4e-14 both times (exactly 0 on 2,000 videos).
Again 2026-11-25, load average 1 to 11 (the CPU seconds scatter by about 20% under such load):
  start (the code above):          ours 11.6 s CPU / 375 MB, poseval 142.2 s / 2587 MB: 12.3x CPU
  tables (no record per person on either side, lazy ignore-region polygons, one-pass float
  rows, one os.read per file, usual values accepted inline):
                                   ours  6.2 s CPU / 297 MB, poseval 129.1 s / 2588 MB: 20.8x CPU
  largest difference 1.42e-14 both times; our output JSON byte-identical before and after.
  Old and new code alternated on the same files under load average 7 to 11: the last version
  7.8 s vs 10.7 s (0.73); the busy machine's noise is why poseval runs in the same call.
Where the time went before (cProfile): JSON parsing a third, per-file numpy conversions and the
cyclic garbage collector's passes over the live documents a third, per-frame assignment and
ignore-region loops the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tdmi.data.joints import JOINT_NAMES, posetrack_category
from tdmi.data.posetrack import make_frame_id

EARS = [JOINT_NAMES.index("left_ear"), JOINT_NAMES.index("right_ear")]
POSEVAL_NAMES = {"neck": "head_bottom"}  # poseval's name for our head_bottom
# poseval.evaluate imports its tracking module, which imports motmetrics; AP never calls it.
POSEVAL_MAIN = (
    "import sys, types; sys.modules.setdefault('motmetrics', types.ModuleType('motmetrics'));"
    "from poseval import evaluate; sys.argv[0] = 'poseval'; evaluate.main()"
)


def write_files(root: Path, videos: int, frames: int, people: int, seed: int = 0) -> int:
    """Ground truth in ``root/gt`` and predictions in ``root/pred``; returns predicted people."""
    rng = np.random.default_rng(seed)
    category = [posetrack_category()]
    (root / "gt").mkdir(parents=True)
    (root / "pred").mkdir()
    n_pred = 0
    for v in range(videos):
        folder = f"{v:06d}_mpii_test"  # poseval derives the frame id from a PoseTrack18 name
        gt = {"images": [], "annotations": [], "categories": category}
        pred = {"images": [], "annotations": [], "categories": category}
        for f in range(frames):
            image_id = make_frame_id(v, f)
            image = {"id": image_id, "file_name": f"images/val/{folder}/{f:06d}.jpg", "vid_id": f"{v:06d}",
                     "frame_id": image_id, "nframes": frames, "is_labeled": True}  # fmt: skip
            if f % 3 == 0:
                image |= {"ignore_regions_x": [[0, 300, 300, 0]], "ignore_regions_y": [[0, 0, 300, 300]]}
            gt["images"].append(image)
            pred["images"].append({k: image[k] for k in ("id", "file_name", "vid_id", "frame_id")})
            n_gt = int(rng.integers(people - 1, people + 1))
            centres = rng.uniform(100, 1800, (people, 2))
            joints = centres[:, None] + rng.normal(0, 60, (people, 17, 2))
            labelled = rng.random((people, 17)) > 0.1
            labelled[:, EARS] = False
            for k in range(n_gt):
                kps = np.column_stack([joints[k], np.ones(17)]) * labelled[k, :, None]
                x, y = joints[k].min(0).round(2)
                gt["annotations"].append({"id": image_id * 100 + k, "image_id": image_id, "track_id": k,
                                          "category_id": 1, "keypoints": kps.ravel().round(2).tolist(),
                                          "bbox": [x, y, 200.0, 400.0], "bbox_head": [x, y, 40.0, 50.0]})  # fmt: skip
            for k in range(people):  # the people beyond n_gt are false positives
                xy = joints[k] + rng.normal(0, 6, (17, 2))
                scores = rng.random(17)  # no ties: poseval orders tied scores by directory order
                kps = np.column_stack([xy, scores]) * (rng.random(17) > 0.05)[:, None]
                pred["annotations"].append({"id": image_id * 100 + k, "image_id": image_id, "track_id": k,
                                            "category_id": 1, "keypoints": kps.ravel().round(2).tolist(),
                                            "scores": scores.tolist()})  # fmt: skip
                n_pred += 1
        (root / "gt" / f"{folder}.json").write_text(json.dumps(gt))
        (root / "pred" / f"{folder}.json").write_text(json.dumps(pred))
    return n_pred


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """CPU seconds (user + system), wall seconds and peak resident MB of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read()}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16_440)
    parser.add_argument("--frames", type=int, default=2, help="frames per video")
    parser.add_argument("--people", type=int, default=3, help="predicted people per frame")
    parser.add_argument("--poseval", type=Path, help="a poseval checkout (the folder holding poseval/)")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    taskset = ["taskset", "-c", str(min(os.sched_getaffinity(0)))]  # one core for both
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        n = write_files(root, args.videos, args.frames, args.people)
        print(f"{n:,} predicted people, {args.videos:,} videos x {args.frames} frames, one core each")
        out = root / "ours.json"
        cmd = [sys.executable, "-m", "tdmi.eval.posetrack", "--gt", str(root / "gt"), "--pred", str(root / "pred")]
        rows = {"ours (tdmi.eval.posetrack)": measured([*taskset, *cmd, "--json", str(out)], env)}
        ours = {name: row["ap"] for name, row in json.loads(out.read_text())["per_joint"].items()}
        ours["total"] = json.loads(out.read_text())["AP"]["Mean"]
        if args.poseval:
            res = root / "poseval"
            cmd = [
                sys.executable,
                "-c",
                POSEVAL_MAIN,
                "-g",
                f"{root / 'gt'}/",
                "-p",
                f"{root / 'pred'}/",
                "-e",
                "-o",
                str(res),
            ]
            rows["poseval (evaluate -e)"] = measured([*taskset, *cmd], {**env, "PYTHONPATH": str(args.poseval)})
            theirs = json.loads((res / "total_AP_metrics.json").read_text())
            names = [theirs["names"][str(i)] for i in range(len(theirs["ap"]))]  # keys are indices
            diff = max(abs(ours[POSEVAL_NAMES.get(k, k)] - ap) for k, ap in zip(names, theirs["ap"], strict=True))
    print(f"{'':<28}{'CPU s':>9}{'wall s':>9}{'peak MB':>9}")
    for label, (cpu, wall, mb) in rows.items():
        print(f"{label:<28}{cpu:9.2f}{wall:9.2f}{mb:9.0f}")
    if args.poseval:
        (cpu, _, mb), (their_cpu, _, their_mb) = rows.values()
        print(f"poseval / ours: {their_cpu / cpu:.1f}x CPU, {their_mb / mb:.1f}x memory; "
              f"largest AP difference {diff:.2e} over 15 joints + total")  # fmt: skip
    print(f"mean AP {ours['total']:.4f}")


if __name__ == "__main__":
    main()
