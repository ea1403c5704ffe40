"""Datasets, by name in `DATASETS`: the 2D distributions (`datasets`) and the image sets
(`images`: mnist5k, mnist, fashion-mnist, their fixed train / reference / held-out parts and
the files they are read from).

A `Dataset` has a `kind` ("points" or "images"), its `dims`, and source and target samplers
`sampler(n, generator) -> Tensor [n, *dims]`; images are in model space, [-1, 1].
"""

from bench.data import images
from bench.data.datasets import DATASETS, SQUARE, TRIANGLE, Dataset, Sampler
from bench.data.images import DataUnavailable, ImageSplits, load_splits, to_model, to_uint8

__all__ = ["DATASETS", "DataUnavailable", "Dataset", "ImageSplits", "SQUARE", "Sampler", "TRIANGLE", "images",
           "load_splits", "to_model", "to_uint8"]  # fmt: skip
