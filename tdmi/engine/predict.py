"""A model over a clip loader -> per-person predictions in image pixels -> PoseTrack mAP and OKS.

Validation during training (:class:`PoseTrackEvaluator`, the evaluator fit() is given) and
`experiments/evaluate.py` share this path, so the mAP an epoch reports is the mAP evaluation would
report for that checkpoint. Predictions keep the dataset index of each clip so shards from several
processes can be merged without duplicates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from tdmi.data.clips import PoseTrackClips, normalize_clips
from tdmi.data.joints import HIEVE
from tdmi.data.posetrack import Video, iter_frames
from tdmi.engine.train import EpochValidation, TrainConfig, rank_world
from tdmi.eval.coco import coco_oks
from tdmi.eval.decode import decode_heatmaps, flip_average, person_scores
from tdmi.eval.hieve import DEFAULT_METRIC, HiEveMetric, evaluate_hieve
from tdmi.eval.posetrack import PoseTrackAP, evaluate_posetrack
from tdmi.eval.results import (
    PosePrediction,
    group_by_image,
    write_per_joint_csv,
    write_posetrack_results,
)


@torch.no_grad()
def predict(
    model: nn.Module,
    batches: Iterable[dict],
    device: torch.device | str = "cpu",
    flip_test: bool = False,
    autocast: contextlib.AbstractContextManager | None = None,
) -> dict[int, PosePrediction]:
    """Predictions keyed by dataset index (the batch's ``"index"``), for every clip in ``batches``.

    ``flip_test`` averages the heatmaps of each clip and of its mirror (HRNet's flip test). The
    person score is the mean confident joint score times the box score (``person_scores``).
    """
    model.eval()
    out: dict[int, PosePrediction] = {}
    for batch in batches:
        clip = normalize_clips(batch["clip"].to(device, non_blocking=True))
        with autocast or contextlib.nullcontext():
            heatmaps = model(clip)["heatmaps"]
            if flip_test:
                heatmaps = flip_average(heatmaps, model(clip.flip(-1))["heatmaps"])
        coords, scores = decode_heatmaps(heatmaps, batch["inv_affine"], (clip.shape[-1], clip.shape[-2]))
        people = person_scores(scores, batch["box_score"])
        for k, index in enumerate(batch["index"].tolist()):
            out[index] = PosePrediction(int(batch["image_id"][k]), coords[k], scores[k], float(people[k]))
    return out


def evaluate(
    videos: Sequence[Video], predictions: Iterable[PosePrediction], hieve: HiEveMetric = DEFAULT_METRIC
) -> tuple[dict[str, float], PoseTrackAP]:
    """Flat metrics {"mAP", "AP/<column>", "oks/<stat>"} (AP in percent, OKS as fractions) + the table.
    HiEve's 14 joints: tdmi.eval.hieve's metrics (options ``hieve``), the same keys plus
    "hieve/<w_AP|AP><|50|75>"."""
    if next((len(p.joints) for f in iter_frames(videos) for p in f.people), None) == HIEVE.num_joints:
        return evaluate_hieve(videos, predictions, hieve)
    by_image = group_by_image(predictions)
    table = evaluate_posetrack(videos, by_image)
    metrics = {"mAP": table.columns()["Mean"]}
    metrics.update({f"AP/{k}": v for k, v in table.columns().items()})
    metrics.update({f"oks/{k}": v for k, v in coco_oks(videos, by_image).items()})
    return metrics, table


@dataclass
class PoseTrackEvaluator:
    """fit()'s validation on PoseTrack clips: mAP, AP per joint group and OKS; the best epoch's
    predictions (one PoseTrack result file) and per-joint AP/precision/recall CSV.

    Every process predicts its shard of ``clips``; the shards are merged by clip index (dropping
    DistributedSampler's padding), so every process computes the same metrics."""

    clips: PoseTrackClips
    batch_size: int = 16
    flip_test: bool = False
    num_workers: int = 0
    metric: str = "mAP"

    @classmethod
    def for_training(cls, clips: PoseTrackClips, cfg: TrainConfig) -> PoseTrackEvaluator:
        """Batch size, flip test and workers as TrainConfig sets them for validation."""
        return cls(clips, cfg.val_batch_size or cfg.batch_size, cfg.flip_test, cfg.num_workers)

    def files(self, out_dir: Path) -> dict[str, Path]:
        return {"predictions": out_dir / "predictions.json", "per_joint": out_dir / "per_joint.csv"}

    def __call__(
        self, model: nn.Module, device: torch.device, autocast: contextlib.AbstractContextManager
    ) -> EpochValidation:
        rank, world = rank_world()
        sampler = DistributedSampler(self.clips, num_replicas=world, rank=rank, shuffle=False)
        loader = DataLoader(self.clips, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers)
        mine = predict(model, loader, device, self.flip_test, autocast)
        if world > 1:
            shards: list[dict] = [{} for _ in range(world)]
            dist.all_gather_object(shards, mine)
            mine = {k: v for shard in shards for k, v in shard.items()}
        predictions = [mine[k] for k in sorted(mine)]
        metrics, table = evaluate(self.clips.videos, predictions)

        def write(out_dir: Path) -> None:
            files = self.files(out_dir)
            write_posetrack_results(predictions, self.clips.videos, files["predictions"], per_video=False)
            write_per_joint_csv({k: table.columns(k) for k in ("ap", "precision", "recall")}, files["per_joint"])

        return EpochValidation(metrics, write)
