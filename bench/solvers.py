"""ODE solvers for dx/dt = velocity(x, t), all with one signature.

Fixed-step solvers: `solver(velocity, x, grid) -> x` on a time grid [K + 1]. The adaptive
`rk45` is torchdiffeq's Dormand-Prince (dopri5) from grid[0] to grid[-1] at a tolerance.
"Native" entries name a method's own sampler (DDPM's ancestral and DDIM); the method
supplies the function. Solvers never count evaluations: the caller wraps the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from methods.registry import Registry
from methods.stochastic import DIFFUSIONS, em_name

Velocity = Callable[[Tensor, float], Tensor]

__all__ = ["SOLVERS", "Solver", "Velocity", "euler", "heun", "midpoint", "rk4", "rk45", "uniform_grid"]


def uniform_grid(steps: int, t0: float = 0.0, t1: float = 1.0) -> Tensor:
    """K + 1 evenly spaced times from t0 to t1, float64."""
    return torch.linspace(t0, t1, steps + 1, dtype=torch.float64)


def _steps(grid: Tensor) -> zip:
    """(t, t_next) of each step of `grid`, as Python floats (one conversion, no tensor slicing)."""
    times = grid.tolist()
    return zip(times[:-1], times[1:])


def euler(velocity: Velocity, x: Tensor, grid: Tensor) -> Tensor:
    """Forward Euler, order 1."""
    for t, t_next in _steps(grid):
        x = x + (t_next - t) * velocity(x, t)
    return x


def midpoint(velocity: Velocity, x: Tensor, grid: Tensor) -> Tensor:
    """Explicit midpoint (RK2), order 2."""
    for t, t_next in _steps(grid):
        h = t_next - t
        k1 = velocity(x, t)  # slope at the start
        x = x + h * velocity(x + 0.5 * h * k1, t + 0.5 * h)  # step with the midpoint slope
    return x


def heun(velocity: Velocity, x: Tensor, grid: Tensor) -> Tensor:
    """Heun's method (explicit trapezoid, RK2), order 2."""
    for t, t_next in _steps(grid):
        h = t_next - t
        k1 = velocity(x, t)  # slope at the start
        k2 = velocity(x + h * k1, t_next)  # slope at the Euler prediction
        x = x + 0.5 * h * (k1 + k2)  # average of the two
    return x


def rk4(velocity: Velocity, x: Tensor, grid: Tensor) -> Tensor:
    """The classical Runge-Kutta method, order 4."""
    for t, t_next in _steps(grid):
        h = t_next - t
        k1 = velocity(x, t)  # start
        k2 = velocity(x + 0.5 * h * k1, t + 0.5 * h)  # midpoint, from k1
        k3 = velocity(x + 0.5 * h * k2, t + 0.5 * h)  # midpoint, from k2
        k4 = velocity(x + h * k3, t_next)  # end, from k3
        x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def rk45(velocity: Velocity, x: Tensor, grid: Tensor, tol: float) -> Tensor:
    """Adaptive Dormand-Prince 5(4) from torchdiffeq, rtol = atol = tol, order 5."""
    from torchdiffeq import odeint

    span = torch.stack([grid[0], grid[-1]]).to(x.dtype)
    return odeint(lambda t, y: velocity(y, float(t)), x, span, method="dopri5", rtol=tol, atol=tol)[-1]


@dataclass(frozen=True)
class Solver:
    name: str
    kind: str  # "fixed" (swept over steps), "adaptive" (swept over tolerance) or "native"
    order: int | None
    fn: Callable[..., Tensor] | None
    description: str = field(metadata={"fingerprint": False})


SOLVERS: Registry[Solver] = Registry("solver")
for _solver in (
    Solver("euler", "fixed", 1, euler, "forward Euler, order 1"),
    Solver("midpoint", "fixed", 2, midpoint, "explicit midpoint, order 2"),
    Solver("heun", "fixed", 2, heun, "Heun / explicit trapezoid, order 2"),
    Solver("rk4", "fixed", 4, rk4, "classical Runge-Kutta, order 4"),
    Solver("rk45", "adaptive", 5, rk45, "adaptive Dormand-Prince (torchdiffeq dopri5), swept over tolerance"),
    Solver("ancestral", "native", None, None, "DDPM ancestral sampling, respaced to K steps (ddpm only)"),
    Solver("ddim", "native", None, None, "DDIM, eta = 0, respaced to K steps (ddpm only)"),
    *(
        Solver(
            em_name(eps0),
            "native",
            1 if eps0 == 0 else None,
            None,
            f"Euler-Maruyama SDE, diffusion eps(t) = {eps0:g} gamma(t) (si-gamma-* only)",
        )
        for eps0 in DIFFUSIONS
    ),
):
    SOLVERS.add(_solver.name, _solver)
