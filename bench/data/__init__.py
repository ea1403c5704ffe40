"""Datasets, by name in `DATASETS`: the 2D distributions (`datasets`), the image sets
(`images`: mnist5k, mnist, fashion-mnist, cifar10, their fixed train / reference / held-out parts
and the files they are read from) and the point clouds and image sets a sweep file reads from
your own files (`files`).

A `Dataset` has a `kind` ("points" or "images"), its `dims`, and source and target samplers
`sampler(n, generator) -> Tensor [n, *dims]`; images are in model space, [-1, 1].
"""

from bench.data import files, images
from bench.data.datasets import DATASETS, SQUARE, TRIANGLE, Dataset, Sampler
from bench.data.images import DataUnavailable, ImageSplits, load_splits, to_model, to_uint8

__all__ = ["DATASETS", "DataUnavailable", "Dataset", "ImageSplits", "SQUARE", "Sampler", "TRIANGLE", "files", "images",
           "load_splits", "to_model", "to_uint8"]  # fmt: skip
