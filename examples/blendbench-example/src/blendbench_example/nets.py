"""`resmlp`: a residual MLP for points, built as the network factory contract says
(`bench.nets.factory`): `build(dataset, train_config, seed, outputs) -> nn.Module`, called as
`net(x [n, d], t [n])` -> [n, d * outputs]. The harness has seeded torch from `seed` already."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.nets import FourierTime, NetFactory


class ResMLP(nn.Module):
    def __init__(self, dim: int, width: int, depth: int, time_freqs: int, outputs: int) -> None:
        super().__init__()
        self.time = FourierTime(time_freqs)
        self.inp = nn.Linear(dim + 2 * time_freqs, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
            for _ in range(depth)
        )
        self.out = nn.Linear(width, dim * outputs)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        h = self.inp(torch.cat([x, self.time(t)], 1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def build(dataset, cfg, seed: int, outputs: int = 1) -> nn.Module:
    return ResMLP(dataset.dims[0], cfg.width, cfg.depth, cfg.time_freqs, outputs)


RESMLP = NetFactory("resmlp", ("points",), build, "residual MLP with LayerNorm (example plugin)")
