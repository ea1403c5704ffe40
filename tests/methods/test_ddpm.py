"""DDPM's schedule, its probability-flow velocity and native samplers, with the exact score
of Gaussian data: x_data ~ N(0, c^2 I) gives x_s ~ N(0, v(s) I), v = abar c^2 + 1 - abar,
so the exact epsilon is eps(x, s) = sqrt(1 - abar) x / v(s)."""

import math

import numpy as np
import pytest
import torch

from bench.solvers import SOLVERS, uniform_grid
from methods import METHODS

DDPM = METHODS.get("ddpm")
C = 0.5  # data standard deviation


def exact_eps_net(x, t):
    s = 1 - t[0].item()
    abar = math.exp(DDPM.log_alpha_bar(s))
    return math.sqrt(1 - abar) * x / (abar * C * C + 1 - abar)


def exact_eps_net_discrete(x, t):
    """Exact epsilon using the discrete abar at tau = (1 - t) T (what the native samplers use)."""
    tau = round((1 - t[0].item()) * DDPM.num_steps)
    abar = DDPM.alpha_bar[tau].item()
    return math.sqrt(1 - abar) * x / (abar * C * C + 1 - abar)


def test_alpha_bar_is_the_product_of_one_minus_linear_betas():
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(DDPM.alpha_bar.numpy()[1:], np.cumprod(1 - betas), rtol=1e-12)
    assert DDPM.alpha_bar[0] == 1


def test_continuous_schedule_matches_discrete_at_every_step():
    taus = np.arange(1, 1001)
    discrete = np.log(DDPM.alpha_bar.numpy()[1:])
    continuous = np.array([DDPM.log_alpha_bar(tau / 1000) for tau in taus])
    assert np.abs(discrete - continuous).max() < 1e-6


def test_time_mapping_puts_noise_at_t0():
    t = torch.tensor([0.0, 0.0004, 0.5, 0.9999])
    assert DDPM.tau_of(t).tolist() == [1000, 1000, 500, 1]


@pytest.mark.parametrize("solver", ["euler", "rk4"])
def test_probability_flow_ode_with_exact_score_reaches_data_variance(solver):
    x0 = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    velocity = lambda x, t: DDPM.velocity(exact_eps_net, x, t)  # noqa: E731
    x = SOLVERS.get(solver).fn(velocity, x0, uniform_grid(200, *DDPM.time_range))
    assert x.std().item() == pytest.approx(C, rel=0.03)


@pytest.mark.parametrize("sampler", ["ddim", "ancestral"])
def test_native_samplers_with_exact_score_converge_to_data_variance(sampler):
    errors = []
    for steps in (50, 1000):
        g = torch.Generator().manual_seed(1)
        x0 = torch.randn(20000, 2, generator=g, dtype=torch.float64)
        noise = torch.randn(steps, 20000, 2, generator=g, dtype=torch.float64)
        x = DDPM.native_samplers[sampler](exact_eps_net_discrete, x0, steps, noise)
        errors.append(abs(x.std().item() - C))
    assert errors[1] < 0.015 * C
    assert errors[1] < errors[0] / 4


def test_respacing_runs_from_T_to_0_without_repeats():
    for k in (1, 2, 7, 64, 1000):
        taus = DDPM.respaced(k)
        assert taus[0] == 1000 and taus[-1] == 0 and len(taus) == k + 1
        assert all(a > b for a, b in zip(taus, taus[1:]))


def test_velocity_is_defined_beyond_the_time_range():
    """dopri5 probes past the end point when it picks its first step."""
    x = torch.randn(4, 2, dtype=torch.float64)
    end = DDPM.velocity(exact_eps_net, x, DDPM.time_range[1])
    torch.testing.assert_close(DDPM.velocity(exact_eps_net, x, 1.7), end)
    assert torch.isfinite(DDPM.velocity(exact_eps_net, x, -0.5)).all()


def test_rk45_samples_ddpm_from_a_near_zero_initial_velocity():
    x0 = torch.randn(512, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    velocity = lambda x, t: DDPM.velocity(exact_eps_net, x, t)  # noqa: E731
    x = SOLVERS.get("rk45").fn(velocity, x0, uniform_grid(1, *DDPM.time_range), 1e-5)
    assert x.std().item() == pytest.approx(C, rel=0.1)


@pytest.mark.parametrize("sampler", ["sample_ancestral", "sample_ddim"])
def test_native_samplers_clamp_their_data_prediction_to_the_data_range(sampler):
    ddpm = METHODS.get("ddpm")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 4, 4, generator=g)
    noise = torch.randn(8, 64, 1, 4, 4, generator=g)

    def wild(x, t):  # a badly trained network: its data predictions go far out of range
        return 3 * torch.sin(7 * x) + t[:, None, None, None]

    clipped = getattr(ddpm, sampler)(wild, x, 8, noise, clip=(-1.0, 1.0))
    assert clipped.abs().max() <= 1 + 1e-5
    assert getattr(ddpm, sampler)(wild, x, 8, noise).abs().max() > 10
    loose = getattr(ddpm, sampler)(wild, x, 8, noise, clip=(-1e9, 1e9))  # never binding: no change
    torch.testing.assert_close(loose, getattr(ddpm, sampler)(wild, x, 8, noise), rtol=1e-4, atol=1e-4)


