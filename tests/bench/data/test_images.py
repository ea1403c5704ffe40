"""Image datasets: the fixed mnist5k split, IDX files in torchvision's layout, clear errors."""

import gzip

import numpy as np
import pytest
import torch

from bench.data import images
from bench.data.datasets import DATASETS
from bench.data.images import DataUnavailable, load_splits, read_idx, to_model, to_uint8


def test_mnist5k_split_is_fixed_balanced_and_disjoint():
    s = load_splits("mnist5k")
    assert (len(s.train), len(s.reference), len(s.heldout)) == (4000, 500, 500)
    assert s.train.dtype == torch.uint8 and s.train.shape[1:] == (1, 28, 28)
    for labels, per_class in ((s.train_labels, 400), (s.reference_labels, 50), (s.heldout_labels, 50)):
        assert labels.bincount(minlength=10).tolist() == [per_class] * 10
    assert s.reference_labels[:20].tolist() == list(range(10)) * 2  # any prefix is class-balanced
    rows = {bytes(x) for x in s.train.flatten(1).numpy()}
    assert not any(bytes(x) in rows for x in s.reference.flatten(1).numpy())
    assert not any(bytes(x) in rows for x in s.heldout.flatten(1).numpy())
    assert s.content_hash == load_splits("mnist5k").content_hash and len(s.content_hash) == 64


def test_model_space_round_trips_exactly():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    assert to_model(x).min() == -1 and to_model(x).max() == 1
    assert torch.equal(to_uint8(to_model(x)), x)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def data_root(tmp_path):
    before = (images.SETTINGS.data_root, images.SETTINGS.download)
    images.configure(data_root=tmp_path, download=False)
    yield tmp_path
    images.configure(*before)


def test_full_sets_read_torchvision_layout_with_a_documented_split(data_root):
    raw = data_root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    train = np.zeros((60_000, 28, 28), np.uint8)
    train[:, 0, 0] = np.arange(60_000) % 251  # tells the images apart
    write_idx(raw / "train-images-idx3-ubyte.gz", train)
    write_idx(raw / "train-labels-idx1-ubyte.gz", np.arange(60_000) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", np.full((10_000, 28, 28), 7, np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.arange(10_000) % 10)
    s = load_splits("fashion-mnist")
    assert (len(s.train), len(s.reference), len(s.heldout)) == (50_000, 10_000, 10_000)
    assert torch.equal(s.heldout[:, 0, 0, 0], torch.from_numpy(train[50_000:, 0, 0]))
    assert (s.reference == 7).all()


def test_missing_datasets_say_how_to_get_them(data_root, monkeypatch):
    monkeypatch.setattr(images, "DEBIAN_FASHION", data_root / "nowhere")
    with pytest.raises(DataUnavailable, match="apt install dataset-fashion-mnist"):
        load_splits("fashion-mnist")
    with pytest.raises(DataUnavailable, match="--download"):
        load_splits("mnist")


def test_a_truncated_idx_file_is_refused(tmp_path):
    path = tmp_path / "t.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(DataUnavailable, match="truncated"):
        read_idx(path)


def test_image_datasets_are_registered_with_their_reference_sizes():
    assert DATASETS.get("mnist5k").reference_size == 500
    assert DATASETS.get("mnist").kind == DATASETS.get("fashion-mnist").kind == "images"
    x = DATASETS.get("mnist5k").target(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
