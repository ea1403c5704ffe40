"""The closed-form fields of methods.exact, checked against each method's own objective.

The field a method's objective is minimised by is the conditional mean of its regression
target, so its residual is orthogonal to every function of (x_t, t): for any perturbation d,
loss(ideal + d) - loss(ideal) = E|d|^2 exactly in expectation, with no cross term. A Monte
Carlo batch checks that the cross term vanishes to within its standard error, while the
same cross term for a slightly wrong field is many standard errors away.
"""

import math

import numpy as np
import pytest
import torch

from bench.data.datasets import DATASETS
from methods import METHODS
from methods.exact import IDEAL_BUILDERS, GaussianMixture, ideal_network, interpolant_velocity
from methods.interpolants import LINEAR

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


def posterior_means(alpha: float, beta: float, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[x0 | x_t = x] and E[x1 | x_t = x] for x_t = alpha x0 + beta x1, x0 ~ N(0, I), x1 ~ MIXTURE,
    written out per component (numpy, from the mixture's declared numbers): given component k,
    x_t ~ N(beta m_k, s_k^2 I) with s_k^2 = alpha^2 + beta^2 sd_k^2, and by Gaussian conditioning
    E[x0 | x_t, k] = alpha / s_k^2 (x_t - beta m_k), E[x1 | x_t, k] = m_k + beta sd_k^2 / s_k^2 (x_t - beta m_k);
    the components are weighted by pi_k N(x_t; beta m_k, s_k^2 I)."""
    pts = x.numpy()
    pis, means, sds = np.array(MIXTURE.weights), np.array(MIXTURE.means), np.array(MIXTURE.stds)
    var = alpha**2 + beta**2 * sds**2  # [K]
    diff = pts[:, None, :] - beta * means[None]  # [n, K, d]
    log_w = np.log(pis) - 0.5 * (diff**2).sum(-1) / var - pts.shape[1] / 2 * np.log(2 * np.pi * var)
    w = np.exp(log_w - log_w.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    e_x0 = (w[..., None] * (alpha / var)[None, :, None] * diff).sum(1)
    e_x1 = (w[..., None] * (means[None] + (beta * sds**2 / var)[None, :, None] * diff)).sum(1)
    return torch.from_numpy(e_x0), torch.from_numpy(e_x1)


COEFFICIENTS = {  # alpha, beta and their derivatives, as the background post and Albergo et al. define them
    "iadb": (lambda t: 1 - t, lambda t: t, lambda t: -1.0, lambda t: 1.0),
    "si-linear-simple": (lambda t: 1 - t, lambda t: t, lambda t: -1.0, lambda t: 1.0),
    "si-trig-simple": (lambda t: math.cos(math.pi * t / 2), lambda t: math.sin(math.pi * t / 2),
                       lambda t: -math.pi / 2 * math.sin(math.pi * t / 2),
                       lambda t: math.pi / 2 * math.cos(math.pi * t / 2)),
}  # fmt: skip


@pytest.mark.parametrize("name", [*COEFFICIENTS, "ddpm"])
def test_the_exact_fields_equal_the_mixture_posterior_written_out(name):
    """Each closed-form field at 50 points and 5 times equals the formula above to 1e-9 relative: the
    velocity alpha' E[x0 | x] + beta' E[x1 | x] for the interpolants, and DDPM's epsilon E[eps | x_tau]
    with alpha = sqrt(1 - abar), beta = sqrt(abar) (abar from the method's own schedule). A field
    scaled by 0.99 or shifted by 0.01 is far outside that."""
    method = METHODS.get(name)
    net = ideal_network(method, MIXTURE)
    x = 2.5 * torch.randn(50, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for t in (0.05, 0.3, 0.5, 0.8, 0.97):
        if name == "ddpm":
            abar = math.exp(method.log_alpha_bar(1.0 - t))
            e_eps, _ = posterior_means(math.sqrt(1 - abar), math.sqrt(abar), x)
            expected = e_eps
        else:
            alpha, beta, dalpha, dbeta = COEFFICIENTS[name]
            e_x0, e_x1 = posterior_means(alpha(t), beta(t), x)
            expected = dalpha(t) * e_x0 + dbeta(t) * e_x1
        got = net(x, torch.full((50,), t, dtype=torch.float64))
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)
        assert not torch.allclose(0.99 * got, expected, rtol=1e-4) and not torch.allclose(
            got + 0.01, expected, rtol=1e-4
        )


@pytest.mark.parametrize("name", ["exact", "exact-trig", "exact-ddpm", "exact-si-gamma"])
def test_an_exact_field_answers_in_the_dtype_it_is_asked_in(name):
    """Computed in float64 inside, returned in x's dtype, as a trained network would."""
    from bench.data.datasets import DATASETS

    method = METHODS.get(name)
    net = method.network(DATASETS.get("gauss-gmm8").mixture)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0)).to(dtype)
        assert net(x, torch.full((5,), 0.3, dtype=dtype)).dtype == dtype, (name, dtype)


def test_mixture_draws_are_its_documented_stream_and_follow_its_moments():
    """sample(n, g): component indices by torch.multinomial, then float64 standard normals, both from
    g and nothing else (the global RNG moved in between changes nothing); over 40,000 draws the
    component frequencies and each component's mean and spread are the mixture's."""
    mixture = GaussianMixture((0.2, 0.8), ((-6.0, 1.0), (2.0, 0.5)), (0.5, 1.5))
    first = mixture.sample(40_000, torch.Generator().manual_seed(3))
    torch.manual_seed(123)
    again = mixture.sample(40_000, torch.Generator().manual_seed(3))
    assert first.dtype == torch.float32 and torch.equal(first, again)
    g = torch.Generator().manual_seed(3)
    k = torch.multinomial(torch.tensor([0.2, 0.8], dtype=torch.float64), 40_000, replacement=True, generator=g)
    z = torch.randn(40_000, 2, generator=g, dtype=torch.float64)
    means, stds = torch.tensor([[-6.0, 1.0], [2.0, 0.5]], dtype=torch.float64), torch.tensor([0.5, 1.5]).double()
    assert torch.equal(first, (means[k] + stds[k, None] * z).float())
    left = first[:, 0] < -3.0  # 6 sd from one component, 3.3 from the other: P(wrong side) < 5e-4
    assert left.double().mean().item() == pytest.approx(0.2, abs=0.01)
    assert first[left].mean(0).tolist() == pytest.approx([-6.0, 1.0], abs=0.03)
    assert first[left].std(0).tolist() == pytest.approx([0.5, 0.5], abs=0.03)


SHAPE_ERROR = "a mixture needs as many weights, means and stds, at least one of each"
VALUE_ERROR = "mixture weights must be positive and sum to 1; stds must be positive"


@pytest.mark.parametrize(
    "weights, means, stds, error",
    [
        ((1.0,), ((0.0, 0.0), (1.0, 1.0)), (1.0, 1.0), SHAPE_ERROR),
        ((), (), (), SHAPE_ERROR),
        ((0.5, 0.4), ((0.0, 0.0), (1.0, 1.0)), (1.0, 1.0), VALUE_ERROR),  # sums to 0.9
        ((0.5 + 2e-9, 0.5), ((0.0, 0.0), (1.0, 1.0)), (1.0, 1.0), VALUE_ERROR),  # 2e-9 off
        ((1.0, 0.0), ((0.0, 0.0), (1.0, 1.0)), (1.0, 1.0), VALUE_ERROR),  # a zero weight
        ((0.5, 0.5), ((0.0, 0.0), (1.0, 1.0)), (1.0, 0.0), VALUE_ERROR),  # a zero std
    ],
)
def test_a_mixture_refuses_inconsistent_numbers_with_the_reason(weights, means, stds, error):
    with pytest.raises(ValueError) as err:
        GaussianMixture(weights, means, stds)
    assert str(err.value) == error


def test_a_mixture_accepts_weights_within_rounding_of_one():
    mixture = GaussianMixture((0.1, 0.2, 0.7 + 5e-10), ((0.0,), (1.0,), (2.0,)), (1.0, 0.5, 0.25))
    assert mixture.dim == 1


def test_a_method_without_an_exact_field_is_named_with_the_known_kinds():
    with pytest.raises(TypeError) as err:
        ideal_network("not a method", MIXTURE)
    known = ", ".join(k.__name__ for k in IDEAL_BUILDERS)
    assert str(err.value) == f"no exact field for str; known: {known}"
    assert "StochasticInterpolant" in known and "DDPM" in known


def test_the_noisy_interpolants_exact_velocity_matches_gaussian_conditioning():
    """I = (1-t) x0 + t x1 + g z, x0, z ~ N(0, I), x1 ~ N(m, s^2 I): (dI, I) are jointly Gaussian, so
    E[dI | I = x] = m + (a a' + b b' s^2 + g g') / (a^2 + b^2 s^2 + g^2) (x - b m), written out with
    a = 1 - t, b = t, g = sqrt(2 t (1 - t)), g g' = 1 - 2 t (and the same without g)."""
    m, s = torch.tensor([1.5, -0.5], dtype=torch.float64), 0.7
    mixture = GaussianMixture((1.0,), (tuple(m.tolist()),), (s,))
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    gamma = lambda t: ((2 * t * (1 - t)).sqrt(), 1 - 2 * t)  # noqa: E731
    for t in (0.1, 0.3, 0.5, 0.9):
        tt = torch.full((9,), t, dtype=torch.float64)
        a, b, g2, g_dg = 1 - t, t, 2 * t * (1 - t), 1 - 2 * t
        for noisy in (True, False):
            num = -a + b * s**2 + (g_dg if noisy else 0.0)
            var = a**2 + b**2 * s**2 + (g2 if noisy else 0.0)
            expected = m + num / var * (x - b * m)
            got = interpolant_velocity(mixture, LINEAR, x, tt, gamma if noisy else None)
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
