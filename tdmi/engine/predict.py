"""A model over a clip loader -> per-person predictions in image pixels -> PoseTrack mAP and OKS.

Validation during training and `experiments/evaluate.py` share this path, so the mAP an epoch
reports is the mAP evaluation would report for that checkpoint. Predictions keep the dataset
index of each clip so shards from several processes can be merged without duplicates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from tdmi.data.clips import normalize_clips
from tdmi.data.posetrack import Video
from tdmi.eval.coco import coco_oks
from tdmi.eval.decode import decode_heatmaps, flip_average, person_scores
from tdmi.eval.posetrack import PoseTrackAP, evaluate_posetrack
from tdmi.eval.results import PosePrediction, group_by_image


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


def evaluate(videos: Sequence[Video], predictions: Iterable[PosePrediction]) -> tuple[dict[str, float], PoseTrackAP]:
    """Flat metrics {"mAP", "AP/<column>", "oks/<stat>"} (AP in percent, OKS as fractions) + the table."""
    by_image = group_by_image(predictions)
    table = evaluate_posetrack(videos, by_image)
    metrics = {"mAP": table.columns()["Mean"]}
    metrics.update({f"AP/{k}": v for k, v in table.columns().items()})
    metrics.update({f"oks/{k}": v for k, v in coco_oks(videos, by_image).items()})
    return metrics, table
