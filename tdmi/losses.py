"""TDMI training loss: joint-weighted heatmap MSE plus weighted mutual-information terms.

    total = heatmap + w_disentangle * max(mi_disentangle, 0) - w_task * mi_task
            - w_recon * mi_recon + q_nll

Terms (`MI_TERMS`; each weight is a LossConfig field of the same name, 0 = the term and its
estimator are neither built nor run). Estimators live in tdmi/models/mi.py and see feature maps
average-pooled to a `mi_pool` x `mi_pool` grid.
- "mi_disentangle": upper bound on I(U; N) between the useful and noisy motion parts, minimised
  (the paper's RDM objective). vCLUB by default, vL1Out with `upper_bound="l1out"`.
- "mi_task": InfoNCE lower bound on I(U; Y) between the useful motion and the key frame's pose,
  maximised, so U keeps what the task needs. Y (`task_target`) is the ground-truth heatmaps
  masked by the joint weights ("target_heatmap", default: the pose itself) or the key frame's
  backbone feature ("key_feature", label-free).
- "mi_recon": InfoNCE lower bound on I([U, N]; M), maximised: the split must keep the raw motion's
  information, which stops minimising I(U; N) from being won by discarding N.
- "q_nll": the upper bound's variational network q(n|u) is fitted by its own negative
  log-likelihood on detached inputs, added to the total with weight 1. Its gradient reaches only
  q, and the bound's gradient never reaches q (mi.py), so one optimizer over model and loss
  parameters trains both without interference. The trainer must therefore optimise
  `loss.parameters()` too (InfoNCE critics are trained by the same total).

The returned dict holds the raw estimates in nats (for logging), "heatmap", "q_nll" and "total".
Heatmap MSE follows HRNet's JointsMSELoss: 0.5 * mean over joints and pixels of
(w_j * (pred - target))^2, which is ~1e-3 in size; the default MI weights (1e-3) are set against
that scale. InfoNCE needs a batch of 2 or more (it is capped at log B).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tdmi.models.mi import InfoNCE, VariationalUpperBound, pool_vectors
from tdmi.models.tdmi import TDMI

MI_TERMS = ("mi_disentangle", "mi_task", "mi_recon")


@dataclass
class LossConfig:
    mi_disentangle: float = 1e-3  # weight of the upper bound on I(U; N), minimised
    mi_task: float = 1e-3  # weight of InfoNCE on I(U; pose), maximised
    mi_recon: float = 1e-3  # weight of InfoNCE on I([U, N]; M), maximised
    upper_bound: str = "club"  # club | l1out
    task_target: str = "target_heatmap"  # target_heatmap | key_feature
    mi_pool: int = 2  # features are average-pooled to mi_pool x mi_pool cells
    mi_hidden: int = 128  # hidden width of q(n|u) and of the InfoNCE critics
    mi_dim: int = 64  # InfoNCE critic embedding size
    use_target_weight: bool = True


def heatmap_mse(pred: Tensor, target: Tensor, target_weight: Tensor | None) -> Tensor:
    """HRNet's JointsMSELoss; `target_weight` (B, J) zeroes unlabelled joints."""
    diff = pred.float() - target
    if target_weight is not None:
        diff = diff * target_weight[:, :, None, None]
    return 0.5 * diff.pow(2).mean()


class TDMILoss(nn.Module):
    """Named loss terms and their total; owns the MI estimators' learnable parameters."""

    TASK_TARGETS = ("target_heatmap", "key_feature")

    def __init__(
        self, cfg: LossConfig, motion_channels: int, key_channels: int, num_joints: int = 17
    ) -> None:
        super().__init__()
        if cfg.task_target not in self.TASK_TARGETS:
            raise ValueError(f"task_target must be one of {self.TASK_TARGETS}")
        self.cfg = cfg
        cells = cfg.mi_pool**2
        m = motion_channels * cells
        y = (num_joints if cfg.task_target == "target_heatmap" else key_channels) * cells
        self.estimators = nn.ModuleDict()
        if cfg.mi_disentangle:
            self.estimators["mi_disentangle"] = VariationalUpperBound(
                m, m, cfg.mi_hidden, cfg.upper_bound
            )
        if cfg.mi_task:
            self.estimators["mi_task"] = InfoNCE(m, y, cfg.mi_hidden, cfg.mi_dim)
        if cfg.mi_recon:
            self.estimators["mi_recon"] = InfoNCE(2 * m, m, cfg.mi_hidden, cfg.mi_dim)

    def forward(
        self, outputs: dict[str, Tensor], target: Tensor, target_weight: Tensor
    ) -> dict[str, Tensor]:
        cfg, est = self.cfg, self.estimators
        weight = target_weight if cfg.use_target_weight else None
        terms = {"heatmap": heatmap_mse(outputs["heatmaps"], target, weight)}
        total = terms["heatmap"]
        if not est:
            return {**terms, "total": total}
        if "useful" not in outputs:
            raise ValueError(f"MI terms {list(est)} need a model with RDM (use_rdm=True)")
        u = pool_vectors(outputs["useful"], cfg.mi_pool)
        n = pool_vectors(outputs["noisy"], cfg.mi_pool)
        if "mi_disentangle" in est:
            terms["mi_disentangle"] = est["mi_disentangle"](u, n)
            terms["q_nll"] = est["mi_disentangle"].learning_loss(u, n)
            # MI >= 0: a negative bound only says q lags behind the encoder, and following its
            # gradient would let the encoder exploit q's staleness, so it is clipped at 0.
            bound = terms["mi_disentangle"].clamp_min(0)
            total = total + cfg.mi_disentangle * bound + terms["q_nll"]
        if "mi_task" in est:
            y = (
                target * target_weight[:, :, None, None]
                if cfg.task_target == "target_heatmap"
                else outputs["key_feature"]
            )
            terms["mi_task"] = est["mi_task"](u, pool_vectors(y, cfg.mi_pool))
            total = total - cfg.mi_task * terms["mi_task"]
        if "mi_recon" in est:
            m = pool_vectors(outputs["motion"], cfg.mi_pool)
            terms["mi_recon"] = est["mi_recon"](torch.cat((u, n), dim=1), m)
            total = total - cfg.mi_recon * terms["mi_recon"]
        return {**terms, "total": total}


def build_loss(cfg: LossConfig, model: TDMI) -> TDMILoss:
    """TDMILoss sized for `model`'s motion and key-feature widths."""
    return TDMILoss(cfg, model.motion_channels, model.key_channels, model.cfg.num_joints)
