"""The stochastic interpolant with a latent noise term (Albergo, Boffi, Vanden-Eijnden 2023,
"Stochastic Interpolants: A Unifying Framework for Flows and Diffusions").

    I_t = alpha(t) x0 + beta(t) x1 + gamma(t) z,   z ~ N(0, I),   gamma(t) = sqrt(2 t (1 - t))  (eq. 2.1, 4.9)

One network with two heads (`outputs = 2`, stacked along dim 1) learns
    v(x, t)   = E[alpha' x0 + beta' x1 | I_t = x]      (the deterministic part of the velocity)
    eta(x, t) = E[z | I_t = x]                          (the denoiser, eq. 2.13)
by least squares on each (a sum of the two "simple" objectives). Then
    b = v + gamma' eta               the velocity of the probability-flow ODE (eq. 2.10),
    s = -eta / gamma                 the score of the interpolant's density (eq. 2.14),
and the forward SDE  dX = (b + eps(t) s) dt + sqrt(2 eps(t)) dW  (eq. 2.22) has the same
marginals for every diffusion coefficient eps(t) >= 0. We take eps(t) = eps0 gamma(t), so
that eps s = -eps0 eta stays finite where gamma vanishes, and sample it with Euler-Maruyama.

gamma' is infinite at t = 0 and t = 1, so both the ODE and the SDE run over
t in [DELTA, 1 - DELTA] (`time_range`), as DDPM's ODE stops at its first step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from methods.base import NativeSampler, Net, broadcast, expand_time
from methods.interpolants import LINEAR, Interpolant
from methods.registry import Registry

DELTA = 1e-3
"""The ODE and the SDE start at t = DELTA and stop at 1 - DELTA, where gamma' is finite."""

DIFFUSIONS = (0.0, 0.5, 1.0, 2.0)
"""eps0 of the Euler-Maruyama samplers `em-eps<eps0>` (eps0 = 0: the ODE, with Euler)."""


def gamma(t: Tensor) -> Tensor:
    """gamma(t) = sqrt(2 t (1 - t))."""
    return (2 * t * (1 - t)).clamp_min(0).sqrt()


def gamma_dot(t: Tensor) -> Tensor:
    """gamma'(t) = (1 - 2 t) / gamma(t) (infinite at t = 0 and t = 1)."""
    return (1 - 2 * t) / gamma(t)


@dataclass(frozen=True)
class NoisyInterpolant:
    """The stochastic interpolant with latent noise; the network returns [v, eta] along dim 1."""

    name: str
    interpolant: Interpolant
    needs_gaussian_source: bool = False
    latent_noise: bool = True
    """The training loop passes `z` (drawn from its generator) to `loss`."""
    outputs: int = 2
    time_range: tuple[float, float] = (DELTA, 1.0 - DELTA)
    native_samplers: Mapping[str, NativeSampler] = field(init=False)

    def __post_init__(self) -> None:
        samplers = {em_name(eps0): partial(em_sample, self, eps0) for eps0 in DIFFUSIONS}
        object.__setattr__(self, "native_samplers", samplers)

    def heads(self, net: Net, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(v, eta), each shaped like x, from one network call."""
        return net(x, t).chunk(2, dim=1)

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor, z: Tensor | None = None) -> Tensor:
        """E|v(I_t) - (alpha' x0 + beta' x1)|^2 + E|eta(I_t) - z|^2 (means over batch and dims).

        z: the latent noise [n, *d], drawn by the caller (the training loop's generator)."""
        if z is None:
            raise ValueError(f"{self.name} needs the latent noise z; the caller draws it")
        xt = self.interpolant.at(x0, x1, t) + broadcast(gamma(t), x0) * z
        v, eta = self.heads(net, xt, t)
        return (v - self.interpolant.dt(x0, x1, t)).square().mean() + (eta - z).square().mean()

    def drift_and_score(self, net: Net, x: Tensor, t: float) -> tuple[Tensor, Tensor]:
        """b = v + gamma' eta and the score s = -eta / gamma at time t. Outside `time_range` the
        field is continued as constant in t: adaptive solvers probe beyond the end point (as in DDPM)."""
        t = min(max(float(t), self.time_range[0]), self.time_range[1])
        tt = expand_time(t, x)
        v, eta = self.heads(net, x, tt)
        g = torch.tensor(t, dtype=torch.float64)
        return v + gamma_dot(g).item() * eta, -eta / gamma(g).item()

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        """The probability-flow ODE's velocity b(x, t) (eq. 2.10)."""
        return self.drift_and_score(net, x, t)[0]


def em_name(eps0: float) -> str:
    return f"em-eps{eps0:g}"


def em_sample(
    method: NoisyInterpolant, eps0: float, net: Net, x: Tensor, steps: int, noise: Tensor, clip=None
) -> Tensor:
    """Euler-Maruyama on dX = (b - eps0 eta) dt + sqrt(2 eps0 gamma) dW over `time_range`, K steps;
    noise: [K, n, *d] standard normal (the last step adds none: it returns the mean). The native
    sampler `em-eps<eps0>` is this function with `method` and `eps0` bound."""
    del clip
    t0, t1 = method.time_range
    grid = torch.linspace(t0, t1, steps + 1, dtype=torch.float64).tolist()
    for k, (t, t_next) in enumerate(zip(grid[:-1], grid[1:])):
        h = t_next - t
        b, s = method.drift_and_score(net, x, t)
        eps = eps0 * math.sqrt(2 * t * (1 - t))  # eps(t) = eps0 gamma(t)
        x = x + h * (b + eps * s)  # drift, eq. 2.22
        if k < steps - 1:
            x = x + math.sqrt(2 * eps * h) * noise[k]  # diffusion
    return x


def register(methods: Registry) -> None:
    methods.add("si-gamma-linear", NoisyInterpolant("si-gamma-linear", LINEAR))
