"""Measuring a set of samples against the reference: point-cloud metrics on 2D, extractor
features (FD, KID, precision/recall, the classifier's view) on images.

A `Judge` is built once per (dataset, evaluation) before any cell runs: on images it holds
the feature extractor, whose identity (`extractor_id`, a content hash of its weights) goes
into every result row and every cell key, so values computed with another extractor are
never mixed with these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

from bench.data import Dataset, images
from bench.evaluate.likelihood import LIKELIHOOD_METRICS
from bench.evaluate.metrics import METRICS

if TYPE_CHECKING:  # a type only: bench.run sits above bench.evaluate (its spec names the metrics)
    from bench.run import EvalConfig

EXTRACTORS_FOLDER = "_extractors"
"""Under the results root: the trained classifiers, shared by every sweep."""
CACHE_FOLDER = "_fidelity_cache"
"""Under the results root: reference features/statistics, keyed by data, count and extractor."""


class ExtractorUnavailable(ValueError):
    """An image metric's feature extractor that cannot be had (e.g. Inception without its weights)."""


@dataclass
class Judge:
    dataset: Dataset
    eval: EvalConfig
    extractor: object | None = None
    """Images, extractor = "classifier": the trained classifier (bench.evaluate.classifier.Extractor)."""
    inception_weights: Path | None = None
    """Images, extractor = "inception": the user's Inception-v3 weights file."""
    extractor_id: str = ""
    """Names the feature space by the content hash of its weights ('' on 2D)."""
    cache_root: Path | None = None
    data_hash: str = ""

    def measure(self, samples: Tensor, reference: Tensor, reference_split: str = "reference") -> list[dict]:
        """One {metric, value, value_sd} per metric of the evaluation; samples and reference in
        model space ([-1, 1] for images), shaped [n, *dims]."""
        if self.dataset.kind == "points":
            return self.measure_points(samples, reference)
        return self.measure_images(samples, reference, reference_split)

    def measure_points(self, samples: Tensor, reference: Tensor) -> list[dict]:
        """2D: each point-cloud metric of the evaluation on the samples against the reference."""
        return [
            {"metric": name, "value": METRICS.get(name).fn(samples, reference), "value_sd": ""}
            for name in self.eval.metrics
            if name not in LIKELIHOOD_METRICS  # measured on the model, by bench.evaluate.likelihood
        ]

    def measure_images(self, samples: Tensor, reference: Tensor, reference_split: str = "reference") -> list[dict]:
        """Images: the image metrics of the evaluation, through the feature extractor."""
        from bench.evaluate.fidelity import image_metrics, inception_metrics, reference_key

        name = reference_key(self.dataset.name, reference_split, self.data_hash, len(reference), self.extractor_id)
        samples, reference = images.to_uint8(samples), images.to_uint8(reference)
        if self.inception_weights is not None:
            values = inception_metrics(samples, reference, weights_path=self.inception_weights, reference_name=name,
                                       cache_root=self.cache_root)  # fmt: skip
        else:
            values = image_metrics(samples, reference, self.extractor, reference_name=name, cache_root=self.cache_root)
        rows = []
        for metric in (m for m in self.eval.metrics if m not in LIKELIHOOD_METRICS):
            value, sd = values[metric]
            rows.append({"metric": metric, "value": value, "value_sd": "" if sd is None else sd})
        return rows


def require_inception_weights(path: Path | None) -> None:
    """Raise ExtractorUnavailable unless `path` is a file (the Inception weights are never downloaded)."""
    if path is None or not Path(path).is_file():
        raise ExtractorUnavailable(
            "the Inception extractor's weights are never downloaded: pass --inception-weights PATH to the file "
            'weights-inception-2015-12-05-6726825d.pth (or use extractor = "classifier")'
        )


def build_judge(dataset: Dataset, evaluation: EvalConfig, results_root: Path, *, inception_weights: Path | None = None,
                train_if_missing: bool = True) -> Judge:  # fmt: skip
    """The judge of one dataset: for images, loads (or trains, once) the extractor.

    Raises images.DataUnavailable when the dataset's files are missing, and ValueError when the
    Inception extractor is asked for without its weights file.
    """
    if dataset.kind == "points":  # a point cloud read from a file is named by its content hash
        return Judge(dataset, evaluation, data_hash=dataset.content_hash)
    splits = images.load_splits(dataset.name)
    cache = Path(results_root) / CACHE_FOLDER
    if evaluation.extractor == "inception":
        require_inception_weights(inception_weights)
        digest = hashlib.sha256(Path(inception_weights).read_bytes()).hexdigest()
        return Judge(dataset, evaluation, None, Path(inception_weights), f"inception-{digest[:12]}", cache,
                     splits.content_hash)  # fmt: skip
    from bench.evaluate.classifier import obtain_classifier

    extractor = obtain_classifier(splits, Path(results_root) / EXTRACTORS_FOLDER, train_if_missing=train_if_missing)
    return Judge(dataset, evaluation, extractor, None, extractor.label, cache, splits.content_hash)
