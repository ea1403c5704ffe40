"""Exact fields for a standard normal source and a Gaussian-mixture target, in closed form.

With x0 ~ N(0, I), x1 ~ sum_k pi_k N(mu_k, s_k^2 I) and z ~ N(0, I) independent, the point
x = a x0 + b x1 + g z is, given the component k, Gaussian with mean b mu_k and covariance
c_k I, c_k = a^2 + b^2 s_k^2 + g^2. Its marginal is a mixture again, and Gaussian
conditioning (e.g. Bishop 2006, eq. 2.116) gives every conditional mean in closed form:

    w_k(x)    = pi_k N(x; b mu_k, c_k I) / sum_j pi_j N(x; b mu_j, c_j I)  (posterior weights)
    r_k(x)    = (x - b mu_k) / c_k
    E[x0 | x] = a sum_k w_k r_k,   E[z | x] = g sum_k w_k r_k,
    E[x1 | x] = sum_k w_k (mu_k + b s_k^2 r_k),   grad log p(x) = -sum_k w_k r_k.

From these:
- an interpolant's velocity (Albergo & Vanden-Eijnden 2022, eq. 7; Albergo, Boffi,
  Vanden-Eijnden 2023, eq. 2.10) b(x, t) = a' E[x0|x] + b' E[x1|x] + g' E[z|x], with
  g' E[z|x] = (g g') sum_k w_k r_k finite even where g' is not (g = sqrt(2t(1-t)));
- the interpolant's denoiser eta_z(x, t) = E[z | x] (Albergo, Boffi, Vanden-Eijnden 2023, eq. 2.13);
- DDPM's ideal epsilon, E[eps | x_tau] = -sqrt(1 - abar) grad log p (Ho et al. 2020, eq. 11;
  a = sqrt(1 - abar), b = sqrt(abar), g = 0).

`ideal_network(method, mixture)` returns the network each method's objective is minimised by,
so the method's own adapter (e.g. DDPM's epsilon -> velocity) turns it into the exact field.
Everything is computed in float64 and returned in the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor, nn

from methods.base import NativeSampler, Net
from methods.ddpm import DDPM
from methods.interpolants import IADB, LINEAR, Interpolant, StochasticInterpolant
from methods.stochastic import NoisyInterpolant, gamma


@dataclass(frozen=True)
class GaussianMixture:
    """sum_k weights[k] N(means[k], stds[k]^2 I) on R^d; weights sum to 1."""

    weights: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.means) == len(self.stds)) or not self.weights:
            raise ValueError("a mixture needs as many weights, means and stds, at least one of each")
        if abs(sum(self.weights) - 1) > 1e-9 or min(self.weights) <= 0 or min(self.stds) <= 0:
            raise ValueError("mixture weights must be positive and sum to 1; stds must be positive")

    @property
    def dim(self) -> int:
        return len(self.means[0])

    @cached_property
    def _tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        return (torch.tensor(self.weights, dtype=torch.float64), torch.tensor(self.means, dtype=torch.float64),
                torch.tensor(self.stds, dtype=torch.float64))  # fmt: skip

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        """(weights [K], means [K, d], stds [K]) in float64 (built once)."""
        return self._tensors

    def sample(self, n: int, g: torch.Generator) -> Tensor:
        """n float32 draws [n, d]: a component index, then a Gaussian draw, from generator g."""
        weights, means, stds = self.tensors()
        k = torch.multinomial(weights, n, replacement=True, generator=g)
        return (means[k] + stds[k, None] * torch.randn(n, self.dim, generator=g, dtype=torch.float64)).float()

    def log_prob(self, x: Tensor) -> Tensor:
        """log density of the mixture at x [n, d] -> [n], float64."""
        return _log_components(self, x.double(), 0.0, 1.0, 0.0).logsumexp(1)

    def posterior(self, x: Tensor, a: Tensor, b: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        """For x = a x0 + b x1 + g z (a, b, g per sample [n]): the weights w [n, K] and r [n, K, d]."""
        _, means, stds = self.tensors()
        x, a, b, g = x.double(), a.double()[:, None], b.double()[:, None], g.double()[:, None]
        c = a.square() + b.square() * stds.square() + g.square()  # [n, K]
        logits = _log_components(self, x, a, b, g)
        w = (logits - logits.logsumexp(1, keepdim=True)).exp()
        r = (x[:, None, :] - b[..., None] * means) / c[..., None]
        return w, r


def _log_components(mixture: GaussianMixture, x: Tensor, a, b, g) -> Tensor:
    """log pi_k + log N(x; b mu_k, c_k I) -> [n, K] (a, b, g: scalars or [n, 1])."""
    weights, means, stds = mixture.tensors()
    c = a * a + b * b * stds.square() + g * g  # [n, K] or [K]
    c = torch.as_tensor(c, dtype=torch.float64).expand(len(x), len(weights))
    sq = (x[:, None, :] - torch.as_tensor(b, dtype=torch.float64)[..., None] * means).square().sum(-1)
    d = x.shape[1]
    return weights.log() - 0.5 * (sq / c + d * (c.log() + math.log(2 * math.pi)))


def _coefficients(interpolant: Interpolant, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    t = t.double()
    return interpolant.alpha(t), interpolant.beta(t), interpolant.dalpha(t), interpolant.dbeta(t)


def interpolant_velocity(
    mixture: GaussianMixture, interpolant: Interpolant, x: Tensor, t: Tensor, gamma: Callable | None = None
) -> Tensor:
    """The exact velocity b(x, t) = E[dI_t | I_t = x] of I_t = a x0 + b x1 (+ g z); x [n, d], t [n].

    gamma: (g(t), g(t) g'(t)) as a function of t, for the stochastic interpolant; None: g = 0.
    """
    a, b, da, db = _coefficients(interpolant, t)
    g, g_dg = gamma(t.double()) if gamma is not None else (torch.zeros_like(a), torch.zeros_like(a))
    w, r = mixture.posterior(x, a, b, g)
    _, means, stds = mixture.tensors()
    wr = (w[..., None] * r).sum(1)
    e_x1 = (w[..., None] * (means + (b[:, None] * stds.square())[..., None] * r)).sum(1)
    return ((da * a + g_dg)[:, None] * wr + db[:, None] * e_x1).to(x.dtype)


def interpolant_denoiser(mixture: GaussianMixture, interpolant: Interpolant, x: Tensor, t: Tensor, gamma) -> Tensor:
    """The exact denoiser eta_z(x, t) = E[z | I_t = x] = g sum_k w_k r_k; x [n, d], t [n]."""
    a, b, _, _ = _coefficients(interpolant, t)
    g, _ = gamma(t.double())
    w, r = mixture.posterior(x, a, b, g)
    return (g[:, None] * (w[..., None] * r).sum(1)).to(x.dtype)


def ddpm_epsilon(mixture: GaussianMixture, ddpm: DDPM, x: Tensor, t: Tensor) -> Tensor:
    """DDPM's ideal epsilon E[eps | x_tau = x] = -sqrt(1 - abar) grad log p_tau(x), at network time
    t = 1 - tau / T [n], with abar the schedule's continuous interpolation (`DDPM.log_alpha_bar`)."""
    times, index = t.double().unique(return_inverse=True)  # one schedule lookup per distinct time
    abar = torch.tensor([math.exp(ddpm.log_alpha_bar(1.0 - ti)) for ti in times.tolist()], dtype=torch.float64)[index]
    a, b = (1 - abar).sqrt(), abar.sqrt()
    w, r = mixture.posterior(x, a, b, torch.zeros_like(a))
    return (a[:, None] * (w[..., None] * r).sum(1)).to(x.dtype)


class IdealNet(nn.Module):
    """A parameter-free `net(x, t)` that returns a closed-form field."""

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.fn(x, t)


def ideal_network(method: object, mixture: GaussianMixture) -> nn.Module:
    """The minimiser of `method`'s objective on (N(0, I), mixture), as a network `net(x, t)`."""
    for kind, build in IDEAL_BUILDERS.items():
        if isinstance(method, kind):
            return IdealNet(build(method, mixture))
    known = ", ".join(k.__name__ for k in IDEAL_BUILDERS)
    raise TypeError(f"no exact field for {type(method).__name__}; known: {known}")


IDEAL_BUILDERS: dict[type, Callable[[object, GaussianMixture], Net]] = {
    IADB: lambda m, mix: lambda x, t: interpolant_velocity(mix, LINEAR, x, t),
    StochasticInterpolant: lambda m, mix: lambda x, t: interpolant_velocity(mix, m.interpolant, x, t),
    DDPM: lambda m, mix: lambda x, t: ddpm_epsilon(mix, m, x, t),
    NoisyInterpolant: lambda m, mix: (
        lambda x, t: torch.cat(
            [
                interpolant_velocity(
                    mix, m.interpolant, x, t, lambda s: (gamma(s), torch.zeros_like(s))
                ),  # v: no gamma' z
                interpolant_denoiser(mix, m.interpolant, x, t, lambda s: (gamma(s), None)),
            ],
            1,
        )
    ),  # fmt: skip
}


@dataclass(frozen=True)
class Exact:
    """A pseudo-method: `base`'s sampling path driven by its exact field instead of a trained
    network, so any solver's error on it is its discretization error alone. Not trained."""

    name: str
    base: object
    needs_gaussian_source: bool = True
    needs_mixture: bool = True
    """Only defined for a dataset whose target is a `GaussianMixture` (`Dataset.mixture`)."""
    native_samplers: Mapping[str, NativeSampler] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "native_samplers", self.base.native_samplers)

    @property
    def time_range(self) -> tuple[float, float]:
        return self.base.time_range

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        raise TypeError(f"{self.name} integrates a closed-form field; it has nothing to train")

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        return self.base.velocity(net, x, t)

    def network(self, mixture: GaussianMixture) -> nn.Module:
        """The exact field of `base` on (N(0, I), mixture), in the shape of `base`'s network."""
        return ideal_network(self.base, mixture)


def register(methods) -> None:
    """`exact` (the linear interpolant's field: IADB's and si-linear's target), `exact-trig`,
    `exact-ddpm`, `exact-si-gamma` (its velocity and denoiser heads)."""
    for name, base in (("exact", "iadb"), ("exact-trig", "si-trig-simple"), ("exact-ddpm", "ddpm"),
                       ("exact-si-gamma", "si-gamma-linear")):  # fmt: skip
        methods.add(name, Exact(name, methods.get(base)))
