"""TDMI training loss: joint-weighted heatmap MSE plus the MI objective in three weighted groups.

    total = heatmap + sum_groups w_g * ramp * sum_terms factor * sign * estimate
            + the estimators' own objectives (their gradients reach the estimators only)

Terms, as CODE adds them (JM-Pose `difference_function_mi10.py`, ../shared/docs/TDMI_MODEL.md);
sign +1 = minimised, -1 = maximised; M motion, M_u / M_n useful / noisy motion, F_a appearance
feature, F_final the fused feature before the head, Y the predicted heatmaps:
- motion (weight `mi_motion`):             2 I(M_u; M_n) - I(M; M_u)
- multi-modal (`mi_multimodal`):           I(M_u; F_a) - I(M_u; F_final) - I(F_a; F_final)
- regularisation (`mi_regularisation`):    I(M_u; Y) - I(M_u; F_final) + I(F_a; Y) - I(F_a; F_final)
JM-Pose's terms on its own extra branches (optical flow, heatmap differences) are left out.
A group with weight 0 is off: its estimators are neither built nor run. Each term asks the model
for the outputs it reads by name and fails with a one-line error when the model lacks them.

`mi_estimator` switches the whole objective:
- "kl_proxy" (CODE; the default weights are CODE's, 1 each): every I(A; B) is
  tdmi.models.mi.KLProxy on the two maps (A's side detached, neither for (M_u, M_n)). For Y, A is
  first mapped to heatmaps by the head's final 1x1 conv (CODE: HRNet's frozen final layer) and
  detached, so those terms' gradient reaches the predicted heatmaps only, as in CODE.
- "bounds": minimised terms use `upper_bound` (vCLUB by default), maximised ones InfoNCE, on
  per-pixel feature vectors: the same `mi_pixels` random positions of both maps per clip (many
  samples per batch instead of a few pooled vectors), each dimension standardised with the
  batch's detached mean and std (MI does not change; CLUB's log-variance is bounded to
  +-`club_logvar_bound`, so unit scale must fit), the estimate divided by the dimension of Y
  (mean over dimensions, so weights do not grow with the width). The estimators learn from the
  first step; the model gets no MI gradient for `mi_warmup` steps, then a linear ramp over
  `mi_ramp` steps. Default weights are set by measurement (presets.py, "tdmi_bounds").

`mi_grad_to`, where MI gradients may flow (all outputs stay live for the heatmap loss):
- "all": every output as computed.
- "tde": F_a, F_final and Y are detached for the MI terms: MI reaches the temporal module (TDE,
  RDM) and what feeds it (the backbone, unless frozen as the two-phase recipe does).
- "rdm" (default): as "tde", and M, M_u, M_n are recomputed by the temporal module's
  `disentangle` on the detached motion: MI reaches the RDM gates only. Chosen by measurement
  (issue 11's note; tiny backbone, 128x96, 12 synthetic videos, from scratch, 1 thread): at the
  start, CODE's proxy sends the TDE 3.7x the heatmap loss's gradient under "tde" (0.008x under
  "rdm"), and after one epoch "tde" reached val mAP 17.1 against 19.1 for "rdm" and 19.0 for
  the same model before its MI terms switch on; after two epochs "rdm" 26.2, "tde" 19.5, the
  single-frame network 24.4 (one seed each). So the motion encoder learns from the heatmap loss
  alone unless a run asks otherwise.
  Consequence, measured: with `kl_proxy`, the multi-modal and regularisation groups send no gradient
  anywhere under "rdm" or "tde" (CODE detaches each term's first map, `mi_grad_to` the second:
  F_a, F_final, Y), so `mi_multimodal` and `mi_regularisation` train bit for bit as `rdm` (ablation
  grid, default data: 32.41 all three) and `tdmi` as `mi_motion`; those groups act only under "all".

Measured pathology of the faithful option: with CODE's signs the maximised -I(M; M_u) proxy is
won by closing the useful gate (a near-uniform M_u is far from M in KL) and 2 I(M_u; M_n) by
closing both gates. Under "tde", after 2 epochs from scratch both gates were ~0 (mean < 1e-4):
the motion no longer reached the aggregation. Under "rdm" they dipped to a mean of 0.008 after
one epoch and were back at 0.10 (useful) / 0.12 (noisy) after two. Watch "mi/<term>" and the
gates, not only mAP.

Diagnostics, in the returned dict beside "heatmap" and "total" (detached scalars the engine
logs as train/<name>; never part of "total"):
- "mi/<term>": each estimate; "<group weight name>" (e.g. "mi_motion"): the group's weighted
  contribution; "estimators": the estimators' own objectives.
- "grad_ratio/<term>": ||d(term's weighted contribution)/d theta|| / ||d heatmap/d theta|| over
  the model's trainable parameters theta, measured with torch.autograd.grad(retain_graph=True)
  every `grad_ratio_every` training calls (first call included) and carried in between.
- "negative/<term>": 1 when an upper bound's estimate is below 0 for the batch, so its epoch
  mean is the fraction of such batches: a valid upper bound on MI is never negative, so a high
  fraction says q is stale or too weak (estimator-health alarm).

Heatmap MSE follows HRNet's JointsMSELoss: 0.5 * mean over joints and pixels of
(w_j * (pred - target))^2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tdmi.models.mi import InfoNCE
from tdmi.models.registry import MI_ESTIMATORS, lookup

MI_TERMS = ("mi_motion", "mi_multimodal", "mi_regularisation")  # group weights (config fields)
ESTIMATORS = ("kl_proxy", "bounds")
GRAD_TO = ("rdm", "tde", "all")
UPPER_BOUNDS = ("club", "l1out")
# (group weight, term, output A, output B, sign, factor): I(A; B), +1 minimised, -1 maximised.
TERMS = (
    ("mi_motion", "useful_noisy", "useful", "noisy", 1, 2.0),
    ("mi_motion", "motion_useful", "motion", "useful", -1, 1.0),
    ("mi_multimodal", "useful_appearance", "useful", "appearance", 1, 1.0),
    ("mi_multimodal", "useful_fused", "useful", "fused", -1, 1.0),
    ("mi_multimodal", "appearance_fused", "appearance", "fused", -1, 1.0),
    ("mi_regularisation", "useful_heatmaps", "useful", "heatmaps", 1, 1.0),
    ("mi_regularisation", "useful_fused", "useful", "fused", -1, 1.0),
    ("mi_regularisation", "appearance_heatmaps", "appearance", "heatmaps", 1, 1.0),
    ("mi_regularisation", "appearance_fused", "appearance", "fused", -1, 1.0),
)


@dataclass
class LossConfig:
    mi_motion: float = 1.0  # group weights, 0 = off (module docstring)
    mi_multimodal: float = 1.0
    mi_regularisation: float = 1.0
    mi_estimator: str = "kl_proxy"  # kl_proxy | bounds
    mi_grad_to: str = "rdm"  # rdm | tde | all (default: module docstring)
    upper_bound: str = "club"  # club | l1out ("bounds": minimised terms)
    mi_tau: float = 0.05  # kl_proxy's softmax temperature (CODE)
    mi_pixels: int = 64  # "bounds": per-pixel samples per clip
    mi_hidden: int = 128  # hidden width of q and of the InfoNCE critics
    mi_dim: int = 64  # InfoNCE critic embedding size
    club_logvar_bound: float = 1.0
    mi_warmup: int = 0  # training steps before the model gets MI gradients
    mi_ramp: int = 0  # then steps of linear ramp to the full weight
    grad_ratio_every: int = 20  # 0 = no gradient-ratio diagnostics
    use_target_weight: bool = True

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("mi_estimator", self.mi_estimator, ESTIMATORS),
            ("mi_grad_to", self.mi_grad_to, GRAD_TO),
            ("upper_bound", self.upper_bound, UPPER_BOUNDS),
        ):
            if value not in allowed:
                raise ValueError(f"loss.{key} must be one of {allowed}, got {value!r}")
        for key in MI_TERMS:
            if getattr(self, key) < 0:
                raise ValueError(f"loss.{key} must be >= 0 (0 = off), got {getattr(self, key)}")


def heatmap_mse(pred: Tensor, target: Tensor, target_weight: Tensor | None) -> Tensor:
    """HRNet's JointsMSELoss; `target_weight` (B, J) zeroes unlabelled joints."""
    diff = pred.float() - target
    if target_weight is not None:
        diff = diff * target_weight[:, :, None, None]
    return 0.5 * diff.pow(2).mean()


