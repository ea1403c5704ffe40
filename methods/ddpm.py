"""DDPM (Ho, Jain, Abbeel 2020) with epsilon prediction, adapted to blendbench's time convention.

DDPM counts diffusion steps tau = 0 (data) .. T (noise). The adapter maps tau to our time
t = 1 - tau / T (t = 0 noise, t = 1 data), so the network always sees our t. The training
pair is (x0, x1) = (epsilon ~ N(0, I), data): x0 *is* DDPM's epsilon.

Samplers:
- `ancestral`: eq. (6)-(7) of Ho et al. on a respaced subsequence of K steps
  (Nichol & Dhariwal 2021, sec. 4), posterior variance beta-tilde;
- `ddim`: Song, Meng, Ermon (2021) eq. (12) with eta = 0 on the same K steps;
- `velocity`: the probability-flow ODE of the variance-preserving SDE (Song et al. 2021,
  eq. 13) in our t, so every generic ODE solver applies. It uses a continuous abar(s),
  s = 1 - t, that interpolates the discrete product of (1 - beta_i) smoothly (see
  `log_alpha_bar`). It is singular at s = 0, so the ODE runs over t in [0, 1 - 1/T] and stops
  at DDPM's first step, where the remaining noise has standard deviation sqrt(beta_1) = 0.01.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor

from methods.base import NativeSampler, Net, broadcast, expand_time
from methods.registry import Registry

Clip = tuple[float, float] | None
"""The data's range (lo, hi) for native samplers to clamp their data prediction to, or None."""


