"""MI estimators on correlated Gaussians, where I(X;Y) = -d/2 log(1 - rho^2) is known.

Each estimator is fitted for 300 Adam steps on fresh batches of 256 pairs, then evaluated on five
fresh batches. Tolerances (nats), from the bounds' known behaviour, with margin over seeds:
- InfoNCE and vL1Out land within TOL = 0.1 of the truth (N = 512 keeps InfoNCE's log N cap far);
- vCLUB is an upper bound but loose: it lands within 10% of its own closed form for the
  Gaussian pair, d * rho^2 / (1 - rho^2), and is never below the truth by more than TOL;
- independent inputs give |estimate| < 0.05.
"""

import math

import pytest
import torch

from tdmi.models.mi import InfoNCE, VariationalUpperBound, pool_vectors

TOL = 0.1
CASES = [(0.5, 2), (0.8, 3), (0.9, 2)]  # (rho, d)


def _sample(n: int, d: int, rho: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, d, generator=gen)
    return x, rho * x + math.sqrt(1 - rho**2) * torch.randn(n, d, generator=gen)


def _fit_and_estimate(kind: str, rho: float, d: int) -> float:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    est = InfoNCE(d, d, 64, 32) if kind == "infonce" else VariationalUpperBound(d, d, 64, kind)
    opt = torch.optim.Adam(est.parameters(), lr=3e-3)
    for _ in range(300):
        x, y = _sample(256, d, rho, gen)
        loss = -est(x, y) if kind == "infonce" else est.learning_loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return sum(est(*_sample(512, d, rho, gen)).item() for _ in range(5)) / 5


def _truth(rho: float, d: int) -> float:
    return -d / 2 * math.log(1 - rho**2)


@pytest.mark.parametrize("kind", ["infonce", "l1out"])
@pytest.mark.parametrize("rho,d", CASES)
def test_tight_estimators_match_truth(kind, rho, d):
    assert abs(_fit_and_estimate(kind, rho, d) - _truth(rho, d)) < TOL


@pytest.mark.parametrize("rho,d", CASES)
def test_club_is_an_upper_bound_with_known_gap(rho, d):
    est = _fit_and_estimate("club", rho, d)
    closed_form = d * rho**2 / (1 - rho**2)
    assert est > _truth(rho, d) - TOL
    assert abs(est - closed_form) < 0.1 * closed_form


@pytest.mark.parametrize("kind", ["infonce", "l1out", "club"])
def test_independent_inputs_give_zero(kind):
    assert abs(_fit_and_estimate(kind, 0.0, 3)) < 0.05


def test_upper_bound_gradient_skips_q_network():
    est = VariationalUpperBound(4, 4)
    x, y = torch.randn(8, 4, requires_grad=True), torch.randn(8, 4)
    est(x, y).backward()
    assert x.grad is not None and all(p.grad is None for p in est.parameters())
    est.learning_loss(x, y).backward()
    assert all(p.grad is not None for p in est.parameters())


def test_pool_vectors_shape():
    assert pool_vectors(torch.randn(2, 5, 8, 6), 2).shape == (2, 20)
