"""Writes src/blendbench_example/spiral.csv, the example dataset's file (run once; the file is committed)."""

import math
from pathlib import Path

import torch

g = torch.Generator().manual_seed(0)
s = torch.rand(1000, generator=g).sqrt()  # along each arm, denser outside
arm = torch.randint(2, (1000,), generator=g)
angle = 3 * math.pi * s + math.pi * arm
radius = 0.3 + 2.2 * s
points = torch.stack([radius * angle.cos(), radius * angle.sin()], 1)
lines = ["x,y", *(f"{x:.4f},{y:.4f}" for x, y in points.tolist())]
Path(__file__).with_name("src").joinpath("blendbench_example", "spiral.csv").write_text("\n".join(lines) + "\n")
