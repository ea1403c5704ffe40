"""Drawing samples from a trained method with one solver, counting network evaluations."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bench.data import DATASETS, Dataset, images
from bench.nets import CountingNet
from bench.rng import generator, per_sample
from bench.solvers import Solver, uniform_grid
from bench.store import faults
from methods import METHODS, Method


class NotApplicable(Exception):
    """A solver that does not apply to a method; the cell is recorded as skipped."""


def applicability(method: Method, dataset: Dataset, solver: Solver | None = None) -> str | None:
    """Why a (method, dataset[, solver]) combination cannot run, or None if it can."""
    if method.needs_gaussian_source and not dataset.gaussian_source:
        return f"{method.name} needs a standard normal source; {dataset.name} has another source"
    if getattr(method, "needs_mixture", False) and dataset.mixture is None:
        exact = ", ".join(name for name, d in DATASETS.items() if d.mixture is not None)
        return f"{method.name} needs a Gaussian-mixture target with a closed-form field: {exact}"
    if solver is not None and solver.kind == "native" and solver.name not in method.native_samplers:
        owners = [name for name, m in METHODS.items() if solver.name in m.native_samplers]
        return f"{solver.name} is a native sampler of {', '.join(owners)} only, not of {method.name}"
    return None


def draw_source(dataset: Dataset, seed: int, n: int) -> Tensor:
    """n source samples, sample i from its own stream (independent of n and of batching)."""
    return per_sample(dataset.source, seed, "source", range(n))


def draw_heldout(dataset: Dataset, seed: int, n: int) -> Tensor:
    """n target samples never used in training: the reference. 2D: from a stream of their
    own; images and points read from a file: the first n of the dataset's fixed reference part
    (the same for every seed)."""
    if dataset.kind == "images":
        return images.to_model(images.load_splits(dataset.name).reference[:n])
    if dataset.fixed is not None:
        return dataset.fixed("reference")[:n]
    return dataset.target(n, generator(seed, "heldout", dataset.name))


def draw_floor_sample(dataset: Dataset, seed: int, n: int) -> Tensor:
    """n more target samples, independent of `draw_heldout`'s: metric(this, heldout) is the
    value a perfect sampler would score with n samples (the metric's finite-sample floor).
    Images: the first n held-out images, which neither the models nor the classifier saw; points
    read from a file: the first n of its fixed held-out part."""
    if dataset.kind == "images":
        return images.to_model(images.load_splits(dataset.name).heldout[:n])
    if dataset.fixed is not None:
        return dataset.fixed("heldout")[:n]
    return dataset.target(n, generator(seed, "floor", dataset.name))


def draw_noise(dataset: Dataset, seed: int, n: int, steps: int) -> Tensor:
    """Per-step sampler noise [steps, n, *dims], sample i from its own stream."""
    shape = (steps, *dataset.dims)
    noise = per_sample(lambda k, g: torch.randn(k, *shape, generator=g), seed, "noise", range(n))
    return noise.transpose(0, 1).contiguous()


@dataclass
class Samples:
    x: Tensor
    nfe: int
    seconds: float


@torch.no_grad()
def sample(
    method: Method,
    net: nn.Module,
    solver: Solver,
    x0: Tensor,
    *,
    steps: int | None = None,
    tol: float | None = None,
    noise: Tensor | None = None,
    clip: tuple[float, float] | None = None,
    batch_size: int = 0,
) -> Samples:
    """Integrate from source samples x0 [n, *d] with `solver` at `steps` (or `tol`).

    The network is wrapped in a counter; `nfe` is the number of forward calls per batch (a
    mean over batches for an adaptive solver, whose step sizes each batch chooses).
    noise: a native sampler's per-step noise [steps, n, *d]; clip: the data's range, passed to
    native samplers (they clamp their data prediction to it). batch_size: samples integrated
    together (0: all n); only one batch's intermediate states are held at a time.

    `seconds` times the integration alone. The peak-memory probe (`bench.run.memory.PeakMemory`)
    brackets this call in `bench.sweep.runner`, outside the clock: its two system calls would
    otherwise be part of every cell's sampling time.
    """
    n = len(x0)
    size = batch_size or n
    counted = CountingNet(net)
    velocity = functools.partial(method.velocity, counted)  # no Python frame of its own per step
    t0, t1 = method.time_range
    if solver.kind == "native" and solver.name not in method.native_samplers:
        raise NotApplicable(f"{solver.name} is not a native sampler of {method.name}")
    start = time.perf_counter()
    parts = []
    for lo in range(0, n, size):
        xb = x0 if size >= n else x0[lo : lo + size]
        if solver.kind == "fixed":
            parts.append(solver.fn(velocity, xb, uniform_grid(steps, t0, t1)))
        elif solver.kind == "adaptive":
            parts.append(solver.fn(velocity, xb, uniform_grid(1, t0, t1), tol))
        else:
            nb = None if noise is None else noise[:, lo : lo + size]
            parts.append(method.native_samplers[solver.name](counted, xb, steps, nb, clip=clip))
        faults.crash_point("sample-batch")
    seconds = time.perf_counter() - start
    x = parts[0] if len(parts) == 1 else torch.cat(parts)
    nfe = counted.calls / len(parts)
    return Samples(x, int(nfe) if nfe.is_integer() else nfe, seconds)
