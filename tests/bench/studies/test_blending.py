"""The background post's experiments, checked against direct computations."""

import math

import numpy as np
import pytest
import torch

from bench.data.datasets import SQUARE, uniform_square, uniform_triangle
from bench.nets.mlp import MLP
from bench.studies import blending
from methods import METHODS


def in_square(points):
    lo, hi = SQUARE
    return ((points >= lo) & (points <= hi)).all(-1)


def chains(n_steps, starts, repeats, seed):
    g = torch.Generator().manual_seed(seed)
    x = starts.repeat(repeats, 1)
    return blending.blend_deblend_chain(x, n_steps, uniform_triangle, uniform_square, in_square, g)


def test_chain_starts_at_the_start_ends_in_the_target_and_is_seeded():
    starts = uniform_triangle(5, torch.Generator().manual_seed(1))
    path = chains(8, starts, 3, seed=0)
    assert path.shape == (9, 15, 2)
    assert torch.equal(path[0], starts.repeat(3, 1))
    assert in_square(path[-1]).all()
    assert torch.equal(path, chains(8, starts, 3, seed=0))
    assert not torch.equal(path, chains(8, starts, 3, seed=1))


def test_every_chain_point_is_a_blend_of_the_two_shapes():
    """The point at a = k/N is (1 - a) x0' + a x1' with x0' in the triangle and x1' in the square,
    so it lies in the blend of their bounding boxes [0, 1]^2 and [1.5, 2.5] x [0, 1]."""
    starts = uniform_triangle(4, torch.Generator().manual_seed(2))
    n = 6
    path = chains(n, starts, 2, seed=3)
    for k in range(1, n + 1):
        a = k / n
        x = path[k]
        lo = (1 - a) * 0.0 + a * SQUARE[0]
        hi = (1 - a) * torch.tensor([1.0, 1.0]) + a * SQUARE[1]
        assert ((x >= lo - 1e-6) & (x <= hi + 1e-6)).all(), k


def test_chains_from_one_start_converge_as_n_grows():
    starts = uniform_triangle(12, torch.Generator().manual_seed(4))
    spread = {}
    for n in (2, 64):
        end = chains(n, starts, 8, seed=5)[-1].view(8, 12, 2)
        spread[n] = float((end - end.mean(0)).square().sum(-1).mean().sqrt())
    assert spread[64] < 0.5 * spread[2]


def test_fit_slope_recovers_a_power_law():
    x = [2.0, 4.0, 8.0, 16.0]
    assert blending.fit_slope(x, [3 * v**-0.5 for v in x]) == pytest.approx(-0.5)
    # in float64 throughout: an exact power law gives its exponent to rounding (float32 logs: ~1e-7 off)
    y = [0.7 * v**-2.3 for v in (1.5, 3.0, 7.0, 11.0)]
    assert abs(blending.fit_slope([1.5, 3.0, 7.0, 11.0], y) + 2.3) < 1e-12


def test_field_estimate_matches_a_loop_over_pairs():
    g = torch.Generator().manual_seed(6)
    x0, x1 = uniform_triangle(30, g), uniform_square(40, g)
    ex, ey = torch.linspace(0.7, 1.8, 6), torch.linspace(-0.05, 1.05, 5)
    est = blending.field_estimate(0.5, x0, x1, ex, ey)
    sums, counts = np.zeros((5, 4, 2)), np.zeros((5, 4))
    for p in x0.numpy():
        for q in x1.numpy():
            b = 0.5 * p + 0.5 * q
            i, j = np.searchsorted(ex.numpy(), b[0]) - 1, np.searchsorted(ey.numpy(), b[1]) - 1
            if 0 <= i < 5 and 0 <= j < 4:
                sums[i, j] += q - p
                counts[i, j] += 1
    assert counts.sum() == 30 * 40
    np.testing.assert_array_equal(est.counts.numpy(), counts)
    expected = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1)[..., None], 0)
    np.testing.assert_allclose(est.mean.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert est.centres.shape == (5, 4, 2)


def test_field_estimate_drops_blends_outside_the_grid_on_every_side():
    """A grid over the middle of the blends only, fine enough that some bins hold one pair: the
    bins, their counts and means against a loop over pairs (bin k holds edges[k] < v <= edges[k+1],
    torch.bucketize's convention); more than 256 sources, so the blocks of sources are joined."""
    g = torch.Generator().manual_seed(11)
    x0, x1 = torch.rand(300, 2, generator=g) * 2 - 1, torch.rand(3, 2, generator=g) * 2 - 1
    ex, ey = torch.linspace(-0.5, 0.4, 19), torch.linspace(-0.3, 0.6, 10)
    est = blending.field_estimate(0.3, x0, x1, ex, ey)
    edges_x, edges_y = ex.numpy(), ey.numpy()
    sums, counts = np.zeros((18, 9, 2)), np.zeros((18, 9))
    outside = {"left": 0, "right": 0, "below": 0, "above": 0}
    for p in x0.numpy():
        for q in x1.numpy():
            b = (1 - np.float32(0.3)) * p + np.float32(0.3) * q
            for side, out in (("left", b[0] <= edges_x[0]), ("right", b[0] > edges_x[-1]),
                              ("below", b[1] <= edges_y[0]), ("above", b[1] > edges_y[-1])):  # fmt: skip
                outside[side] += bool(out)
            i = [k for k in range(18) if edges_x[k] < b[0] <= edges_x[k + 1]]
            j = [k for k in range(9) if edges_y[k] < b[1] <= edges_y[k + 1]]
            if i and j:
                sums[i[0], j[0]] += q.astype(np.float64) - p.astype(np.float64)
                counts[i[0], j[0]] += 1
    assert min(outside.values()) > 30 and 0 < counts.sum() < 300 * 3
    assert (counts == 1).sum() > 5 and (counts == 0).sum() > 5  # single pairs and empty bins are both checked
    np.testing.assert_array_equal(est.counts.numpy(), counts)
    expected = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1)[..., None], 0)
    np.testing.assert_allclose(est.mean.numpy(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(est.centres[0, 0], torch.tensor([(ex[0] + ex[1]) / 2, (ey[0] + ey[1]) / 2]))
    torch.testing.assert_close(est.centres[-1, -1], torch.tensor([(ex[-2] + ex[-1]) / 2, (ey[-2] + ey[-1]) / 2]))


def test_angular_difference_wraps_around():
    u = torch.tensor([[math.cos(math.radians(179)), math.sin(math.radians(179))]])
    v = torch.tensor([[math.cos(math.radians(-179)), math.sin(math.radians(-179))]])
    assert math.degrees(float(blending.angular_difference(u, v))) == pytest.approx(2.0, abs=1e-4)
    assert float(blending.angular_difference(torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]]))) == (
        pytest.approx(math.pi)
    )


