"""Metrics against direct computations: W2 in 1D is the L2 distance of sorted samples, and
scipy's energy_distance in 1D."""

import numpy as np
import pytest
import scipy.stats
import torch

from bench.evaluate.metrics import energy, w2


def embed(v):
    """1D samples as 2D points on the x axis."""
    return torch.tensor(np.stack([v, np.zeros_like(v)], 1))


@pytest.fixture
def samples():
    rng = np.random.default_rng(0)
    return rng.normal(size=300), rng.exponential(size=300)


def test_w2_equals_sorted_l2_in_1d(samples):
    a, b = samples
    expected = np.sqrt(np.mean((np.sort(a) - np.sort(b)) ** 2))
    assert w2(embed(a), embed(b)) == pytest.approx(expected, rel=1e-9)


def test_energy_matches_scipy_in_1d(samples):
    a, b = samples
    assert energy(embed(a), embed(b)) == pytest.approx(scipy.stats.energy_distance(a, b), rel=1e-9)


def test_distances_vanish_on_identical_sets(samples):
    a, _ = samples
    assert w2(embed(a), embed(a)) == pytest.approx(0, abs=1e-12)
    assert energy(embed(a), embed(a)) == pytest.approx(0, abs=1e-6)


def test_w2_of_a_shift_is_the_shift():
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    assert w2(x, x + torch.tensor([3.0, 4.0])) == pytest.approx(5.0, rel=1e-6)


@pytest.mark.parametrize("n, m", [(300, 300), (200, 250)])
def test_w2_agrees_with_the_network_simplex(n, m):
    """The assignment solver (equal sizes) and POT's network simplex (otherwise) solve the same programme."""
    import ot

    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(n, 2, generator=g), torch.randn(m, 2, generator=g) * 1.5 + 0.3
    a, b = x.double().numpy(), y.double().numpy()
    expected = np.sqrt(ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), ot.dist(a, b), numItermax=10_000_000))
    assert w2(x, y) == pytest.approx(expected, rel=1e-12)
