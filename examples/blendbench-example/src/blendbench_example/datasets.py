"""`gauss-spiral`: standard normal -> a two-armed spiral read from a file shipped with the package.

The target draws rows of `spiral.csv` (x, y per line) with replacement, from the generator it is
given, plus Gaussian jitter of 0.02, so it is a smooth density and the same seed gives the same
samples. The file is read once, when first drawn from.
"""

from __future__ import annotations

import functools
from importlib import resources

import torch
from torch import Tensor

from bench.data import Dataset

JITTER = 0.02


@functools.cache
def spiral_points() -> Tensor:
    text = resources.files("blendbench_example").joinpath("spiral.csv").read_text()
    rows = [tuple(map(float, line.split(","))) for line in text.splitlines()[1:] if line.strip()]
    return torch.tensor(rows, dtype=torch.float32)


def gaussian(n: int, g: torch.Generator) -> Tensor:
    return torch.randn(n, 2, generator=g)


def spiral(n: int, g: torch.Generator) -> Tensor:
    points = spiral_points()
    rows = torch.randint(len(points), (n,), generator=g)
    return points[rows] + JITTER * torch.randn(n, 2, generator=g)


SPIRAL = Dataset("gauss-spiral", gaussian, spiral, True, "standard normal -> two-armed spiral (from spiral.csv)")
