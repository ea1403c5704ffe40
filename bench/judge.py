"""Measuring a set of samples against the reference: point-cloud metrics on 2D, extractor
features (FD, KID, precision/recall, the classifier's view) on images.

A `Judge` is built once per (dataset, evaluation) before any cell runs: on images it holds
the feature extractor, whose identity (`extractor_id`, a content hash of its weights) goes
into every result row and every cell key, so values computed with another extractor are
never mixed with these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from bench import images
from bench.data import Dataset
from bench.metrics import METRICS
from bench.spec import EvalConfig

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
    """Images: the feature extractor (bench.classifier.Extractor or an Inception extractor)."""
    cache_root: Path | None = None
    data_hash: str = ""

    @property
    def extractor_id(self) -> str:
        return self.extractor.label if self.extractor is not None else ""

    def measure(self, samples: Tensor, reference: Tensor, reference_split: str = "reference") -> list[dict]:
        """One {metric, value, value_sd} per metric of the evaluation; samples and reference in
        model space ([-1, 1] for images), shaped [n, *dims]."""
        if self.dataset.kind == "points":
            return [
                {"metric": name, "value": METRICS.get(name).fn(samples, reference), "value_sd": ""}
                for name in self.eval.metrics
            ]
        from bench.fidelity import image_metrics, reference_key

        name = reference_key(self.dataset.name, reference_split, self.data_hash, len(reference), self.extractor)
        values = image_metrics(
            images.to_uint8(samples), images.to_uint8(reference), self.extractor,
            reference_name=name, cache_root=self.cache_root,
        )  # fmt: skip
        rows = []
        for metric in self.eval.metrics:
            value, sd = values[metric]
            rows.append({"metric": metric, "value": value, "value_sd": "" if sd is None else sd})
        return rows


def build_judge(dataset: Dataset, evaluation: EvalConfig, results_root: Path, *, inception_weights: Path | None = None,
                train_if_missing: bool = True) -> Judge:  # fmt: skip
    """The judge of one dataset: for images, loads (or trains, once) the extractor.

    Raises images.DataUnavailable when the dataset's files are missing, and ValueError when the
    Inception extractor is asked for without its weights file.
    """
    if dataset.kind == "points":
        return Judge(dataset, evaluation)
    splits = images.load_splits(dataset.name)
    if evaluation.extractor == "inception":
        from bench.fidelity import inception_extractor

        extractor = inception_extractor(inception_weights)
    else:
        from bench.classifier import obtain_classifier

        extractor = obtain_classifier(splits, Path(results_root) / EXTRACTORS_FOLDER, train_if_missing=train_if_missing)
    return Judge(dataset, evaluation, extractor, Path(results_root) / CACHE_FOLDER, splits.content_hash)