def test_the_velocitys_beta_is_minus_the_derivative_of_log_abar():
    """dx/dt = beta(s)/2 (x - eps/sigma) with beta(s) = -d log abar / ds: with eps = 0 the velocity
    is beta(s) x / 2, against a central difference of `log_alpha_bar` (rounding: ~1e-7 relative;
    the step's beta read one DDPM step off is 0.2 % to 2 % off)."""

    def zero(x, t):
        return torch.zeros_like(x)

    x = torch.ones(1, 1, dtype=torch.float64)
    h = 1e-4
    for t in (0.05, 0.3, 0.6, 0.95):
        s = 1 - t
        beta = -(DDPM.log_alpha_bar(s + h) - DDPM.log_alpha_bar(s - h)) / (2 * h)
        got = 2 * DDPM.velocity(zero, x, t).item()
        assert got == pytest.approx(beta, rel=1e-5), t


def test_ancestral_sampling_on_all_steps_is_ho_et_als_algorithm_2():
    """Algorithm 2 written out: x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z,
    sigma_t^2 = beta-tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t, and no noise at the last step."""
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2).double()

    def eps(x, t):
        return torch.tanh(net(x)) * (1 + t[:, None])

    T = DDPM.num_steps
    g = torch.Generator().manual_seed(5)
    x_T = torch.randn(7, 2, generator=g, dtype=torch.float64)
    noise = torch.randn(T, 7, 2, generator=g, dtype=torch.float64)
    betas = torch.linspace(DDPM.beta_min, DDPM.beta_max, T, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    x = x_T
    with torch.no_grad():
        for k, tau in enumerate(range(T, 0, -1)):
            i = tau - 1  # betas[i] is beta_tau
            e = eps(x, x.new_full((7,), 1 - tau / T))
            x_new = (x - betas[i] / (1 - abar[i]).sqrt() * e) / (1 - betas[i]).sqrt()
            if tau > 1:
                x_new = x_new + ((1 - abar[i - 1]) / (1 - abar[i]) * betas[i]).sqrt() * noise[k]
            x = x_new
        got = DDPM.sample_ancestral(eps, x_T, T, noise)
    torch.testing.assert_close(got, x, rtol=1e-9, atol=1e-9)


def test_training_times_map_to_steps_1_to_T_even_at_the_ends():
    """tau = T - floor(t T), clamped to 1..T: t = 0 is tau = T (noise), t -> 1 is tau = 1, and a t
    at or past either end (t = 1 exactly, or below 0) stays a valid step."""
    T = DDPM.num_steps
    t = torch.tensor([0.0, 0.5, 0.9995, 1.0, 1.5, -0.25])
    assert DDPM.tau_of(t).tolist() == [T, T // 2, 1, 1, 1, T]


def test_the_loss_calls_the_network_at_the_datas_dtype():
    """eps_theta(x_tau, 1 - tau / T) with the time in x's dtype (a float32 network gets float32 times)."""
    seen = []

    def net(x, t):
        seen.append((x.dtype, t.dtype))
        return torch.zeros_like(x)

    x0, x1, t = torch.randn(4, 2), torch.randn(4, 2), torch.rand(4)
    loss = DDPM.loss(net, x0, x1, t)
    assert seen == [(torch.float32, torch.float32)] and loss.dtype == torch.float32
    assert loss.item() == pytest.approx(x0.square().mean().item())  # eps_theta = 0: the loss is E|eps|^2


def test_respacing_refuses_step_counts_outside_1_to_T():
    for steps in (0, DDPM.num_steps + 1):
        with pytest.raises(ValueError, match=rf"^steps must be in 1\.\.1000, got {steps}$"):
            DDPM.respaced(steps)


def test_a_clamped_data_prediction_comes_with_the_noise_it_implies():
    """Where the clamp bites, eps is recomputed so that x = sqrt(abar) x0_hat + sqrt(1 - abar) eps
    still holds (the forward process, solved for eps); elsewhere eps is the network's. Also for a
    range other than [-1, 1] (at +-1, multiplying by the bound and dividing by it agree)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(256, 2, generator=g, dtype=torch.float64)

    def wild(x, t):
        return 2 * torch.sin(5 * x)

    for lo, hi in ((-1.0, 1.0), (-0.5, 2.0)):
        for tau in (50, 400, 900):
            abar = DDPM.alpha_bar[tau].item()
            eps, x0_hat, _ = DDPM._eps_and_x0(wild, x, tau, clip=(lo, hi))
            raw = wild(x, None)
            raw_x0 = (x - math.sqrt(1 - abar) * raw) / math.sqrt(abar)
            bit = (raw_x0 < lo) | (raw_x0 > hi)
            assert bit.any() and (~bit).any(), tau
            torch.testing.assert_close(x0_hat, raw_x0.clamp(lo, hi))
            torch.testing.assert_close(math.sqrt(abar) * x0_hat + math.sqrt(1 - abar) * eps, x)
            torch.testing.assert_close(eps[~bit], raw[~bit])
