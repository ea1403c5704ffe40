"""Iterative alpha-(de)blending and stochastic interpolants, in blendbench's time convention.

IADB: Heitz, Belcour, Chambon (2023), "Iterative alpha-(de)Blending", eqs. (1)-(3).
Stochastic interpolants: Albergo & Vanden-Eijnden (2022), "Building Normalizing Flows with
Stochastic Interpolants", the velocity objectives; Albergo, Boffi, Vanden-Eijnden (2023).

Losses are averaged over the batch and over every dimension, so the "complex" objective
E[|v|^2 - 2 dI.v] equals the "simple" one E|v - dI|^2 minus the constant E|dI|^2 (per
dimension): the two have the same minimiser and the same gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import Tensor

from methods.base import NativeSampler, Net, broadcast, expand_time
from methods.registry import Registry

Coefficient = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Interpolant:
    """I_t(x0, x1) = alpha(t) x0 + beta(t) x1 with alpha(0) = beta(1) = 1, alpha(1) = beta(0) = 0."""

    name: str
    alpha: Coefficient
    beta: Coefficient
    dalpha: Coefficient
    dbeta: Coefficient

    def at(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """I_t for per-sample times t [n]; x0, x1: [n, *d]."""
        tb = broadcast(t, x0)
        return self.alpha(tb) * x0 + self.beta(tb) * x1

    def dt(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """The time derivative d/dt I_t(x0, x1) at per-sample times t [n]."""
        tb = broadcast(t, x0)
        return self.dalpha(tb) * x0 + self.dbeta(tb) * x1


HALF_PI = math.pi / 2

LINEAR = Interpolant(
    "linear",
    alpha=lambda t: 1 - t,
    beta=lambda t: t,
    dalpha=lambda t: -t.new_ones(()).expand_as(t),
    dbeta=lambda t: t.new_ones(()).expand_as(t),
)
TRIG = Interpolant(
    "trig",
    alpha=lambda t: (HALF_PI * t).cos(),
    beta=lambda t: (HALF_PI * t).sin(),
    dalpha=lambda t: -HALF_PI * (HALF_PI * t).sin(),
    dbeta=lambda t: HALF_PI * (HALF_PI * t).cos(),
)

OBJECTIVES = ("simple", "complex")


@dataclass(frozen=True)
class StochasticInterpolant:
    """A velocity field v(x, t) trained on an interpolant with one of two objectives.

    simple:  E |v(I_t) - dI_t|^2             (Albergo & Vanden-Eijnden 2022, alternative form)
    complex: E [|v(I_t)|^2 - 2 dI_t . v(I_t)] (Albergo & Vanden-Eijnden 2022, eq. 9)
    """

    name: str
    interpolant: Interpolant
    objective: str
    needs_gaussian_source: bool = False
    time_range: tuple[float, float] = (0.0, 1.0)
    native_samplers: Mapping[str, NativeSampler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; valid: {', '.join(OBJECTIVES)}")

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        xt = self.interpolant.at(x0, x1, t)
        dxt = self.interpolant.dt(x0, x1, t)
        v = net(xt, t)
        if self.objective == "simple":
            return (v - dxt).square().mean()
        return (v.square() - 2 * dxt * v).mean()

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        return net(x, expand_time(t, x))


@dataclass(frozen=True)
class IADB:
    """Iterative alpha-(de)blending (Heitz et al. 2023): x_a = (1-a) x0 + a x1 (eq. 1),
    D(x_a, a) regressed onto x1 - x0 (eq. 2), sampling integrates dx/da = D (eq. 3)."""

    name: str = "iadb"
    needs_gaussian_source: bool = False
    time_range: tuple[float, float] = (0.0, 1.0)
    native_samplers: Mapping[str, NativeSampler] = field(default_factory=dict)

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        a = broadcast(t, x0)
        x_a = (1 - a) * x0 + a * x1
        return (net(x_a, t) - (x1 - x0)).square().mean()

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        return net(x, expand_time(t, x))


def register(methods: Registry) -> None:
    methods.add("iadb", IADB())
    for interpolant in (LINEAR, TRIG):
        for objective in OBJECTIVES:
            name = f"si-{interpolant.name}-{objective}"
            methods.add(name, StochasticInterpolant(name, interpolant, objective))
