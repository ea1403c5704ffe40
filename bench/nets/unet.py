"""A small time-conditioned UNet for images of any size (Ronneberger et al. 2015; Ho et al. 2020, App. B).

Every method trains this same network on images, so a comparison is between methods, not
architectures. `width` is the channel count at full resolution and `depth` the number of
resolutions (28, 14, 7, ... for MNIST; 32, 16, 8, ... for CIFAR-10: each halves the last, rounding
up, and the way up resizes to the skip's size); channels double at each coarser level. Each level has one
residual block on the way down and one on the way up (with the skip connection), each block
conditioned on t through a per-channel scale and shift of its normalised activations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bench.nets.mlp import FourierTime


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    """x [n, c_in, h, w], emb [n, e] -> [n, c_out, h, w]: two 3x3 convolutions, FiLM by t, a skip."""

    def __init__(self, c_in: int, c_out: int, emb: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb, 2 * c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


MIN_SIDE = 2
"""The coarsest resolution keeps at least MIN_SIDE x MIN_SIDE pixels (patches)."""


def level_sides(side: int, patch: int, depth: int) -> list[int]:
    """The side of each resolution for an image side `side`: side / patch, then halved (rounding
    up, as a stride-2 convolution with padding 1 does) depth - 1 times."""
    sides = [side // patch]
    for _ in range(depth - 1):
        sides.append(-(-sides[-1] // 2))
    return sides


def shape_problem(dims: tuple[int, ...], patch: int, depth: int) -> str | None:
    """Why the UNet cannot take images of shape `dims` (c, h, w) with this patch and depth, naming
    the valid choices; None when it can."""
    if len(dims) != 3:
        return f"the UNet takes images (c, h, w), got a sample shape {tuple(dims)}"
    _, h, w = dims
    if h % patch or w % patch:
        valid = [p for p in range(1, min(h, w) + 1) if h % p == 0 and w % p == 0]
        return f"patch {patch} does not divide the image size {h} x {w}; valid: {', '.join(map(str, valid))}"
    deepest = max(d for d in range(1, 64) if min(level_sides(min(h, w), patch, d)) >= MIN_SIDE or d == 1)
    if depth > deepest:
        return (f"depth {depth} halves {h // patch} x {w // patch} patches below {MIN_SIDE} x {MIN_SIDE}; "
                f"valid: 1 to {deepest}")  # fmt: skip
    return None


class UNet(nn.Module):
    """net(x [n, c, h, w], t [n]) -> [n, c * outputs, h, w], h and w divisible by `patch`."""

    def __init__(self, channels: int = 1, width: int = 32, depth: int = 2, time_freqs: int = 8, patch: int = 1,
                 outputs: int = 1) -> None:  # fmt: skip
        super().__init__()
        self.patch = patch
        channels = channels * patch * patch
        emb = 4 * width
        self.time = nn.Sequential(FourierTime(time_freqs), nn.Linear(2 * time_freqs, emb), nn.SiLU(),
                                  nn.Linear(emb, emb))  # fmt: skip
        widths = [width * 2**level for level in range(depth)]
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        c = width
        for level, w in enumerate(widths):
            self.down.append(ResBlock(c, w, emb))
            c = w
            if level < depth - 1:
                self.pool.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = ResBlock(c, c, emb)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(ResBlock(c + w, w, emb))
            c = w
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, channels * outputs, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        emb = self.time(t)
        h = self.inp(F.pixel_unshuffle(x, self.patch))
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if level < len(self.pool):
                h = self.pool[level](h)
        h = self.mid(h, emb)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], 1), emb)
        return F.pixel_shuffle(self.out(h), self.patch)
