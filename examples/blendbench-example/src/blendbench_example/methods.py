"""`smoothstep`: x_t = (1 - s(t)) x0 + s(t) x1 with s(t) = 3t^2 - 2t^3.

The network regresses the schedule-free difference x1 - x0 (as IADB does) and the velocity is
dx/dt = s'(t) E[x1 - x0 | x_t], with s'(t) = 6t(1 - t): the same paths as the linear
interpolant, travelled slowly near both ends, so a solver's fixed steps are spent there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor

from methods import Net, broadcast, expand_time


def smoothstep(t: Tensor) -> Tensor:
    return t * t * (3 - 2 * t)


def smoothstep_rate(t: Tensor) -> Tensor:
    """d/dt smoothstep(t)."""
    return 6 * t * (1 - t)


@dataclass(frozen=True)
class Smoothstep:
    name: str = "smoothstep"
    needs_gaussian_source: bool = False
    time_range: tuple[float, float] = (0.0, 1.0)
    native_samplers: Mapping = field(default_factory=dict)

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        s = broadcast(smoothstep(t), x0)
        x_t = (1 - s) * x0 + s * x1
        return (net(x_t, t) - (x1 - x0)).square().mean()

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        times = expand_time(t, x)
        return broadcast(smoothstep_rate(times), x) * net(x, times)


SMOOTHSTEP = Smoothstep()
