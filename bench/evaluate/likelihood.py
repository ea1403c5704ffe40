"""Negative log-likelihood of data under a method's ODE, by the instantaneous change of variables
(Chen et al. 2018, "Neural ODEs", thm. 1; Grathwohl et al. 2019, "FFJORD", eq. 4):

    log p1(x(t1)) = log p0(x(t0)) - integral_{t0}^{t1} div v(x(t), t) dt.

The state [x, l] is integrated backwards from the data at t1 to t0 with any of the harness's
solvers, dl/dt = div v, l(t1) = 0, so log p1(x) = log p0(x(t0)) + l(t0). The divergence is
exact (one autograd pass per dimension) on 2D points, and Hutchinson's estimator
E[e^T (dv/dx) e] with a fixed Rademacher probe e per sample (FFJORD, eq. 7) on images.
Images report bits per dimension of the 8-bit pixels: the model space [-1, 1] is u * 2/255 - 1
for u in {0..255}, so bpd = (nll + D log(255/2)) / (D log 2) (no dequantization noise).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from bench.solvers import Solver, uniform_grid
from methods import Method

LogProb = Callable[[Tensor], Tensor]
"""`log_prob(x [n, *d]) -> [n]`: the source density the ODE starts from."""


def exact_divergence(v: Tensor, x: Tensor) -> Tensor:
    """sum_i dv_i/dx_i per sample [n], one autograd pass per dimension (x: [n, d], requires grad)."""
    flat = v.reshape(len(v), -1)
    return torch.stack([torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True)[0].reshape(len(x), -1)[:, i]
                        for i in range(flat.shape[1])], 1).sum(1)  # fmt: skip


def hutchinson_divergence(v: Tensor, x: Tensor, probe: Tensor) -> Tensor:
    """e^T (dv/dx) e per sample [n] for the probe e shaped like x (one vector-Jacobian product)."""
    (vjp,) = torch.autograd.grad(v, x, grad_outputs=probe, retain_graph=True)
    return (vjp * probe).reshape(len(x), -1).sum(1)


def log_likelihood(
    method: Method,
    net: torch.nn.Module,
    x1: Tensor,
    solver: Solver,
    source_log_prob: LogProb,
    *,
    steps: int | None = None,
    tol: float | None = None,
    probe: Tensor | None = None,
) -> Tensor:
    """log p1(x1) [n] under `method`'s ODE, in x1's dtype.

    probe: None for the exact divergence, or a fixed Hutchinson probe shaped like x1.
    """
    shape = x1.shape
    size = x1[0].numel()

    def augmented(state: Tensor, t: float) -> Tensor:
        with torch.enable_grad():
            x = state[:, :size].reshape(shape).detach().requires_grad_(True)
            v = method.velocity(net, x, t)
            div = exact_divergence(v, x) if probe is None else hutchinson_divergence(v, x, probe)
        return torch.cat([v.detach().reshape(len(x), -1), div.detach()[:, None].to(state.dtype)], 1)

    t0, t1 = method.time_range
    state = torch.cat([x1.reshape(len(x1), -1), x1.new_zeros(len(x1), 1)], 1)
    if solver.kind == "fixed":
        out = solver.fn(augmented, state, uniform_grid(steps, t1, t0))
    elif solver.kind == "adaptive":
        out = solver.fn(augmented, state, uniform_grid(1, t1, t0), tol)
    else:
        raise ValueError(f"the likelihood needs an ODE solver; {solver.name} is a native sampler")
    x0, delta = out[:, :size].reshape(shape), out[:, size]
    return source_log_prob(x0) + delta


def rademacher(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    """A fixed +-1 probe drawn from g."""
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


def bits_per_dim(nll: Tensor, dims: int) -> Tensor:
    """Per-sample bits per dimension of 8-bit pixels from the NLL (nats) in model space [-1, 1]."""
    return (nll + dims * math.log(255 / 2)) / (dims * math.log(2))


LIKELIHOOD_METRICS = ("nll", "bpd")
"""Metrics of the model rather than of its samples: measured by `measure`, not by the judge."""


def measure(method: Method, net: torch.nn.Module, dataset, heldout: Tensor, solver: Solver, steps: int | None,
            tol: float | None, seed: int, metrics: tuple[str, ...]) -> list[dict]:  # fmt: skip
    """{metric, value, value_sd} rows for the likelihood metrics asked for: the mean NLL (nats per
    sample) of held-out data on 2D, bits per dimension on images (Hutchinson, probe seeded by
    `seed`); value_sd is the standard error of the mean. Native samplers have no ODE: no rows."""
    wanted = [m for m in metrics if m in LIKELIHOOD_METRICS]
    if not wanted or solver.kind == "native" or dataset.source_log_prob is None:
        return []
    from bench.rng import generator

    probe = None if dataset.kind == "points" else rademacher(tuple(heldout.shape), generator(seed, "probe"))
    nll = -log_likelihood(method, net, heldout, solver, dataset.source_log_prob, steps=steps, tol=tol, probe=probe)
    value = nll if dataset.kind == "points" else bits_per_dim(nll, heldout[0].numel())
    sd = value.std().item() / math.sqrt(len(value))
    return [{"metric": name, "value": value.mean().item(), "value_sd": sd} for name in wanted]
