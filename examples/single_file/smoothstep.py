"""The `smoothstep` method as one plugin file: name it in a sweep file (`plugins = ["smoothstep.py"]`,
relative to the sweep file) or on the command line (`--plugin examples/single_file/smoothstep.py`).

A plugin file declares what it adds in the dicts METHODS, SOLVERS, DATASETS and NETS (name ->
object); this one adds a method. x_t = (1 - s(t)) x0 + s(t) x1 with s(t) = 3t^2 - 2t^3: the
network regresses x1 - x0 and the velocity is s'(t) net(x, t). Edit it and rerun the sweep: the
results' keys hold this file's code, so exactly its networks are retrained and its cells resampled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor

from methods import Net, broadcast, expand_time


@dataclass(frozen=True)
class Smoothstep:
    name: str = "smoothstep"
    needs_gaussian_source: bool = False
    time_range: tuple[float, float] = (0.0, 1.0)
    native_samplers: Mapping = field(default_factory=dict)

    def loss(self, net: Net, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        s = broadcast(t * t * (3 - 2 * t), x0)
        x_t = (1 - s) * x0 + s * x1
        return (net(x_t, t) - (x1 - x0)).square().mean()

    def velocity(self, net: Net, x: Tensor, t: float) -> Tensor:
        times = expand_time(t, x)
        return broadcast(6 * times * (1 - times), x) * net(x, times)


METHODS = {"smoothstep": Smoothstep()}
