"""The time-conditioned networks every method trains, called as `net(x, t)` with t in [0, 1]
(0 = source, 1 = data): `MLP` for 2D points, `UNet` for images; `CountingNet` wraps either
to count network evaluations (NFE). `NETS` holds the network factories by name (the contract a
plugin's factory follows is in `bench.nets.factory`); `shape_problem` says why the UNet cannot
take an image shape with a patch and depth."""

from bench.nets.factory import NETS, NetFactory, default_net
from bench.nets.mlp import MLP, CountingNet, FourierTime
from bench.nets.unet import UNet, shape_problem

__all__ = ["MLP", "NETS", "CountingNet", "FourierTime", "NetFactory", "UNet", "default_net", "shape_problem"]
