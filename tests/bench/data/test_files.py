"""docs/data.md: datasets read from your own files (`[datasets.<name>]` in a sweep file) and cifar10.

Every test makes its own data: a labelled RGB set of coloured discs and squares (`shapes`, from
examples/own_data/make_data.py), written to each supported format, and point clouds written to
.csv, .npy, .npz and .parquet.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from bench import plugins
from bench.cli import main
from bench.data import DATASETS, files, images
from bench.data.files import DataFileError, read_images, read_points
from bench.evaluate.classifier import RECIPE, Classifier, build_classifier, shift_images
from bench.nets import UNet, shape_problem
from bench.nets.unet import level_sides
from bench.run import draw_floor_sample, draw_heldout

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "own_data" / "make_data.py"
_spec = importlib.util.spec_from_file_location("own_data_make", EXAMPLE)
make_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_data)
shapes, cloud = make_data.shapes, make_data.cloud
"""The example's generators: `shapes(n, size)`, coloured discs and squares in 4 classes, and
`cloud(n, d)`, a Gaussian cloud with unequal scales."""


@pytest.fixture(autouse=True)
def isolated():
    """Datasets registered from files in a test are gone after it."""
    with plugins.isolated():
        yield


# --- reading ---


def test_a_point_cloud_reads_the_same_from_every_format(tmp_path):
    points = cloud(200, 5)
    pd.DataFrame(points, columns=list("abcde")).to_csv(tmp_path / "p.csv", index=False)
    pd.DataFrame(points).to_csv(tmp_path / "bare.csv", index=False, header=False)
    pd.DataFrame(points, columns=list("abcde")).to_parquet(tmp_path / "p.parquet")
    np.save(tmp_path / "p.npy", points)
    np.savez(tmp_path / "p.npz", points=points, other=np.zeros(3))
    for name in ("p.csv", "bare.csv", "p.parquet", "p.npy", "p.npz"):
        read = read_points(tmp_path / name)
        assert read.dtype == np.float32 and read.shape == (200, 5), name
        np.testing.assert_array_equal(read, points, err_msg=name)  # csv: float32 -> text -> float32 is exact


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "folder"])
def test_an_rgb_set_reads_the_same_from_every_format_with_its_labels(tmp_path, layout):
    x, y = shapes(24, 12)
    if layout == "nhwc":
        np.savez(tmp_path / "s.npz", images=x, labels=y + 7)  # any integers: renumbered 0..k-1 in sorted order
        path = tmp_path / "s.npz"
    elif layout == "nchw":
        np.savez(tmp_path / "s.npz", x=x.transpose(0, 3, 1, 2), y=y)
        path = tmp_path / "s.npz"
    else:
        path = tmp_path / "folder"
        for i, (image, label) in enumerate(zip(x, y)):
            (path / f"class-{label}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path / f"class-{label}" / f"{i:03d}.png")
    read, labels = read_images(path)
    assert read.shape == (24, 3, 12, 12) and read.dtype == np.uint8
    if layout == "folder":  # files in sorted order within each class folder, classes in sorted order
        order = np.argsort(y, kind="stable")
        np.testing.assert_array_equal(read, x[order].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(labels, y[order])
    else:
        np.testing.assert_array_equal(read, x.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(labels, y)


def test_a_grey_set_without_labels_reads_as_one_channel(tmp_path):
    x = np.arange(5 * 8 * 8, dtype=np.uint8).reshape(5, 8, 8)
    np.save(tmp_path / "g.npy", x)
    read, labels = read_images(tmp_path / "g.npy")
    assert labels is None and read.shape == (5, 1, 8, 8)
    np.testing.assert_array_equal(read[:, 0], x)


# --- the split ---


def write_spec(folder: Path, datasets: str, tracks: str, name: str = "own") -> Path:
    path = folder / "sweep.toml"
    path.write_text(f'name = "{name}"\n{datasets}\n{tracks}')
    return path


def test_the_split_is_a_seeded_permutation_recorded_in_the_content_hash(tmp_path):
    points = cloud(100, 3)
    np.save(tmp_path / "c.npy", points)
    dataset = files.register("c", {"path": str(tmp_path / "c.npy"), "reference": 20})
    order = np.random.default_rng(0).permutation(100)  # the documented split: split_seed 0
    np.testing.assert_array_equal(dataset.fixed("reference").numpy(), points[order[:20]])
    np.testing.assert_array_equal(dataset.fixed("heldout").numpy(), points[order[20:40]])
    # the held-out and floor samples of every seed are the fixed parts' first n rows
    np.testing.assert_array_equal(draw_heldout(dataset, 3, 15).numpy(), points[order[:15]])
    np.testing.assert_array_equal(draw_floor_sample(dataset, 3, 15).numpy(), points[order[20:35]])
    train_rows = {tuple(p) for p in points[order[40:]]}
    drawn = dataset.target(500, torch.Generator().manual_seed(0)).numpy()
    assert {tuple(p) for p in drawn} == train_rows  # training draws only the rest (all of it, at 500 draws)
    assert dataset.dims == (3,) and dataset.reference_size == 20 and dataset.gaussian_source
    assert dataset.source(4, torch.Generator().manual_seed(0)).shape == (4, 3)
    assert DATASETS.origin("c") == f"file {tmp_path / 'c.npy'}"
    other = files.register("c2", {"path": str(tmp_path / "c.npy"), "reference": 20, "split_seed": 1})
    assert other.content_hash != dataset.content_hash  # another split is another dataset
    np.testing.assert_array_equal(other.fixed("reference").numpy(),
                                  points[np.random.default_rng(1).permutation(100)[:20]])  # fmt: skip
    edited = points.copy()
    edited[0, 0] += 1
    np.save(tmp_path / "d.npy", edited)
    assert files.register("d", {"path": str(tmp_path / "d.npy"), "reference": 20}).content_hash != dataset.content_hash


def test_a_source_file_replaces_the_standard_normal(tmp_path):
    np.save(tmp_path / "target.npy", cloud(60, 2))
    source = np.array([[5.0, 5.0], [6.0, 6.0]], dtype=np.float32)
    np.save(tmp_path / "source.npy", source)
    dataset = files.register("st", {"path": str(tmp_path / "target.npy"), "source": str(tmp_path / "source.npy")})
    drawn = dataset.source(50, torch.Generator().manual_seed(0)).numpy()
    assert {tuple(p) for p in drawn} == {(5.0, 5.0), (6.0, 6.0)} and not dataset.gaussian_source
    with pytest.raises(DataFileError, match="has points of 2 dimensions, the data .* of 3; they must match"):
        np.save(tmp_path / "t3.npy", cloud(60, 3))
        files.register("st3", {"path": str(tmp_path / "t3.npy"), "source": str(tmp_path / "source.npy")})


def test_an_image_set_is_split_into_fixed_parts_with_its_labels(tmp_path):
    x, y = shapes(50, 8)
    np.savez(tmp_path / "s.npz", images=x, labels=y)
    dataset = files.register("s", {"path": str(tmp_path / "s.npz"), "reference": 10})
    splits = images.load_splits("s")
    order = np.random.default_rng(0).permutation(50)
    chw = x.transpose(0, 3, 1, 2)
    for part, labels, rows in ((splits.reference, splits.reference_labels, order[:10]),
                               (splits.heldout, splits.heldout_labels, order[10:20]),
                               (splits.train, splits.train_labels, order[20:])):  # fmt: skip
        np.testing.assert_array_equal(part.numpy(), chw[rows])
        np.testing.assert_array_equal(labels.numpy(), y[rows])
    assert dataset.dims == (3, 8, 8) and dataset.kind == "images" and dataset.reference_size == 10
    assert splits.shape == (3, 8, 8) and splits.classes == 4 and dataset.content_hash == splits.content_hash


# --- the network and the classifier follow the data ---


def test_the_unet_takes_any_size_and_says_which_patches_and_depths_are_valid():
    for dims, patch, depth in (((3, 32, 32), 2, 3), ((1, 28, 28), 2, 3), ((3, 12, 20), 4, 2), ((1, 28, 28), 1, 1)):
        assert shape_problem(dims, patch, depth) is None
        net = UNet(dims[0], width=8, depth=depth, patch=patch, outputs=2)
        assert net(torch.zeros(2, *dims), torch.zeros(2)).shape == (2, 2 * dims[0], *dims[1:])
    assert level_sides(28, 2, 3) == [14, 7, 4] and level_sides(32, 1, 4) == [32, 16, 8, 4]
    assert (
        shape_problem((3, 32, 32), 3, 2) == "patch 3 does not divide the image size 32 x 32; valid: 1, 2, 4, 8, 16, 32"
    )
    assert shape_problem((3, 12, 20), 3, 2) == "patch 3 does not divide the image size 12 x 20; valid: 1, 2, 4"
    # 32 / 2 = 16 -> 8 -> 4 -> 2: depth 4 is the deepest with at least 2 x 2 patches at the coarsest level
    assert shape_problem((3, 32, 32), 2, 4) is None
    assert shape_problem((3, 32, 32), 2, 5) == "depth 5 halves 16 x 16 patches below 2 x 2; valid: 1 to 4"


def test_the_classifier_follows_the_channels_size_and_classes():
    net = Classifier(width=4, feature_dim=16, shape=(3, 32, 20), classes=4)
    assert net(torch.zeros(5, 3, 32, 20)).shape == (5, 4)
    # 32 x 20 -> stride 2 -> 16 x 10 -> pool -> 8 x 5: the hidden layer reads 4 * width * 8 * 5 values
    assert net.hidden[0].in_features == 4 * 4 * 8 * 5
    mnist = build_classifier(RECIPE)
    assert mnist.hidden[0].in_features == 4 * 16 * 7 * 7 and mnist.out.out_features == 10  # MNIST's, as always


def test_rgb_shifts_move_every_channel_as_the_grey_path_moves_one():
    g = torch.Generator().manual_seed(0)
    grey = torch.rand(6, 1, 9, 7, generator=g) * 2 - 1
    rgb = torch.cat([grey, -grey, grey * 0.5], 1)
    a = shift_images(grey, 2, torch.Generator().manual_seed(4))
    b = shift_images(rgb, 2, torch.Generator().manual_seed(4))
    torch.testing.assert_close(b, torch.cat([a, shift_images(-grey, 2, torch.Generator().manual_seed(4)),
                                             shift_images(grey * 0.5, 2, torch.Generator().manual_seed(4))], 1),
                               rtol=0, atol=0)  # fmt: skip


# --- end to end: a sweep file with a 5-D point cloud and a generated RGB set ---

TRACKS = """
[tracks.points.axes]
methods = ["iadb"]
datasets = ["cloud5"]
seeds = [0]
solvers = ["euler", "heun"]
steps = [4]

