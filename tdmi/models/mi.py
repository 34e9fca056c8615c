"""Mutual-information estimators for the RDM objectives, on pooled feature vectors.

Feature maps are average-pooled to a small grid and flattened (`pool_vectors`) before any
estimator sees them: MI between whole feature maps is out of reach, and a g x g grid keeps coarse
spatial layout (where the joints move) at negligible cost next to the convolutions.

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
at log N, so batches bound what it can certify, and with N = 1 it is identically zero.

Known answer used by the tests: X, Y in R^d, each coordinate pair standard normal with
correlation rho, I(X;Y) = -d/2 log(1 - rho^2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

LOGVAR_BOUND = 4.0  # q's variance stays in [e^-4, e^4]


def pool_vectors(x: Tensor, grid: int) -> Tensor:
    """(B, C, h, w) -> (B, C * grid * grid): average-pooled layout, the estimators' input."""
    return F.adaptive_avg_pool2d(x, grid).flatten(1).float()


def mlp(din: int, hidden: int, dout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(din, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dout))


class VariationalUpperBound(nn.Module):
    """vCLUB or vL1Out upper bound on I(X;Y) with a Gaussian q(y|x) (see module docstring)."""

    BOUNDS = ("club", "l1out")

    def __init__(self, x_dim: int, y_dim: int, hidden: int = 128, bound: str = "club") -> None:
        super().__init__()
        if bound not in self.BOUNDS:
            raise ValueError(f"bound must be one of {self.BOUNDS}, got {bound!r}")
        self.bound = bound
        self.q = mlp(x_dim, hidden, 2 * y_dim)  # -> mean, log-variance

    def _gaussian(self, x: Tensor, detach_q: bool) -> tuple[Tensor, Tensor]:
        if detach_q:
            params = {k: v.detach() for k, v in self.q.named_parameters()}
            out = functional_call(self.q, params, (x,))
        else:
            out = self.q(x)
        mu, logvar = out.chunk(2, dim=-1)
        # Smoothly bounded, as CLUB's reference code bounds it with tanh (there to +-1): with
        # small batches an unbounded q collapses its variance and the bound's gradient explodes.
        return mu, LOGVAR_BOUND * torch.tanh(logvar / LOGVAR_BOUND)

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


class InfoNCE(nn.Module):
    """InfoNCE lower bound on I(X;Y) with a separable MLP critic (see module docstring)."""

    def __init__(self, x_dim: int, y_dim: int, hidden: int = 128, dim: int = 64) -> None:
        super().__init__()
        self.g, self.h = mlp(x_dim, hidden, dim), mlp(y_dim, hidden, dim)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """The bound's estimate in nats; maximise it (critic and encoders alike)."""
        scores = self.g(x) @ self.h(y).T  # scores[i, j] = f(x_i, y_j)
        return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(len(x))
