"""Network factories: how the harness builds the network a method trains, by name.

THE CONTRACT (a plugin's factory follows it too):

    factory.build(dataset, train_config, seed, outputs) -> torch.nn.Module

- `dataset` is a `bench.data.Dataset` (its `kind`, "points" or "images", and its `dims`, the
  shape of one sample: (d,) for points, (c, h, w) for images);
- `train_config` is the track's `bench.run.TrainConfig` (width, depth, time_freqs, patch, ...);
  a factory reads the fields it needs and may ignore the others;
- `seed`: the harness has already seeded torch's global RNG from it (inside a forked RNG state)
  when `build` runs, so a factory that initialises with torch's defaults is deterministic;
- `outputs`: how many fields of the data's shape the network returns, stacked along dim 1
  (`methods.base.net_outputs`: 1 for a velocity, 2 for a velocity and a denoiser, ...).

The module is called as `net(x, t)` with x: [n, *dims] and t: [n] in the harness's time
convention (`methods.base`: t = 0 is the source, t = 1 the data, float32) and returns
[n, dims[0] * outputs, *dims[1:]]. `kinds` names the dataset kinds the factory builds for; a
track whose `train.net` names a factory of another kind is refused when the spec is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from bench.nets.mlp import MLP
from bench.nets.unet import UNet, shape_problem
from methods.registry import Registry

__all__ = ["NETS", "NetFactory", "default_net"]

Build = Callable[[Any, Any, int, int], nn.Module]
"""`build(dataset, train_config, seed, outputs) -> nn.Module`, as described above."""


@dataclass(frozen=True)
class NetFactory:
    name: str
    kinds: tuple[str, ...]
    """The dataset kinds it builds for: "points", "images" or both."""
    build: Build
    description: str = field(default="", metadata={"fingerprint": False})


def _mlp(dataset: Any, cfg: Any, seed: int, outputs: int = 1) -> nn.Module:
    return MLP(dim=dataset.dims[0], width=cfg.width, depth=cfg.depth, time_freqs=cfg.time_freqs, outputs=outputs)


def _unet(dataset: Any, cfg: Any, seed: int, outputs: int = 1) -> nn.Module:
    problem = shape_problem(dataset.dims, cfg.patch, cfg.depth)
    if problem:
        raise ValueError(f"{dataset.name}: {problem}")
    return UNet(dataset.dims[0], width=cfg.width, depth=cfg.depth, time_freqs=cfg.time_freqs, patch=cfg.patch,
                outputs=outputs)  # fmt: skip


DEFAULT_NETS = (("points", "mlp"), ("images", "unet"))
"""The factory a track uses when its `train.net` is empty, by the dataset's kind."""


def default_net(kind: str) -> str:
    """The built-in factory for datasets of `kind`."""
    return dict(DEFAULT_NETS)[kind]


NETS: Registry[NetFactory] = Registry("net")
NETS.add("mlp", NetFactory("mlp", ("points",), _mlp, "MLP on [x, Fourier features of t], SiLU"))
NETS.add("unet", NetFactory("unet", ("images",), _unet, "UNet with time embedding and GroupNorm"))
