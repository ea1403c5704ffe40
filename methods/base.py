"""The method protocol and the one time convention of blendbench.

TIME CONVENTION (used everywhere; adapters convert):

    t = 0 is the SOURCE (noise, or the source distribution, e.g. the triangle),
    t = 1 is the TARGET (data, e.g. the square).

Sampling integrates dx/dt = velocity(x, t) forward from t0 to t1 (`Method.time_range`),
starting from source samples x0. Training pairs are (x0 ~ source, x1 ~ target) and
t ~ U[0, 1). A network is called as `net(x, t)` with x of shape [n, *dims] and t of shape
[n], always in this convention: DDPM's adapter maps its step index tau in {1..T} to
t = 1 - tau / T before calling the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from torch import Tensor

Net = Callable[[Tensor, Tensor], Tensor]
"""A network `net(x, t) -> Tensor` with x: [n, *dims], t: [n] and output shaped like x."""

NativeSampler = Callable[..., Tensor]
"""`sampler(net, x0, steps, noise, clip=None) -> x`; noise: [steps, n, *dims], drawn by the
caller; clip: the data's (lo, hi) range, for samplers that predict the data to clamp it."""


class Method(Protocol):
    """What the harness needs from a generative method."""

    name: str
    needs_gaussian_source: bool
    """True when the method is only defined for a standard normal source (DDPM)."""
    time_range: tuple[float, float]
    """The interval the ODE is integrated over, in the convention above."""
    native_samplers: Mapping[str, NativeSampler]
    """Samplers of the method's own (e.g. DDPM's ancestral and DDIM), by solver name."""

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """Scalar training loss on a batch: x0 source [n, *d], x1 target [n, *d], t [n]."""
        ...

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        """The ODE's right-hand side dx/dt at time t for states x [n, *d]."""
        ...


def expand_time(t: Tensor | float, x: Tensor) -> Tensor:
    """t as a per-sample vector [n] on x's device and dtype."""
    if isinstance(t, Tensor) and t.ndim == 1:
        return t.to(dtype=x.dtype)
    return x.new_full((x.shape[0],), float(t))


def broadcast(t: Tensor, x: Tensor) -> Tensor:
    """A per-sample vector [n] reshaped to broadcast against x [n, *d]."""
    return t.reshape(-1, *([1] * (x.ndim - 1)))


def net_outputs(method: object) -> int:
    """How many fields of the data's shape `method`'s network returns, stacked along dim 1 (its
    `outputs` attribute; 1 when it has none, e.g. a velocity alone)."""
    return getattr(method, "outputs", 1)