[tracks.points.train]
steps = 60
batch_size = 64
width = 16
depth = 2

[tracks.points.eval]
samples = 100
metrics = ["w2", "energy"]

[tracks.rgb.axes]
methods = ["iadb", "ddpm"]
datasets = ["shapes"]
seeds = [0]
solvers = ["euler"]
steps = [4]

[tracks.rgb.train]
steps = 20
batch_size = 16
width = 8
depth = 2

[tracks.rgb.eval]
samples = 60
grid = 16
"""
DATASETS_TABLES = """
[datasets.cloud5]
path = "data/cloud5.csv"

[datasets.shapes]
path = "data/shapes.npz"
"""


def own_data(folder: Path, shapes_n: int = 400) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cloud(1500, 5), columns=list("abcde")).to_csv(data / "cloud5.csv", index=False)
    x, y = shapes(shapes_n, 16)
    np.savez(data / "shapes.npz", images=x, labels=y)
    return write_spec(folder, DATASETS_TABLES, TRACKS)


def test_a_sweep_of_own_files_trains_samples_measures_and_draws_rgb_grids(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = own_data(tmp_path)
    fresh = DATASETS.snapshot()
    assert main(["sweep", "--spec", str(spec), "--results", "results"]) == 0
    cells = pd.read_csv("results/own/cells.csv")
    assert set(cells.status) == {"ok"} and set(cells.dataset) == {"cloud5", "shapes"}
    files_of = {"cloud5": tmp_path / "data" / "cloud5.csv", "shapes": tmp_path / "data" / "shapes.npz"}
    for dataset, rows in cells.groupby("dataset"):  # every row names the data it measured and where it came from
        digest = DATASETS.get(dataset).content_hash
        assert set(rows.data_hash) == {digest} and len(digest) == 64
        assert set(rows.dataset_origin) == {f"file {files_of[dataset]}"}
    assert set(cells[cells.dataset == "cloud5"].metric) == {"w2", "energy"}
    fd = cells[(cells.dataset == "shapes") & (cells.metric == "fd")]
    floor = float(fd[fd.method == "floor"].value.iloc[0])
    assert (fd[fd.method != "floor"].value > floor).all()  # 20 training steps are far from the real images
    # the classifier trained on the generated set, states its held-out accuracy
    (checkpoint,) = Path("results/_extractors").glob("shapes-classifier-*.pt")
    meta = torch.load(checkpoint, weights_only=True)["meta"]
    assert meta["shape"] == [3, 16, 16] and meta["classes"] == 4 and meta["accuracy"] >= 0.95
    stated = f"the classifier's accuracy on them: {meta['accuracy']:.4f}"  # in the floor's rows and the report
    assert set(cells[(cells.dataset == "shapes") & (cells.method == "floor")].reason) == {
        f"held-out real images vs the reference; {stated}"
    }
    assert stated in Path("reports/own/report.md").read_text()
    grid = Image.open(next(Path("reports/own/grids/shapes").glob("iadb_euler_K4_seed0.png")))
    assert grid.mode == "RGB" and grid.size == (4 * 16 * 2, 4 * 16 * 2)  # 16 samples, 4 x 4 tiles at scale 2
    tiles = np.load(next(Path("results/own/grids").glob("*.npy")))
    assert tiles.shape == (16, 3, 16, 16)
    html = Path("reports/own/index.html").read_text()
    assert "shapes" in html and "cloud5" in html
    capsys.readouterr()
    # a rerun does nothing; an edited file is another dataset: its cells are computed again
    assert main(["sweep", "--spec", str(spec), "--results", "results"]) == 0
    assert "trained=0, loaded=0, sampled=0" in capsys.readouterr().out
    x, y = shapes(400, 16)
    x[0, 0, 0] += 1
    np.savez(tmp_path / "data" / "shapes.npz", images=x, labels=y)
    DATASETS.restore(fresh)  # as in a new process: the edited file is read afresh
    files.forget()
    assert main(["sweep", "--spec", str(spec), "--results", "results"]) == 0
    out = capsys.readouterr().out
    assert "trained=2, loaded=0, sampled=2" in out  # the shapes track again; the point cloud's cells reused
    assert pd.read_csv("results/own/cells.csv").data_hash.nunique() == 3


def test_the_datasets_of_a_process_are_registered_again_in_a_worker(tmp_path):
    """A process-pool or SLURM worker registers the same file datasets (`plugins.state`)."""
    import subprocess
    import sys

    np.save(tmp_path / "w.npy", cloud(40, 4))
    dataset = files.register("w", {"path": str(tmp_path / "w.npy")})
    state = plugins.state()
    code = (
        "import sys, pickle; from bench import plugins; from bench.data import DATASETS; "
        "plugins.restore_state(pickle.loads(sys.stdin.buffer.read())); print(DATASETS.get('w').content_hash)"
    )
    run = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(state), capture_output=True, check=True)
    assert run.stdout.decode().strip() == dataset.content_hash


# --- every bad file: one clear error, exit 2, nothing written ---


BAD = {
    "missing": (lambda d: None, "points", "data/x.csv: no such file"),
    "wrong-suffix": (
        lambda d: (d / "x.txt").write_text("1,2\n"),
        "txt",
        "data files (an image set may also be a folder) are read from .npy, .npz, .csv, .parquet files, got .txt",
    ),  # fmt: skip
    "truncated-npy": (lambda d: (d / "x.npy").write_bytes(_npy(cloud(50, 2))[:-40]), "npy", "cannot read it as .npy"),
    "truncated-npz": (
        lambda d: (d / "x.npz").write_bytes(_npz(images=shapes(20)[0])[:300]),
        "npz",
        "cannot read it as .npz",
    ),
    "truncated-csv": (lambda d: (d / "x.csv").write_text("a,b\n1,2\n3,4\n5"), "csv", "row 2 has 1 of 2 values"),
    "text-in-csv": (
        lambda d: (d / "x.csv").write_text("a,b\n1,2\n3,oops\n"),
        "csv",
        "points are numbers; row 1, column 1 holds 'oops'",
    ),
    "points-rank-1": (
        lambda d: np.save(d / "x.npy", np.zeros(30, np.float32)),
        "npy",
        "points are an array [n, d] (rank 2), got shape (30,)",
    ),
    "points-not-finite": (
        lambda d: np.save(d / "x.npy", np.array([[0, 1], [np.nan, 2]] * 20, np.float32)),
        "npy",
        "point 1 is not finite ([nan, 2.0])",
    ),
    "images-float": (
        lambda d: np.savez(d / "x.npz", images=shapes(20)[0].astype(np.float32)),
        "npz",
        "images are uint8 (0-255), got dtype float32",
    ),
    "images-rank-5": (
        lambda d: np.savez(d / "x.npz", images=np.zeros((2, 2, 3, 4, 4), np.uint8)),
        "npz",
        "images are an array [n, H, W], [n, H, W, C] or [n, C, H, W]; got shape (2, 2, 3, 4, 4) (rank 5)",
    ),
    "images-4-channels": (
        lambda d: np.savez(d / "x.npz", images=np.zeros((20, 8, 8, 4), np.uint8)),
        "npz",
        "images have 1 or 3 channels",
    ),
    "label-count": (
        lambda d: np.savez(d / "x.npz", images=shapes(20)[0], labels=np.arange(19)),
        "npz",
        "20 images but 19 labels",
    ),
    "too-few-points": (
        lambda d: np.save(d / "x.npy", cloud(4, 2)),
        "npy",
        "holds 4 points, too few for a reference part of 0",
    ),
    "too-few-for-samples": (
        lambda d: np.save(d / "x.npy", cloud(100, 2)),
        "npy",
        "samples = 50 is more than the 20 reference points of x",
    ),
    "unlabelled": (
        lambda d: np.save(d / "x.npy", shapes(40)[0]),
        "npy",
        "x has no labels, and the classifier extractor trains on them",
    ),
    "mixed-folder": (lambda d: _folder(d / "x", [(8, "RGB"), (9, "RGB")]), "", "is 9 x 9 RGB, but"),
    "broken-image": (
        lambda d: (_folder(d / "x", [(8, "RGB")]), (d / "x" / "c0" / "bad.png").write_bytes(b"no")),
        "",
        "bad.png: cannot read it as an image",
    ),
}


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz(**arrays: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _folder(root: Path, sizes: list[tuple[int, str]]) -> None:
    (root / "c0").mkdir(parents=True, exist_ok=True)
    for i, (size, mode) in enumerate(sizes):
        Image.new(mode, (size, size)).save(root / "c0" / f"{i}.png")


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_file_is_one_clear_error_exit_2_and_nothing_written(case, tmp_path, monkeypatch, capsys):
    make, suffix, message = BAD[case]
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    make(data)
    path = f"data/x.{suffix}" if suffix else "data/x"
    if case == "missing":
        path = "data/x.csv"
    kind = "images" if suffix == "" or case.startswith(("images", "label", "unlabelled")) else "points"
    metrics = '["w2"]' if kind == "points" else '["fd"]'
    samples = 50 if case == "too-few-for-samples" else 5
    tracks = (f'[axes]\nmethods = ["iadb"]\ndatasets = ["x"]\nsolvers = ["euler"]\nsteps = [2]\n'
              f"[eval]\nsamples = {samples}\nmetrics = {metrics}\n")  # fmt: skip
    spec = write_spec(tmp_path, f'[datasets.x]\npath = "{path}"\n' + ('reference = 20\n' if samples == 50 else ""),
                      tracks)  # fmt: skip
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(["sweep", "--spec", str(spec), "--results", "results"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no results, no reports
    assert "x" not in DATASETS  # nothing registered either


def test_a_dataset_table_names_its_valid_keys_and_cannot_take_a_built_in_name(tmp_path):
    np.save(tmp_path / "c.npy", cloud(40, 2))
    with pytest.raises(DataFileError, match="unknown key 'paht'; valid keys: description, kind, path, reference, "):
        files.register("c", {"paht": "c.npy"}, tmp_path)
    with pytest.raises(DataFileError, match=r"dataset 'gauss-moons' already exists \(built-in\); choose another name"):
        files.register("gauss-moons", {"path": "c.npy"}, tmp_path)
    with pytest.raises(DataFileError, match="reference must be a positive integer, got 0"):
        files.register("c", {"path": "c.npy", "reference": 0}, tmp_path)
    first = files.register("c", {"path": "c.npy"}, tmp_path)
    assert files.register("c", {"path": str(tmp_path / "c.npy")}) is first  # the same table: registered once
    with pytest.raises(DataFileError, match="dataset 'c' already exists"):
        files.register("c", {"path": "c.npy", "split_seed": 3}, tmp_path)


# --- cifar10: torchvision's python batches under --data-root ---


def write_cifar(root: Path, per_batch: int, python2_keys: bool = True) -> np.ndarray:
    """Six batches in the CIFAR-10 python format (dicts with `data` [n, 3072] uint8 and `labels`);
    image i of the whole set has its batch index in pixel 0 and its number in pixel 1."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    everything = []
    for b, name in enumerate(images.CIFAR_FILES):
        data = np.zeros((per_batch, 3072), np.uint8)
        data[:, 0], data[:, 1] = b, np.arange(per_batch)
        key = (lambda k: k.encode()) if python2_keys else (lambda k: k)
        batch = {key("data"): data, key("labels"): [i % 10 for i in range(per_batch)], key("batch_label"): b"x"}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        everything.append(data.reshape(per_batch, 3, 32, 32))
    return np.concatenate(everything)


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "CIFAR_BATCH", 20)
    before = (images.SETTINGS.data_root, images.SETTINGS.download)
    images.configure(data_root=tmp_path, download=False)
    yield tmp_path
    images.configure(*before)
    images._CACHE.pop(("cifar10", tmp_path.resolve()), None)