@pytest.mark.parametrize("interpolant", ["linear", "trig"])
def test_simple_and_complex_objectives_agree_and_differ_by_the_offset(interpolant):
    simple, complex_ = METHODS.get(f"si-{interpolant}-simple"), METHODS.get(f"si-{interpolant}-complex")
    g = torch.Generator().manual_seed(7)
    x0, x1, t = torch.randn(256, 2, generator=g), uniform_square(256, g), torch.rand(256, generator=g)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP(width=32, depth=2)
    out = blending.objective_agreement(simple, complex_, simple.interpolant.dt, net, x0, x1, t)
    assert out["grad_cosine"] == pytest.approx(1.0, abs=1e-9)
    assert out["grad_relative_difference"] < 1e-5
    dt = simple.interpolant.dt(x0, x1, t)
    assert out["batch_offset"] == pytest.approx(float(dt.double().square().mean()))
    assert out["loss_difference"] == pytest.approx(out["batch_offset"], rel=1e-5)


def test_objective_agreement_sees_different_objectives():
    """Objectives of different interpolants do not agree: the measure can tell."""
    linear, trig = METHODS.get("si-linear-simple"), METHODS.get("si-trig-complex")
    g = torch.Generator().manual_seed(8)
    x0, x1, t = torch.randn(256, 2, generator=g), uniform_square(256, g), torch.rand(256, generator=g)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP(width=32, depth=2)
    out = blending.objective_agreement(linear, trig, linear.interpolant.dt, net, x0, x1, t)
    assert out["grad_cosine"] < 1 - 1e-6 and out["grad_relative_difference"] > 0.05


def test_objective_agreement_reports_each_loss_and_gradient_as_computed_directly():
    """Every number of the measure against the losses written out (simple: E|v - dI|^2, complex:
    E[|v|^2 - 2 dI . v]) and their gradients taken here with autograd."""
    linear, trig = METHODS.get("si-linear-simple"), METHODS.get("si-trig-complex")
    g = torch.Generator().manual_seed(9)
    x0, x1, t = torch.randn(128, 2, generator=g), uniform_square(128, g), torch.rand(128, generator=g)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        net = MLP(width=16, depth=2)
    out = blending.objective_agreement(linear, trig, linear.interpolant.dt, net, x0, x1, t)
    params = list(net.parameters())

    def loss_and_grad(interpolant, simple):
        xt, dxt = interpolant.at(x0, x1, t), interpolant.dt(x0, x1, t)
        v = net(xt, t)
        loss = (v - dxt).square().mean() if simple else (v.square() - 2 * dxt * v).mean()
        grad = torch.cat([p.reshape(-1) for p in torch.autograd.grad(loss, params)]).double()
        return loss.item(), grad

    loss_s, g_s = loss_and_grad(linear.interpolant, True)
    loss_c, g_c = loss_and_grad(trig.interpolant, False)
    want = {"loss_simple": loss_s, "loss_complex": loss_c, "loss_difference": loss_s - loss_c,
            "batch_offset": float(linear.interpolant.dt(x0, x1, t).double().square().mean()),
            "grad_norm_simple": float(g_s.norm()), "grad_norm_complex": float(g_c.norm()),
            "grad_cosine": float(g_s @ g_c / (g_s.norm() * g_c.norm())),
            "grad_relative_difference": float((g_s - g_c).norm() / g_s.norm())}  # fmt: skip
    assert set(out) == set(want)
    for key, value in want.items():
        assert out[key] == pytest.approx(value, rel=1e-6), key
