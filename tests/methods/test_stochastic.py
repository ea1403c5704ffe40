"""The stochastic interpolant with latent noise: its objective written out, its exact heads as
the objective's minimiser, and its ODE and SDE samplers driven by the exact field."""

import math

import pytest
import torch

from bench.data.datasets import DATASETS
from bench.evaluate.metrics import w2
from bench.solvers import SOLVERS, uniform_grid
from methods import METHODS
from methods.exact import ideal_network
from methods.stochastic import em_sample

METHOD = METHODS.get("si-gamma-linear")
DATASET = DATASETS.get("gauss-gmm8")


def two_heads(x, t):
    return torch.cat([0.3 * x.flip(1) - 0.7 * x + t[:, None], 0.5 * x * t[:, None]], 1)


def batch(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x1 = DATASET.mixture.sample(n, g).double()
    t = torch.rand(n, generator=g, dtype=torch.float64) * 0.98 + 0.01
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x0, x1, t, z


def test_objective_matches_its_formula():
    x0, x1, t, z = batch(300)
    g = torch.sqrt(2 * t * (1 - t))[:, None]
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1 + g * z
    out = two_heads(xt, t)
    expected = ((out[:, :2] - (x1 - x0)) ** 2).mean() + ((out[:, 2:] - z) ** 2).mean()
    assert METHOD.loss(two_heads, x0, x1, t, z=z).item() == pytest.approx(expected.item(), rel=1e-12)
    with pytest.raises(ValueError, match="latent noise"):
        METHOD.loss(two_heads, x0, x1, t)


def test_exact_heads_minimise_the_objective():
    """The loss's slope along any perturbation d vanishes at the exact heads (conditional means),
    and is 2 E|d|^2 / 2 for heads off by d (see tests/methods/test_exact.py)."""
    ideal = ideal_network(METHOD, DATASET.mixture)
    x0, x1, t, z = batch(20_000, seed=1)

    def slope(net):
        d = lambda x, tt: 0.2 * torch.cat([torch.sin(2 * x), torch.cos(x * (1 + tt[:, None]))], 1)  # noqa: E731
        h, chunks = 1e-3, []
        for i in range(100):
            sl = slice(i, None, 100)
            up = METHOD.loss(lambda x, tt: net(x, tt) + h * d(x, tt), x0[sl], x1[sl], t[sl], z=z[sl])
            down = METHOD.loss(lambda x, tt: net(x, tt) - h * d(x, tt), x0[sl], x1[sl], t[sl], z=z[sl])
            chunks.append((up - down) / (2 * h))
        chunks = torch.stack(chunks)
        return chunks.mean().item(), chunks.std().item() / math.sqrt(len(chunks))

    mean, se = slope(ideal)
    assert abs(mean) < 4 * se
    mean_off, se_off = slope(lambda x, tt: ideal(x, tt) + 0.2 * torch.cat([torch.sin(2 * x), torch.cos(x)], 1))
    assert mean_off > 10 * se_off


def test_em_without_diffusion_is_euler_on_the_velocity():
    net = ideal_network(METHOD, DATASET.mixture)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    em = METHOD.native_samplers["em-eps0"](net, x, 16, torch.zeros(16, 50, 2, dtype=torch.float64))
    euler = SOLVERS.get("euler").fn(lambda y, t: METHOD.velocity(net, y, t), x, uniform_grid(16, *METHOD.time_range))
    torch.testing.assert_close(em, euler)


@pytest.mark.parametrize("solver", ["em-eps0", "em-eps1", "em-eps2"])
def test_ode_and_sde_with_the_exact_field_reach_the_target(solver):
    """Every diffusion coefficient gives the same marginals: at many steps, the samples' W2 to
    target draws is near the floor (two independent target draws)."""
    n, steps = 600, 400
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    noise = torch.randn(steps, n, 2, generator=g, dtype=torch.float64)
    net = ideal_network(METHOD, DATASET.mixture)
    out = METHOD.native_samplers[solver](net, x0, steps, noise)
    reference, other = DATASET.mixture.sample(n, g), DATASET.mixture.sample(n, g)
    assert w2(out, reference) < 1.5 * w2(other, reference)


def test_adaptive_solver_integrates_the_velocity():
    """dopri5 probes past the end of the time range: the field must stay finite there."""
    net = ideal_network(METHOD, DATASET.mixture)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(4))
    out = SOLVERS.get("rk45").fn(lambda y, t: METHOD.velocity(net, y, t), x, uniform_grid(1, *METHOD.time_range), 1e-3)
    assert torch.isfinite(out).all()
    assert (
        torch.isfinite(METHOD.velocity(net, x, 1.0 + 1e-4)).all() and torch.isfinite(METHOD.velocity(net, x, 0.0)).all()
    )


