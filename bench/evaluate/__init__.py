"""Measuring samples against the data: point-cloud metrics (`metrics`: W2, energy), image
metrics in a feature space (`fidelity`: FD, KID, precision/recall, confidence, class entropy;
`classifier`: the trained feature extractor), likelihoods (`likelihood`), and the `Judge`
that applies a track's metrics to one cell's samples.

`fidelity` imports torch-fidelity (about a second), so it is loaded on first use:
`bench.evaluate.fidelity` works as an attribute as well as an import.
"""

import importlib

from bench.evaluate import likelihood
from bench.evaluate.classifier import Extractor, obtain_classifier
from bench.evaluate.judge import (
    CACHE_FOLDER,
    EXTRACTORS_FOLDER,
    ExtractorUnavailable,
    Judge,
    build_judge,
    require_inception_weights,
)
from bench.evaluate.likelihood import LIKELIHOOD_METRICS
from bench.evaluate.metrics import METRICS, Metric, energy, w2

__all__ = ["CACHE_FOLDER", "EXTRACTORS_FOLDER", "Extractor", "ExtractorUnavailable", "Judge", "LIKELIHOOD_METRICS",
           "METRICS", "Metric", "build_judge", "energy", "fidelity", "likelihood", "obtain_classifier",
           "require_inception_weights", "w2"]  # fmt: skip


def __getattr__(name: str) -> object:
    if name == "fidelity":
        return importlib.import_module("bench.evaluate.fidelity")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