@dataclass(frozen=True)
class DDPM:
    """Epsilon-prediction DDPM with a linear beta schedule (Ho et al. 2020, sec. 4)."""

    name: str = "ddpm"
    num_steps: int = 1000
    beta_min: float = 1e-4
    beta_max: float = 0.02
    needs_gaussian_source: bool = True
    native_samplers: Mapping[str, NativeSampler] = field(init=False)

    def __post_init__(self) -> None:
        samplers = {"ancestral": self.sample_ancestral, "ddim": self.sample_ddim}
        object.__setattr__(self, "native_samplers", samplers)

    @property
    def time_range(self) -> tuple[float, float]:
        return (0.0, 1.0 - 1.0 / self.num_steps)

    @cached_property
    def alpha_bar(self) -> Tensor:
        """abar_tau = prod_{i <= tau} (1 - beta_i) for tau = 0..T (abar_0 = 1), float64 [T + 1]."""
        betas = torch.linspace(self.beta_min, self.beta_max, self.num_steps, dtype=torch.float64)
        return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])

    def tau_of(self, t: Tensor) -> Tensor:
        """Training time t in [0, 1) -> DDPM step tau in {1..T}; t = 0 is tau = T (noise)."""
        return (self.num_steps - (t * self.num_steps).floor().long()).clamp(1, self.num_steps)

    def net_time(self, tau: Tensor) -> Tensor:
        """DDPM step tau -> the network's time input t = 1 - tau / T."""
        return 1.0 - tau.double() / self.num_steps

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """Ho et al. eq. (14): || eps - eps_theta(sqrt(abar) x_data + sqrt(1 - abar) eps, tau) ||^2."""
        tau = self.tau_of(t)
        abar = broadcast(self.alpha_bar.to(x1.device)[tau].to(x1.dtype), x1)
        x_tau = abar.sqrt() * x1 + (1 - abar).sqrt() * x0
        return (net(x_tau, self.net_time(tau).to(x1.dtype)) - x0).square().mean()

    # --- probability-flow ODE ------------------------------------------------------------
    def _beta(self, u: float) -> float:
        """The linear schedule beta(u) at a continuous step u (beta(1) = beta_min, beta(T) = beta_max)."""
        return self.beta_min + (self.beta_max - self.beta_min) * (u - 1) / (self.num_steps - 1)

    def _log_one_minus_beta_integral(self, u: float) -> float:
        """An antiderivative of log(1 - beta(u)) in u: -(w log w - w) / k with w = 1 - beta(u)."""
        k = (self.beta_max - self.beta_min) / (self.num_steps - 1)
        w = 1 - self._beta(u)
        return -(w * math.log(w) - w) / k

    def log_alpha_bar(self, s: float) -> float:
        """Continuous log abar at diffusion time s = tau / T in [0, 1].

        The sum of log(1 - beta_i) over i <= tau, read as the integral of log(1 - beta(u)) over
        [1/2, tau + 1/2] (midpoint rule), so it equals the discrete schedule at every tau to
        within 1e-6 and is smooth in between.
        """
        u = s * self.num_steps
        return self._log_one_minus_beta_integral(u + 0.5) - self._log_one_minus_beta_integral(0.5)

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        """dx/dt = beta(s)/2 (x - eps_theta / sigma(s)), s = 1 - t (VP probability-flow ODE).

        beta(s) = -d log abar / ds and sigma(s) = sqrt(1 - abar(s)). Outside `time_range` the
        field is continued as constant in t: adaptive solvers probe beyond the end point when
        they choose their first step (torchdiffeq's dopri5 does).
        """
        t0, t1 = self.time_range
        t = min(max(float(t), t0), t1)
        s = 1.0 - t
        beta = -self.num_steps * math.log(1 - self._beta(s * self.num_steps + 0.5))
        sigma = math.sqrt(-math.expm1(self.log_alpha_bar(s)))
        eps = net(x, expand_time(t, x))
        return 0.5 * beta * (x - eps / sigma)

    # --- native samplers ------------------------------------------------------------------
    def respaced(self, steps: int) -> list[int]:
        """K + 1 decreasing DDPM steps from T to 0, evenly spaced (Nichol & Dhariwal 2021)."""
        if not 1 <= steps <= self.num_steps:
            raise ValueError(f"steps must be in 1..{self.num_steps}, got {steps}")
        grid = torch.linspace(self.num_steps, 0, steps + 1, dtype=torch.float64).round().long()
        return grid.tolist()

    def _eps_and_x0(self, net: Net, x: Tensor, tau: int, clip: Clip = None) -> tuple[Tensor, Tensor, float]:
        """The network's eps and the data it implies, x0_hat = (x - sqrt(1 - abar) eps) / sqrt(abar).

        clip = (lo, hi): x0_hat is clamped to the data's range and eps recomputed from it, as
        Ho et al.'s image sampler does (`clip_denoised`); None leaves both as predicted.
        """
        abar = self.alpha_bar[tau].item()
        eps = net(x, x.new_full((x.shape[0],), 1.0 - tau / self.num_steps))
        x0_hat = (x - (1 - abar) ** 0.5 * eps) / abar**0.5
        if clip is not None:
            clamped = x0_hat.clamp(*clip)
            implied = (x - abar**0.5 * clamped) / (1 - abar) ** 0.5
            eps = torch.where(clamped == x0_hat, eps, implied)  # only where the clamp bit
            x0_hat = clamped
        return eps, x0_hat, abar

    def sample_ancestral(self, net: Net, x: Tensor, steps: int, noise: Tensor, clip: Clip = None) -> Tensor:
        """Ho et al. Algorithm 2 on K respaced steps; noise: [K, n, *d] standard normal."""
        taus = self.respaced(steps)
        for k, (tau, tau_prev) in enumerate(zip(taus[:-1], taus[1:])):
            _, x0_hat, abar = self._eps_and_x0(net, x, tau, clip)
            abar_prev = self.alpha_bar[tau_prev].item()
            beta = 1 - abar / abar_prev  # the respaced step's beta
            # posterior q(x_prev | x, x0_hat): mean eq. (7), variance beta-tilde
            mean = (abar_prev**0.5 * beta / (1 - abar)) * x0_hat + (
                (1 - beta) ** 0.5 * (1 - abar_prev) / (1 - abar)
            ) * x
            var = (1 - abar_prev) / (1 - abar) * beta
            x = mean + var**0.5 * noise[k] if tau_prev > 0 else mean
        return x

    def sample_ddim(self, net: Net, x: Tensor, steps: int, noise: Tensor, clip: Clip = None) -> Tensor:
        """Song et al. (2021) eq. (12), eta = 0, on K respaced steps; noise is unused."""
        del noise
        taus = self.respaced(steps)
        for tau, tau_prev in zip(taus[:-1], taus[1:]):
            eps, x0_hat, _ = self._eps_and_x0(net, x, tau, clip)
            abar_prev = self.alpha_bar[tau_prev].item()
            x = abar_prev**0.5 * x0_hat + (1 - abar_prev) ** 0.5 * eps
        return x


def register(methods: Registry) -> None:
    methods.add("ddpm", DDPM())
