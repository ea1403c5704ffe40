"""The time-conditioned networks every method trains (the same one for every method)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FourierTime(nn.Module):
    """t [n] -> [n, 2 * freqs] features sin/cos(2^k pi t), k = 0..freqs-1."""

    def __init__(self, freqs: int) -> None:
        super().__init__()
        self.register_buffer("scales", math.pi * 2.0 ** torch.arange(freqs), persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        angles = t[:, None] * self.scales
        return torch.cat([angles.sin(), angles.cos()], 1)


class MLP(nn.Module):
    """net(x [n, d], t [n]) -> [n, d * outputs]: an MLP on [x, Fourier features of t] with SiLU."""

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 3, time_freqs: int = 8, outputs: int = 1) -> None:
        super().__init__()
        self.time = FourierTime(time_freqs)
        layers: list[nn.Module] = []
        size = dim + 2 * time_freqs
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.SiLU()]
            size = width
        layers.append(nn.Linear(size, dim * outputs))  # outputs fields of x's shape, side by side
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.body(torch.cat([x, self.time(t)], 1))


class CountingNet:
    """Wraps a network and counts the batched forward calls made through it (the NFE).

    A plain callable rather than an `nn.Module`: a module's `__call__` and `__setattr__` cost
    tens of microseconds per call, which `python -m bench perf` showed as harness overhead on a
    small MLP. It has no parameters of its own; `net` is the wrapped network.
    """

    __slots__ = ("net", "calls")

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.calls = 0

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        self.calls += 1
        return self.net(x, t)
