"""Solvers on an ODE with a known solution: dx/dt = x cos(t), x(t) = x(0) exp(sin t)."""

import math

import numpy as np
import pytest
import torch

from bench.nets.mlp import CountingNet
from bench.run.sampling import sample
from bench.solvers import SOLVERS, uniform_grid
from methods import METHODS


def velocity(x, t):
    return x * math.cos(t)


X0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
EXACT = X0 * math.exp(math.sin(1.0))


def error(solver: str, steps: int) -> float:
    x = SOLVERS.get(solver).fn(velocity, X0, uniform_grid(steps))
    return (x - EXACT).abs().max().item()


@pytest.mark.parametrize("solver, order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)])
def test_fixed_step_convergence_order(solver, order):
    steps = np.array([8, 16, 32, 64])
    errors = np.array([error(solver, k) for k in steps])
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert slope == pytest.approx(order, abs=0.15)
    assert SOLVERS.get(solver).order == order


@pytest.mark.parametrize("tol", [1e-4, 1e-6, 1e-8])
def test_rk45_meets_its_tolerance(tol):
    x = SOLVERS.get("rk45").fn(velocity, X0, uniform_grid(1), tol)
    assert (x - EXACT).abs().max().item() < 20 * tol


class Affine(torch.nn.Module):
    def forward(self, x, t):
        return -x + t[:, None]


@pytest.mark.parametrize("solver, per_step", [("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)])
def test_nfe_is_counted_by_wrapping_the_network(solver, per_step):
    out = sample(METHODS.get("iadb"), Affine(), SOLVERS.get(solver), torch.zeros(5, 2), steps=3)
    assert out.nfe == 3 * per_step


def test_rk45_nfe_grows_as_tolerance_tightens():
    nfes = [
        sample(METHODS.get("iadb"), Affine(), SOLVERS.get("rk45"), torch.ones(5, 2), tol=tol).nfe
        for tol in (1e-2, 1e-5, 1e-8)
    ]
    assert nfes[0] < nfes[1] < nfes[2]


def test_counting_net_counts_calls():
    net = CountingNet(Affine())
    for _ in range(3):
        net(torch.zeros(2, 2), torch.zeros(2))
    assert net.calls == 3


def test_the_grid_is_float64_and_evenly_spaced():
    """Step sizes are formed in float64: a float32 grid of 1/3-steps is off by ~3e-8 from k/3."""
    grid = uniform_grid(3, 0.25, 1.0)
    assert grid.dtype == torch.float64
    assert grid.tolist() == [0.25, 0.25 + 0.75 / 3, 0.25 + 1.5 / 3, 1.0]
    assert uniform_grid(3).tolist()[1] == 1 / 3


def test_rk45_integrates_the_grids_whole_span_in_the_inputs_dtype():
    """From the grid's first time to its last, whatever points lie between (dx/dt = x cos t)."""
    x32 = X0.float()
    for grid in (uniform_grid(1), uniform_grid(4), torch.tensor([0.0, 0.1, 0.2, 1.0], dtype=torch.float64)):
        out = SOLVERS.get("rk45").fn(velocity, x32, grid, 1e-6)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, EXACT.float(), rtol=1e-5, atol=1e-5)
    # a span starting later: x(t1) = x(t0) exp(sin t1 - sin t0)
    out = SOLVERS.get("rk45").fn(velocity, X0, torch.tensor([0.5, 0.75, 1.0], dtype=torch.float64), 1e-8)
    torch.testing.assert_close(out, X0 * math.exp(math.sin(1.0) - math.sin(0.5)), rtol=1e-7, atol=1e-7)


def test_rk45_uses_the_tolerance_as_absolute_too():
    """Near zero only atol bounds the local error: with atol = tol = 1e-2 a tiny state needs a few
    steps; torchdiffeq's default atol (1e-9) takes more (counted with odeint here: 8 against 14)."""
    calls = []

    def counted(x, t):
        calls.append(t)
        return velocity(x, t)

    out = SOLVERS.get("rk45").fn(counted, X0 * 1e-6, uniform_grid(1), 1e-2)
    torch.testing.assert_close(out, EXACT * 1e-6, rtol=0.05, atol=1e-6)
    assert len(calls) <= 10