@pytest.mark.parametrize("python2_keys", [True, False], ids=["bytes-keys", "str-keys"])
def test_cifar10_reads_its_python_batches_with_a_documented_split(cifar_root, python2_keys):
    everything = write_cifar(cifar_root, 20, python2_keys)
    s = images.load_splits("cifar10")
    assert (len(s.train), len(s.reference), len(s.heldout)) == (80, 20, 20) and s.shape == (3, 32, 32)
    # train: data_batch_1..4; held out: data_batch_5; reference: test_batch
    assert torch.equal(s.train, torch.from_numpy(everything[:80]))
    assert torch.equal(s.heldout, torch.from_numpy(everything[80:100]))
    assert torch.equal(s.reference, torch.from_numpy(everything[100:]))
    assert s.train_labels.tolist() == [i % 10 for i in range(20)] * 4 and s.classes == 10
    assert DATASETS.get("cifar10").dims == (3, 32, 32)


def test_cifar10_missing_or_foreign_files_are_one_line_and_no_pickle_code_runs(cifar_root, tmp_path):
    with pytest.raises(images.DataUnavailable, match="cifar10 is not on this machine: .* lacks data_batch_1, .* "
                       "pass --download"):  # fmt: skip
        images.load_splits("cifar10")
    write_cifar(cifar_root, 20)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (cifar_root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(images.DataUnavailable, match="test_batch is not a CIFAR-10 python batch .*is not allowed"):
        images.load_splits("cifar10")
    assert not marker.exists()
    write_cifar(tmp_path / "short", 19)
    images.configure(data_root=tmp_path / "short")
    with pytest.raises(images.DataUnavailable, match="expected 20 images in each of data_batch_1, .* found 19, 19"):
        images.load_splits("cifar10")
