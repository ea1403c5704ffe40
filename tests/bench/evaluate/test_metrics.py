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


def test_energy_in_2d_uses_euclidean_distances():
    """Points off the axes, where an L1 (or squared) distance gives another value: the energy
    distance equals the V-statistic written out with Euclidean norms, and not the L1 one."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]]) + 0.4

    def mean_distance(p, q, norm):
        return np.mean([[norm(u - v) for v in q] for u in p])

    def statistic(norm):
        return np.sqrt(2 * mean_distance(a, b, norm) - mean_distance(a, a, norm) - mean_distance(b, b, norm))

    euclidean, l1 = statistic(np.linalg.norm), statistic(lambda d: np.abs(d).sum())
    assert abs(euclidean - l1) > 0.05 * euclidean  # the check can tell them apart
    assert energy(torch.tensor(a), torch.tensor(b)) == pytest.approx(euclidean, rel=1e-8)  # cdist: matmul rounding


def test_w2_equals_the_best_permutation_and_an_independent_linear_programme():
    """Equal sizes: the minimum over all 720 permutations of 6 points. Unequal sizes (7 and 5 points):
    the transport linear programme solved by scipy's HiGHS, not the POT call the metric makes."""
    import itertools

    from scipy.optimize import linprog

    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) * 1.3 + 0.5
    cost = ((a[:, None] - b[None]) ** 2).sum(-1)
    best = min(cost[range(6), list(p)].mean() for p in itertools.permutations(range(6)))
    assert w2(torch.tensor(a), torch.tensor(b)) == pytest.approx(np.sqrt(best), rel=1e-12)

    a, b = rng.normal(size=(7, 2)), rng.normal(size=(5, 2)) + np.array([1.0, -0.5])
    cost = ((a[:, None] - b[None]) ** 2).sum(-1)
    n, m = cost.shape
    rows = [np.kron(np.eye(n)[i], np.ones(m)) for i in range(n)]  # each source point sends 1/n
    cols = [np.kron(np.ones(n), np.eye(m)[j]) for j in range(m)]  # each target point receives 1/m
    plan = linprog(cost.ravel(), A_eq=np.array(rows + cols), b_eq=[1 / n] * n + [1 / m] * m, bounds=(0, None),
                   method="highs")  # fmt: skip
    assert plan.status == 0
    assert w2(torch.tensor(a), torch.tensor(b)) == pytest.approx(np.sqrt(plan.fun), rel=1e-9)


def test_w2_of_unequal_sets_gives_pots_simplex_room_to_finish(monkeypatch):
    """The network simplex stops, with a warning and a too-large cost, when it runs out of pivots;
    its default budget (100,000) is too small for large sets, so W2 passes its own (10 million)
    and uniform weights that sum to one."""
    import ot

    seen = []
    real = ot.emd2
    monkeypatch.setattr(ot, "emd2", lambda a, b, m, **kw: seen.append((a, b, kw)) or real(a, b, m, **kw))
    rng = np.random.default_rng(3)
    w2(torch.tensor(rng.normal(size=(30, 2))), torch.tensor(rng.normal(size=(20, 2))))
    ((a, b, kw),) = seen
    assert kw == {"numItermax": 10_000_000}
    np.testing.assert_array_equal(a, np.full(30, 1 / 30))
    np.testing.assert_array_equal(b, np.full(20, 1 / 20))
