"""Mutual-information estimators for TDMI's objective, registered in `MI_ESTIMATORS`.

Two families (tdmi/losses.py picks one with `mi_estimator`):

- "kl_proxy", the authors' group's (CODE, JM-Pose `feat_feat_mi_estimation`; see
  ../shared/docs/TDMI_MODEL.md): both feature maps (B, C, h, w) become per-channel spatial
  distributions, p = softmax over the h*w pixels of F / tau (tau = 0.05), and the "MI" of (A, B)
  is a divergence between them with A's side detached (gradient into B only; neither side
  detached for I(M_u; M_n), as in CODE). CODE calls
  `kl_div(input=softmax(A/tau).detach(), target=softmax(B/tau))`, which computes
  mean over all B*C*h*w elements of p_B * (log p_B - p_A): `kl_div` expects log-probabilities
  as `input` and gets probabilities, so the value is not a KL (it is <= 0 and not 0 for equal
  maps). We compute the KL the call was meant to be, KL(p_B || p_A) =
  sum_pixels p_B (log p_B - log p_A) with log-softmax on both sides, and keep CODE's reduction
  (the mean over all B*C*h*w elements, i.e. the KL averaged over the B*C channel distributions
  and divided by h*w), so CODE's weights of 1 keep their scale: >= 0, 0 exactly for equal maps.
  Either way it is a divergence, not a calibrated MI: minimising it pulls two maps together. The
  loss keeps CODE's signs for this family (the faithful option) and the bounds below for the principled one.
- Bounds on vectors (per-pixel feature vectors sampled by the loss): "club" and "l1out"
  (upper bounds, for minimised terms) and "infonce" (lower bound, for maximised terms).

Upper bound, minimised (`VariationalUpperBound`); both variants share a variational network
q(y|x) = N(mu(x), diag sigma^2(x)), fitted by maximum likelihood on detached samples:

- "club", vCLUB (Cheng et al., "CLUB: A Contrastive Log-ratio Upper Bound of Mutual Information",
  ICML 2020, Eq. 5 and Thm 3.2):
      I(X;Y) <= E_p(x,y)[log q(y|x)] - E_p(x) E_p(y)[log q(y|x)]
             ~= 1/N sum_i [log q(y_i|x_i) - 1/N sum_j log q(y_j|x_i)].
  With a Gaussian q the inner mean over j is a closed form in the batch's mean and variance of y,
  so the "all pairs" estimator costs O(N d) (no need for their sampled CLUB-S variant). An upper
  bound when q is good enough (Thm 3.2) and loose for strongly dependent variables: for the
  Gaussian pair below it tends to d * rho^2 / (1 - rho^2), not -d/2 log(1 - rho^2).
- "l1out", variational leave-one-out (Poole et al., "On Variational Bounds of Mutual
  Information", ICML 2019, Eq. 13; Cheng et al. 2020, Sec. 3.3):
      I(X;Y) <~ 1/N sum_i [log q(y_i|x_i) - log 1/(N-1) sum_{j != i} q(y_i|x_j)],
  an upper bound with the true conditional, much tighter than vCLUB, O(N^2 d).

The estimate's gradient reaches x and y only: q's parameters are used detached there, so the
encoder minimises the bound while q is trained only by `learning_loss` (its negative
log-likelihood); letting the bound's gradient reach q would let q loosen the likelihood and
fake a low MI.

Lower bound, maximised (`InfoNCE`), van den Oord et al., "Representation Learning with
Contrastive Predictive Coding", 2018; proved a lower bound by Poole et al. 2019, Eq. 12:
      I(X;Y) >= 1/N sum_i [f(x_i, y_i) - log 1/N sum_j exp f(x_i, y_j)]
with a separable critic f(x, y) = <g(x), h(y)> (two MLPs, O(N^2) dot products). It is capped
at log N, so batches bound what it can certify, and with N = 1 it is identically zero. As with
q above, the critic learns only from its own objective (`learning_loss`, -InfoNCE on detached
inputs) and the model-facing estimate uses it detached (`detach_critic=True`), so a term's
weight scales the model's gradient and never the critic's.

Known answer used by the tests: X, Y in R^d, each coordinate pair standard normal with
correlation rho, I(X;Y) = -d/2 log(1 - rho^2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from tdmi.models.registry import MI_ESTIMATORS, register

LOGVAR_BOUND = 1.0  # q's log-variance in [-1, 1] (tanh), as CLUB's reference code bounds it
KL_TAU = 0.05  # CODE's temperature


@register(MI_ESTIMATORS, "kl_proxy")
class KLProxy(nn.Module):
    """CODE's feature-map "MI": KL between per-channel spatial softmaxes (module docstring)."""

    def __init__(self, tau: float = KL_TAU, detach_first: bool = True) -> None:
        super().__init__()
        self.tau, self.detach_first = tau, detach_first

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """KL(p_b || p_a) / (h*w) in nats, mean over batch and channels; a, b (B, C, h, w)."""
        if a.shape != b.shape:
            raise ValueError(f"kl_proxy needs maps of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        a = a.detach() if self.detach_first else a
        log_pa = F.log_softmax(a.flatten(2).float() / self.tau, dim=-1)
        log_pb = F.log_softmax(b.flatten(2).float() / self.tau, dim=-1)
        return (log_pb.exp() * (log_pb - log_pa)).mean()


def mlp(din: int, hidden: int, dout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(din, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dout))


def detached_call(module: nn.Module, *args: Tensor) -> Tensor:
    """`module(*args)` with its parameters detached: gradients reach the inputs, not the module."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return functional_call(module, params, args)


@register(MI_ESTIMATORS, "club")
@register(MI_ESTIMATORS, "l1out")
class VariationalUpperBound(nn.Module):
    """vCLUB or vL1Out upper bound on I(X;Y) with a Gaussian q(y|x) (see module docstring)."""

    BOUNDS = ("club", "l1out")

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        hidden: int = 128,
        bound: str = "club",
        logvar_bound: float = LOGVAR_BOUND,
    ) -> None:
        super().__init__()
        if bound not in self.BOUNDS:
            raise ValueError(f"bound must be one of {self.BOUNDS}, got {bound!r}")
        self.bound, self.logvar_bound = bound, logvar_bound
        self.q = mlp(x_dim, hidden, 2 * y_dim)  # -> mean, log-variance

    def _gaussian(self, x: Tensor, detach_q: bool) -> tuple[Tensor, Tensor]:
        out = detached_call(self.q, x) if detach_q else self.q(x)
        mu, logvar = out.chunk(2, dim=-1)
        # Smoothly bounded, as CLUB's reference code bounds it with tanh (to +-1): with small
        # batches an unbounded q collapses its variance and the bound's gradient explodes. Inputs
        # should be standardised (the loss does) so that unit-scale variances fit.
        return mu, self.logvar_bound * torch.tanh(logvar / self.logvar_bound)

    def learning_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Negative log-likelihood of q(y|x) (constant dropped); trains q only."""
        mu, logvar = self._gaussian(x.detach(), detach_q=False)
        y = y.detach()
        return (0.5 * ((y - mu) ** 2 * torch.exp(-logvar) + logvar)).sum(-1).mean()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """The bound's estimate in nats; differentiable in x and y, not in q."""
        mu, logvar = self._gaussian(x, detach_q=True)
        inv_var = torch.exp(-logvar)
        positive = -0.5 * ((y - mu) ** 2 * inv_var).sum(-1)  # log q(y_i|x_i) + const
        if self.bound == "club":
            # mean_j (y_j - mu_i)^2 = var(y) + (mean(y) - mu_i)^2, per dimension.
            spread = y.var(0, unbiased=False) + (y.mean(0) - mu) ** 2
            return (positive + 0.5 * (spread * inv_var).sum(-1)).mean()
        n = x.shape[0]
        # logq[i, j] = log q(y_i | x_j) including its normaliser, which varies with j.
        logq = -0.5 * (((y[:, None] - mu[None]) ** 2) * inv_var[None] + logvar[None]).sum(-1)
        logq_pos = logq.diagonal()
        logq = logq.masked_fill(torch.eye(n, dtype=torch.bool, device=x.device), -math.inf)
        return (logq_pos - (torch.logsumexp(logq, dim=1) - math.log(n - 1))).mean()


@register(MI_ESTIMATORS, "infonce")
class InfoNCE(nn.Module):
    """InfoNCE lower bound on I(X;Y) with a separable MLP critic (see module docstring)."""

    def __init__(self, x_dim: int, y_dim: int, hidden: int = 128, dim: int = 64) -> None:
        super().__init__()
        self.g, self.h = mlp(x_dim, hidden, dim), mlp(y_dim, hidden, dim)

    def _estimate(self, gx: Tensor, hy: Tensor) -> Tensor:
        scores = gx @ hy.T  # scores[i, j] = f(x_i, y_j)
        return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(len(gx))

    def learning_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The critic's own objective, -InfoNCE on detached inputs; trains the critic only."""
        return -self._estimate(self.g(x.detach()), self.h(y.detach()))

    def forward(self, x: Tensor, y: Tensor, detach_critic: bool = False) -> Tensor:
        """The bound's estimate in nats; with `detach_critic` its gradient reaches x and y only."""
        if detach_critic:
            return self._estimate(detached_call(self.g, x), detached_call(self.h, y))
        return self._estimate(self.g(x), self.h(y))
