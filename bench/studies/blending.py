"""The background post's experiments as pure functions: the blend-deblend chain, the grid
estimate of the field D(x_a, a), and the agreement of the two interpolant objectives.

Heitz, Belcour, Chambon (2023), "Iterative alpha-(de)Blending", eq. (1) and Sec. 3 (the
chain of blending and deblending converges to a deterministic path as the step shrinks);
Albergo & Vanden-Eijnden (2022), the simple and the complex velocity objectives. All
randomness comes from the `torch.Generator` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from methods import Method

Draw = Callable[[int, torch.Generator], Tensor]
Inside = Callable[[Tensor], Tensor]


def blend_deblend_chain(x_start: Tensor, n_steps: int, source: Draw, target: Draw, in_target: Inside,
                        g: torch.Generator, max_batch: int = 1 << 15) -> Tensor:  # fmt: skip
    """The post's `iadb(N)`, for many chains at once: x_start [m, 2] -> path [N + 1, m, 2].

    Step 0 blends x_start with a random target point at a = 1/N (eq. 1). Each later step at
    a = k/N *deblends* x_a by rejection sampling: draw x0' ~ source, solve eq. (1) for
    x1' = (x_a - (1 - a) x0') / a and accept the first x1' inside the target; then it
    blends (x0', x1') at a + 1/N. The last point (a = 1) lies in the target.
    """
    m = len(x_start)
    a = 1.0 / n_steps
    x = (1 - a) * x_start + a * target(m, g)  # blend with a random target point
    path = [x_start, x]
    for k in range(1, n_steps):
        a = k / n_steps
        # accept probability is at most area(target) / area(source scaled by (1-a)/a)
        batch = int(min(max_batch, max(16, 2 * ((1 - a) / a) ** 2)))
        x0 = torch.empty_like(x)
        x1 = torch.empty_like(x)
        pending = torch.arange(m)
        while len(pending):
            candidates = source(len(pending) * batch, g).view(len(pending), batch, -1)  # x0' ~ source
            solved = (x[pending, None] - (1 - a) * candidates) / a  # deblend: eq. (1) solved for x1'
            ok = in_target(solved.reshape(-1, solved.shape[-1])).view(len(pending), batch)
            found = ok.any(1)
            first = ok.float().argmax(1)  # the first accepted candidate of each chain
            rows = torch.arange(len(pending))[found]
            x0[pending[found]] = candidates[rows, first[found]]
            x1[pending[found]] = solved[rows, first[found]]
            pending = pending[~found]
        a_next = (k + 1) / n_steps
        x = (1 - a_next) * x0 + a_next * x1  # blend at the next a
        path.append(x)
    return torch.stack(path)


def fit_slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of log y against log x (the order of convergence)."""
    lx = torch.tensor(x, dtype=torch.float64).log()
    ly = torch.tensor(y, dtype=torch.float64).log()
    lx, ly = lx - lx.mean(), ly - ly.mean()
    return float((lx * ly).sum() / (lx * lx).sum())


@dataclass
class FieldEstimate:
    """D(x_a, a) averaged over the pairs whose blend falls in each bin of a grid."""

    edges_x: Tensor  # [bx + 1]
    edges_y: Tensor  # [by + 1]
    mean: Tensor  # [bx, by, 2], zero where no pair falls
    counts: Tensor  # [bx, by]

    @property
    def centres(self) -> Tensor:
        """Bin centres [bx, by, 2]."""
        cx = (self.edges_x[1:] + self.edges_x[:-1]) / 2
        cy = (self.edges_y[1:] + self.edges_y[:-1]) / 2
        return torch.stack(torch.meshgrid(cx, cy, indexing="ij"), -1)


def field_estimate(a: float, x0: Tensor, x1: Tensor, edges_x: Tensor, edges_y: Tensor) -> FieldEstimate:
    """The post's `calc_field`: every pair (x0[i], x1[j]) is blended at a (eq. 1) and
    x1[j] - x0[i] is averaged in the grid bin of the blend. x0 [n0, 2], x1 [n1, 2]."""
    bx, by = len(edges_x) - 1, len(edges_y) - 1
    sums = torch.zeros(bx * by, 2, dtype=torch.float64)
    counts = torch.zeros(bx * by, dtype=torch.float64)
    for chunk in x0.split(256):  # all pairs, a block of sources at a time
        blend = ((1 - a) * chunk[:, None] + a * x1[None]).reshape(-1, 2)
        diff = (x1[None] - chunk[:, None]).reshape(-1, 2).double()
        ix = torch.bucketize(blend[:, 0].contiguous(), edges_x) - 1
        iy = torch.bucketize(blend[:, 1].contiguous(), edges_y) - 1
        inside = (ix >= 0) & (ix < bx) & (iy >= 0) & (iy < by)
        flat = (ix * by + iy)[inside]
        counts.index_add_(0, flat, torch.ones_like(flat, dtype=torch.float64))
        sums.index_add_(0, flat, diff[inside])
    mean = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], 0.0)
    return FieldEstimate(edges_x, edges_y, mean.view(bx, by, 2).float(), counts.view(bx, by))


def angle(field: Tensor) -> Tensor:
    """The polar angle atan2(y, x) of a field [..., 2], radians."""
    return torch.atan2(field[..., 1], field[..., 0])


def angular_difference(u: Tensor, v: Tensor) -> Tensor:
    """|angle(u) - angle(v)| wrapped to [0, pi], radians, for fields [..., 2]."""
    d = (angle(u) - angle(v) + math.pi) % (2 * math.pi) - math.pi
    return d.abs()


def _gradient(loss: Tensor, params: list[nn.Parameter]) -> Tensor:
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


def objective_agreement(simple: Method, complex_: Method, dt: Callable[[Tensor, Tensor, Tensor], Tensor],
                        net: nn.Module, x0: Tensor, x1: Tensor, t: Tensor) -> dict[str, float]:  # fmt: skip
    """Both objectives on one batch through one network: their gradients with respect to the
    weights (cosine similarity, relative difference) and their difference against
    mean |dI_t|^2 on the batch, which it equals when both are averaged per dimension."""
    params = [p for p in net.parameters() if p.requires_grad]
    with torch.enable_grad():
        loss_s = simple.loss(net, x0, x1, t)
        loss_c = complex_.loss(net, x0, x1, t)
        g_s = _gradient(loss_s, params).double()
        g_c = _gradient(loss_c, params).double()
    offset = float(dt(x0, x1, t).double().square().mean())
    loss_s, loss_c = loss_s.item(), loss_c.item()
    return {
        "loss_simple": loss_s, "loss_complex": loss_c, "loss_difference": loss_s - loss_c, "batch_offset": offset,
        "grad_norm_simple": float(g_s.norm()), "grad_norm_complex": float(g_c.norm()),
        "grad_cosine": float(g_s @ g_c / (g_s.norm() * g_c.norm())),
        "grad_relative_difference": float((g_s - g_c).norm() / g_s.norm()),
    }  # fmt: skip
