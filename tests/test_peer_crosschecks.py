"""The harness against the libraries people already use (test-only dependencies, no downloads):
torchdiffeq's fixed-grid solvers, torchcfm's ConditionalFlowMatcher, diffusers' DDPM and DDIM
schedulers. Each check runs both sides on the same field, grid, batch or noise."""

import math

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from torchcfm.conditional_flow_matching import ConditionalFlowMatcher
from torchdiffeq import odeint
from torchdiffeq._impl.rk_common import rk4_step_func

from bench.nets.mlp import MLP
from bench.solvers import SOLVERS, uniform_grid
from methods import METHODS

T = 1000


def field(x, t):
    """A nonlinear, time-dependent test field."""
    return torch.stack([torch.sin(3 * x[:, 1]) - t * x[:, 0], x[:, 0] * math.cos(2 * t) - 0.5 * x[:, 1]], 1)


X0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
GRID = uniform_grid(12)


@pytest.mark.parametrize("ours, theirs", [("euler", "euler"), ("midpoint", "midpoint"), ("heun", "heun2")])
def test_fixed_step_solvers_match_torchdiffeq(ours, theirs):
    mine = SOLVERS.get(ours).fn(field, X0, GRID)
    peer = odeint(lambda t, y: field(y, float(t)), X0, GRID, method=theirs)[-1]
    torch.testing.assert_close(mine, peer, rtol=1e-12, atol=1e-12)


def test_rk4_matches_torchdiffeqs_classical_rk4_step():
    """torchdiffeq's `rk4` method is Kutta's 3/8 rule (`rk4_alt_step_func`); its classical
    RK4 step is `rk4_step_func`, stepped here on the same grid."""
    y = X0
    for t0, t1 in zip(GRID[:-1], GRID[1:]):
        y = y + rk4_step_func(lambda t, z, perturb=None: field(z, float(t)), t0, t1 - t0, t1, y)
    torch.testing.assert_close(SOLVERS.get("rk4").fn(field, X0, GRID), y, rtol=1e-12, atol=1e-12)


def test_rk4_and_torchdiffeqs_three_eighths_rk4_agree_to_fourth_order():
    """Not to float tolerance (two different order-4 methods), but within O(h^4) of each other."""
    gaps = []
    for steps in (8, 16):
        grid = uniform_grid(steps)
        peer = odeint(lambda t, y: field(y, float(t)), X0, grid, method="rk4")[-1]
        gaps.append((SOLVERS.get("rk4").fn(field, X0, grid) - peer).abs().max().item())
    assert gaps[0] > 1e-10 and gaps[1] < gaps[0] / 10


@pytest.mark.parametrize("name", ["iadb", "si-linear-simple"])
def test_linear_interpolant_loss_matches_torchcfm_with_sigma_zero(name):
    g = torch.Generator().manual_seed(1)
    x0, x1, t = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g) + 3, torch.rand(256, generator=g)
    net = MLP(width=32, depth=2)
    with torch.random.fork_rng(devices=[]):  # torchcfm draws its (here unused, sigma = 0) noise globally
        _, xt, ut = ConditionalFlowMatcher(sigma=0.0).sample_location_and_conditional_flow(x0, x1, t=t)
    peer = torch.mean((net(xt, t) - ut) ** 2)  # torchcfm's training loss
    assert METHODS.get(name).loss(net, x0, x1, t).item() == pytest.approx(peer.item(), rel=1e-6)


def scheduler(kind):
    options = dict(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", clip_sample=False,
                   timestep_spacing="trailing")  # fmt: skip
    if kind is DDIMScheduler:
        options["set_alpha_to_one"] = True
    return kind(**options)


def test_ddpm_schedule_matches_diffusers():
    """diffusers' alphas_cumprod[i] is abar after i + 1 steps: ours is abar[tau], tau = i + 1."""
    ours = METHODS.get("ddpm").alpha_bar[1:]
    torch.testing.assert_close(ours.float(), scheduler(DDPMScheduler).alphas_cumprod, rtol=1e-6, atol=1e-7)


def test_ddpm_noising_step_matches_diffusers_add_noise():
    g = torch.Generator().manual_seed(2)
    data, eps, t = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g), torch.rand(64, generator=g)
    seen = {}

    def recorder(x, tt):
        seen["x"], seen["t"] = x, tt
        return torch.zeros_like(x)

    ddpm = METHODS.get("ddpm")
    ddpm.loss(recorder, eps, data, t)
    tau = ddpm.tau_of(t)
    peer = scheduler(DDPMScheduler).add_noise(data, eps, tau - 1)
    torch.testing.assert_close(seen["x"], peer, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(seen["t"].double(), 1 - tau.double() / T)


def eps_net(x, t):
    """A stand-in epsilon prediction that depends on both x and the network time t."""
    return 0.3 * x + 0.2 * torch.sin(3 * t)[:, None] - 0.1 * x.flip(1)


@pytest.mark.parametrize("kind, sampler", [(DDPMScheduler, "ancestral"), (DDIMScheduler, "ddim")])
@pytest.mark.parametrize("steps", [10, 50])
def test_native_samplers_match_diffusers(kind, sampler, steps):
    """Same K respaced steps (diffusers' 'trailing' spacing: timesteps 999, 899, ... are our tau =
    1000, 900, ...), same epsilon network, same per-step noise."""
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(3))
    draws = torch.Generator().manual_seed(4)
    noise = torch.stack([torch.randn(32, 2, generator=draws) for _ in range(steps)])
    ours = METHODS.get("ddpm").native_samplers[sampler](eps_net, x, steps, noise)
    sched = scheduler(kind)
    sched.set_timesteps(steps)
    assert [int(s) + 1 for s in sched.timesteps] == METHODS.get("ddpm").respaced(steps)[:-1]
    y, replay = x, torch.Generator().manual_seed(4)  # diffusers draws the same noise, step by step
    for step in sched.timesteps:
        eps = eps_net(y, torch.full((32,), 1 - (int(step) + 1) / T))
        if kind is DDIMScheduler:
            y = sched.step(eps, step, y, eta=0.0).prev_sample
        else:
            y = sched.step(eps, step, y, generator=replay).prev_sample
    assert math.isfinite(ours.abs().max().item())
    torch.testing.assert_close(ours, y, rtol=1e-4, atol=1e-5)