@pytest.mark.parametrize("solver", ["em-eps0", "em-eps1", "em-eps2"])
def test_the_samplers_reach_a_gaussian_targets_mean_and_variance(solver):
    """N(0, I) -> N(m, s^2 I): the exact heads, 200 steps, 20,000 samples. Every diffusion
    coefficient has the target's marginal at t = 1, so the samples' mean is m and their variance
    s^2 per coordinate, within 4 standard errors plus 2 % for Euler's O(h) bias (measured: the
    ODE's variance 1.7 % off at 200 steps beyond its sampling error, 1.2 % at 400). Dropping the
    score term moves the variance by +165 % (eps0 = 1), halving the diffusion's variance by +39 %."""
    from methods.exact import GaussianMixture

    m, s = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5
    net = ideal_network(METHOD, GaussianMixture((1.0,), (tuple(m.tolist()),), (s,)))
    n, steps = 20_000, 200
    g = torch.Generator().manual_seed(8)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    noise = torch.randn(steps, n, 2, generator=g, dtype=torch.float64)
    out = METHOD.native_samplers[solver](net, x0, steps, noise)
    se_mean, se_var = s / math.sqrt(n), s**2 * math.sqrt(2 / n)
    assert (out.mean(0) - m).abs().max().item() < 4 * se_mean + 0.02 * s
    assert (out.var(0) - s**2).abs().max().item() < 4 * se_var + 0.02 * s**2


def test_the_heads_are_the_two_halves_of_the_networks_output_in_any_dimension():
    x, t = torch.randn(5, 3, generator=torch.Generator().manual_seed(0)), torch.full((5,), 0.5)
    v, eta = METHOD.heads(lambda y, tt: torch.cat([y, 2 * y], 1), x, t)
    assert torch.equal(v, x) and torch.equal(eta, 2 * x)


def test_euler_maruyama_is_its_update_written_out():
    """X_{k+1} = X_k + h (b + eps s) + sqrt(2 eps h) noise_k with eps = eps0 sqrt(2 t (1 - t)), on K
    uniform steps over the time range; the last step adds no noise (it returns the mean). A stub
    method with a known drift and score, so only the update is checked."""
    t0, t1, steps, eps0 = 0.02, 0.97, 5, 1.5  # an eps0 of no built-in sampler: the function itself
    stub = type("Stub", (), {"time_range": (t0, t1)})()
    stub.drift_and_score = lambda net, x, t: (-x * t + 1.0, torch.sin(x) - t)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(7, 2, generator=g, dtype=torch.float64)
    noise = torch.randn(steps, 7, 2, generator=g, dtype=torch.float64)
    got = em_sample(stub, eps0, None, x0, steps, noise)
    x = x0.clone()
    for k in range(steps):
        t, t_next = t0 + (t1 - t0) * k / steps, t0 + (t1 - t0) * (k + 1) / steps
        h, eps = t_next - t, eps0 * math.sqrt(2 * t * (1 - t))
        x = x + h * ((-x * t + 1.0) + eps * (torch.sin(x) - t))
        if k < steps - 1:
            x = x + math.sqrt(2 * eps * h) * noise[k]
    torch.testing.assert_close(got, x, rtol=1e-13, atol=1e-13)


def test_drift_and_score_are_the_heads_combined_at_the_exact_time():
    """b = v + gamma'(t) eta and s = -eta / gamma(t), gamma = sqrt(2 t (1 - t)), gamma' = (1 - 2 t) / gamma,
    in float64 at the time asked (a float32 t = 0.3 would be 1e-8 off)."""
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    net = lambda y, tt: torch.cat([y * tt[:, None], y.flip(1) - 1], 1)  # noqa: E731
    for t in (0.3, 0.7):
        b, s = METHOD.drift_and_score(net, x, t)
        g = math.sqrt(2 * t * (1 - t))
        v, eta = x * t, x.flip(1) - 1
        torch.testing.assert_close(b, v + (1 - 2 * t) / g * eta, rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(s, -eta / g, rtol=1e-14, atol=1e-14)