def sample_pixels(maps: dict[str, Tensor], names: set[str], pixels: int) -> dict[str, Tensor]:
    """The same random pixel positions of every named map (B, C, h, w) -> standardised (B*P, C)."""
    some = maps[next(iter(names))]
    b, hw = some.shape[0], some.shape[-2] * some.shape[-1]
    idx = torch.randint(hw, (b, 1, min(pixels, hw)), device=some.device)
    out = {}
    for name in names:
        x = maps[name].flatten(2).float()
        x = x.gather(2, idx.expand(-1, x.shape[1], -1)).transpose(1, 2).flatten(0, 1)
        out[name] = (x - x.mean(0).detach()) / (x.std(0).detach() + 1e-5)
    return out


class TDMILoss(nn.Module):
    """Named loss terms and their total; owns the MI estimators' learnable parameters.

    `dims` gives each output's channel count; `readout` maps a feature to heatmaps (kl_proxy's Y
    terms); `disentangle` recomputes (M_u, M_n) from a motion map (mi_grad_to="rdm"); `shared`
    returns the model parameters the gradient ratios are measured on. None of them is registered
    as a submodule: they belong to the model.
    """

    def __init__(
        self,
        cfg: LossConfig,
        dims: dict[str, int],
        readout: Callable[[Tensor], Tensor] | None = None,
        disentangle: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
        shared: Callable[[], list[nn.Parameter]] | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.terms = [t for t in TERMS if getattr(cfg, t[0])]
        self._links = {"readout": readout, "disentangle": disentangle, "shared": shared}
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.ratios: dict[str, float] = {}
        self.estimators = nn.ModuleDict()
        if cfg.mi_estimator == "kl_proxy":
            proxy = lookup(MI_ESTIMATORS, "kl_proxy", "loss.mi_estimator")
            for _, _, a, b, _, _ in self.terms:
                both_live = (a, b) == ("useful", "noisy")  # CODE: freeze=False for (M_u, M_n)
                self.estimators[f"{a}_{b}"] = proxy(cfg.mi_tau, detach_first=not both_live)
            return
        for group, name, a, b, sign, _ in self.terms:
            if not dims.get(a) or not dims.get(b):
                raise ValueError(
                    f"loss term {name} (loss.{group} > 0) needs model outputs {a!r} and {b!r}, "
                    f"which this model does not build"
                )
            kind = cfg.upper_bound if sign > 0 else "infonce"
            builder = lookup(MI_ESTIMATORS, kind, "loss.upper_bound")
            if kind == "infonce":
                est = builder(dims[a], dims[b], cfg.mi_hidden, cfg.mi_dim)
            else:
                est = builder(dims[a], dims[b], cfg.mi_hidden, kind, cfg.club_logvar_bound)
            self.estimators[f"{a}_{b}"] = est

    def _ramp(self) -> float:
        cfg, step = self.cfg, int(self.calls)
        if step < cfg.mi_warmup:
            return 0.0
        return 1.0 if cfg.mi_ramp <= 0 else min(1.0, (step - cfg.mi_warmup + 1) / cfg.mi_ramp)

    def _inputs(self, outputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """The outputs the active terms read, detached where `mi_grad_to` says."""
        needed = {n for t in self.terms for n in t[2:4]}
        missing = sorted(needed - set(outputs))
        if missing:
            raise ValueError(
                f"MI terms {sorted({t[0] for t in self.terms})} need model outputs {missing}; this "
                f"model provides {sorted(outputs)} (check model.temporal and model.use_rdm)"
            )
        maps = {n: outputs[n] for n in needed}
        grad_to = self.cfg.mi_grad_to
        if grad_to != "all":
            maps.update({n: maps[n].detach() for n in ("appearance", "fused", "heatmaps") if n in maps})
        if grad_to == "rdm":
            if self._links["disentangle"] is None:
                raise ValueError("loss.mi_grad_to='rdm' needs a temporal module with disentangle()")
            if "motion" in maps:
                maps["motion"] = maps["motion"].detach()
            if {"useful", "noisy"} & needed:
                maps["useful"], maps["noisy"] = self._links["disentangle"](outputs["motion"].detach())
        return maps

    def _estimates(self, maps: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """Model-facing estimate per (A, B) pair, and the estimators' own objectives."""
        cfg, est = self.cfg, self.estimators
        own = next(iter(maps.values())).new_zeros((), dtype=torch.float32)
        pairs = dict.fromkeys((a, b) for _, _, a, b, _, _ in self.terms)
        if cfg.mi_estimator == "kl_proxy":
            values = {}
            for a, b in pairs:
                x = maps[a]
                if b == "heatmaps":
                    with torch.no_grad():
                        x = self._links["readout"](x)
                values[(a, b)] = est[f"{a}_{b}"](x, maps[b])
            return values, own
        vectors = sample_pixels(maps, {n for p in pairs for n in p}, cfg.mi_pixels)
        values = {}
        for a, b in pairs:
            e, x, y = est[f"{a}_{b}"], vectors[a], vectors[b]
            raw = e(x, y, detach_critic=True) if isinstance(e, InfoNCE) else e(x, y)
            values[(a, b)] = raw / y.shape[1]
            own = own + e.learning_loss(x, y)
        return values, own

    def _grad_ratios(self, heatmap: Tensor, contributions: dict[str, Tensor]) -> None:
        params = self._links["shared"]() if self._links["shared"] else []
        if not params or not heatmap.requires_grad:
            return

        def norm(value: Tensor) -> float:
            if not value.requires_grad:
                return 0.0
            grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
            return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))

        base = max(norm(heatmap), 1e-12)
        self.ratios = {f"grad_ratio/{k}": norm(v) / base for k, v in contributions.items()}

    def forward(self, outputs: dict[str, Tensor], target: Tensor, target_weight: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        weight = target_weight if cfg.use_target_weight else None
        terms = {"heatmap": heatmap_mse(outputs["heatmaps"], target, weight)}
        if not self.terms:
            return {**terms, "total": terms["heatmap"]}
        values, own = self._estimates(self._inputs(outputs))
        ramp = self._ramp() if self.training else 1.0
        groups: dict[str, Tensor] = {}
        contributions: dict[str, Tensor] = {}
        for group, name, a, b, sign, factor in self.terms:
            value = values[(a, b)]
            terms[f"mi/{name}"] = value.detach()
            part = getattr(cfg, group) * ramp * factor * sign * value
            contributions[f"{group}/{name}"] = part
            groups[group] = groups.get(group, 0.0) + part
            if cfg.mi_estimator == "bounds" and sign > 0:
                terms[f"negative/{name}"] = (value.detach() < 0).float()
        total = terms["heatmap"] + sum(groups.values()) + own
        if self.training and torch.is_grad_enabled():
            every = cfg.grad_ratio_every
            if every and int(self.calls) % every == 0:
                self._grad_ratios(terms["heatmap"], contributions)
            self.calls += 1
        terms.update({k: torch.as_tensor(v).detach() for k, v in groups.items()})
        terms["estimators"] = own.detach()
        device = terms["heatmap"].device
        terms.update({k: torch.tensor(v, device=device) for k, v in self.ratios.items()})
        return {**terms, "total": total}


def build_loss(cfg: LossConfig, model: nn.Module) -> TDMILoss:
    """TDMILoss wired to `model`: output widths, the head's readout, the RDM, its parameters."""
    c, m = model.key_channels, model.motion_channels
    dims = {"motion": m, "useful": m, "noisy": m, "appearance": c, "fused": c, "heatmaps": model.cfg.num_joints}
    return TDMILoss(
        cfg,
        dims,
        readout=model.head.final,
        disentangle=getattr(model.temporal, "disentangle", None),
        shared=lambda: [p for p in model.parameters() if p.requires_grad],
    )
