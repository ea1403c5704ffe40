"""The closed-form fields of methods.exact, checked against each method's own objective.

The field a method's objective is minimised by is the conditional mean of its regression
target, so its residual is orthogonal to every function of (x_t, t): for any perturbation d,
loss(ideal + d) - loss(ideal) = E|d|^2 exactly in expectation, with no cross term. A Monte
Carlo batch checks that the cross term vanishes to within its standard error, while the
same cross term for a slightly wrong field is many standard errors away.
"""

import math

import pytest
import torch

from bench.data.datasets import DATASETS
from methods import METHODS
from methods.exact import GaussianMixture, ideal_network

MIXTURE = DATASETS.get("gauss-gmm8").mixture


def perturbation(x, t):
    return 0.2 * torch.stack([torch.sin(2 * x[:, 1] + t), torch.cos(x[:, 0] * (1 + t))], 1)


def cross_term(method, net, n=20_000, seed=0):
    """The mean and standard error of the cross term 2 E[(net - target) . d]: loss(net + s d) is
    quadratic in s and this is its slope at s = 0, estimated on 100 independent chunks."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x1 = MIXTURE.sample(n, g).double()
    t = torch.rand(n, generator=g, dtype=torch.float64) * 0.98 + 0.01
    h = 1e-3
    per_sample = []
    for s in (h, -h):
        shifted = lambda x, tt, s=s: net(x, tt) + s * perturbation(x, tt)  # noqa: E731
        per_sample.append(torch.stack([method.loss(shifted, x0[i::100], x1[i::100], t[i::100]) for i in range(100)]))
    slope = (per_sample[0] - per_sample[1]) / (2 * h)  # 200 independent chunk estimates
    return slope.mean().item(), slope.std().item() / math.sqrt(len(slope))


@pytest.mark.parametrize("name", ["iadb", "si-linear-simple", "si-trig-simple", "si-trig-complex", "ddpm"])
def test_ideal_network_minimises_the_methods_objective(name):
    method = METHODS.get(name)
    ideal = ideal_network(method, MIXTURE)
    mean, se = cross_term(method, ideal)
    assert abs(mean) < 4 * se
    off = lambda x, t: ideal(x, t) + perturbation(x, t)  # noqa: E731 (a field off by d: slope 2 E|d|^2)
    mean_off, se_off = cross_term(method, off)
    assert mean_off > 10 * se_off


def test_single_gaussian_linear_velocity_matches_its_formula():
    """N(0, I) -> N(m, s^2 I): x_t ~ N(t m, ((1-t)^2 + t^2 s^2) I) and the velocity is
    m + (t s^2 - (1-t)) / ((1-t)^2 + t^2 s^2) (x - t m) (written out independently)."""
    m, s = torch.tensor([1.5, -0.5], dtype=torch.float64), 0.7
    net = ideal_network(METHODS.get("iadb"), GaussianMixture((1.0,), (tuple(m.tolist()),), (s,)))
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for t in (0.0, 0.3, 0.9, 1.0):
        var = (1 - t) ** 2 + t**2 * s**2
        expected = m + (t * s**2 - (1 - t)) / var * (x - t * m)
        torch.testing.assert_close(net(x, torch.full((9,), t, dtype=torch.float64)), expected)


def test_mixture_log_prob_integrates_to_one():
    grid = torch.linspace(-5, 5, 401, dtype=torch.float64)
    xy = torch.cartesian_prod(grid, grid)
    mass = MIXTURE.log_prob(xy).exp().sum().item() * (grid[1] - grid[0]).item() ** 2
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_exact_methods_apply_only_to_mixture_targets():
    from bench.run.sampling import applicability

    exact = METHODS.get("exact")
    assert applicability(exact, DATASETS.get("gauss-gmm8")) is None
    reason = applicability(exact, DATASETS.get("gauss-moons"))
    assert "gauss-gmm8" in reason
    with pytest.raises(TypeError, match="nothing to train"):
        exact.loss(None, None, None, None)
