"""The time-conditioned networks every method trains, called as `net(x, t)` with t in [0, 1]
(0 = source, 1 = data): `MLP` for 2D points, `UNet` for images; `CountingNet` wraps either
to count network evaluations (NFE)."""

from bench.nets.mlp import MLP, CountingNet, FourierTime
from bench.nets.unet import UNet

__all__ = ["MLP", "CountingNet", "FourierTime", "UNet"]
