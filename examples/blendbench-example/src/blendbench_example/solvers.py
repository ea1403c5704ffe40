"""`ab2`: the two-step Adams-Bashforth method, order 2, one network evaluation per step.

On a grid t_0 < ... < t_K with steps h_n = t_{n+1} - t_n (not necessarily equal):

    x_{n+1} = x_n + h_n [(1 + r/2) f_n - (r/2) f_{n-1}],  r = h_n / h_{n-1},

with f_n = velocity(x_n, t_n). The first step has no f_{-1}: it is a Heun step (order 2, two
evaluations), so K steps cost K + 1 evaluations.
"""

from __future__ import annotations

from torch import Tensor

from bench.solvers import Solver, Velocity


def ab2(velocity: Velocity, x: Tensor, grid: Tensor) -> Tensor:
    times = grid.tolist()
    previous = None  # (f_{n-1}, h_{n-1})
    for t, t_next in zip(times[:-1], times[1:]):
        h = t_next - t
        f = velocity(x, t)
        if previous is None:
            x_next = x + h * 0.5 * (f + velocity(x + h * f, t_next))  # Heun
        else:
            f_prev, h_prev = previous
            r = h / h_prev
            x_next = x + h * ((1 + r / 2) * f - (r / 2) * f_prev)
        previous = (f, h)
        x = x_next
    return x


AB2 = Solver("ab2", "fixed", 2, ab2, "two-step Adams-Bashforth, order 2 (Heun first step); K + 1 evaluations")
