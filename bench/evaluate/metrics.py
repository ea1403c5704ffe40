"""Sample-quality metrics: on point clouds `metric(samples [n, d], reference [m, d]) -> float`;
on images, the names of what bench.evaluate.fidelity measures through a feature extractor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from methods.registry import Registry


def w2(samples: Tensor, reference: Tensor) -> float:
    """Exact 2-Wasserstein distance between two empirical measures with uniform weights.

    On the squared Euclidean cost, in float64, and its square root. With as many samples as
    reference points (every cell of a sweep), an optimal plan is a permutation (Birkhoff), so
    the linear programme is an assignment problem: scipy's `linear_sum_assignment`, about 30 %
    faster than the network simplex at 500 points and without POT's seconds of import time.
    Otherwise POT's network simplex (`ot.emd2`). Both are exact; they agree to rounding (a test).
    """
    a = samples.detach().to(torch.float64).reshape(len(samples), -1).numpy()
    b = reference.detach().to(torch.float64).reshape(len(reference), -1).numpy()
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    cost = cdist(a, b, "sqeuclidean")
    if len(a) == len(b):
        rows, cols = linear_sum_assignment(cost)
        return float(np.sqrt(max(cost[rows, cols].mean(), 0.0)))
    import ot  # POT takes seconds to import: only where it is needed

    weights_a = np.full(len(a), 1.0 / len(a))
    weights_b = np.full(len(b), 1.0 / len(b))
    return float(np.sqrt(max(ot.emd2(weights_a, weights_b, cost, numItermax=10_000_000), 0.0)))


def energy(samples: Tensor, reference: Tensor) -> float:
    """Energy distance sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|) (Szekely & Rizzo 2013), V-statistic.

    The same definition as `scipy.stats.energy_distance`, in any dimension.
    """
    x = samples.detach().to(torch.float64).reshape(len(samples), -1)
    y = reference.detach().to(torch.float64).reshape(len(reference), -1)
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).mean()
    yy = torch.cdist(y, y).mean()
    return float((2 * xy - xx - yy).clamp_min(0).sqrt())


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[Tensor, Tensor], float] | None
    """`fn(samples, reference) -> float` for 2D metrics; None for image metrics, which are
    computed together through the feature extractor (bench.evaluate.fidelity.image_metrics)."""
    description: str = field(metadata={"fingerprint": False})
    kind: str = "points"
    default: bool = True
    """Part of a track's metrics when its spec names none (the likelihoods cost ODE solves: opt in)."""


METRICS: Registry[Metric] = Registry("metric")
METRICS.add("w2", Metric("w2", w2, "exact 2-Wasserstein distance to held-out target samples (POT)"))
METRICS.add("energy", Metric("energy", energy, "energy distance to held-out target samples"))

for _name, _description in (
    ("fd", "Frechet distance between extractor features of samples and reference images (torch-fidelity)"),
    ("kid", "kernel inception distance on extractor features, mean over subsets (sd in value_sd)"),
    ("precision", "improved precision (Kynkaanniemi et al. 2019): share of samples on the real manifold"),
    ("recall", "improved recall: share of real images on the samples' manifold"),
    ("confidence", "the classifier's mean max-probability on the samples"),
    ("class_entropy", "entropy (nats) of the classifier's predicted-class histogram; log 10 = balanced"),
):
    METRICS.add(_name, Metric(_name, None, _description, "images"))

METRICS.add("nll", Metric("nll", None, "negative log-likelihood (nats) of held-out points, ODE + exact divergence "
                          "(bench.evaluate.likelihood), with the cell's solver", default=False))  # fmt: skip
METRICS.add("bpd", Metric("bpd", None, "bits per dimension of held-out images, ODE + Hutchinson divergence "
                          "(bench.evaluate.likelihood), with the cell's solver", "images", default=False))  # fmt: skip
