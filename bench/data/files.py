"""Datasets read from files: point clouds and image sets, named in a sweep file.

A sweep file declares each one in a `[datasets.<name>]` table (paths relative to the file):

    [datasets.my-cloud]
    path = "cloud.csv"        # .npy, .npz, .csv or .parquet: points [n, d]
    source = "normal"         # the default: a standard normal of d dimensions; or a file of points [m, d]
    reference = 1000          # optional: the size of each fixed part (default n // 5, at most 10,000)

    [datasets.my-shapes]
    path = "shapes.npz"       # .npz / .npy uint8 [n, H, W], [n, H, W, C] or [n, C, H, W], C = 1 or 3,
                              # labels in the .npz as `labels` (or `y`); or a folder of class folders

Each file is split once, by a permutation seeded by `split_seed` (default 0): its first
`reference` rows are the reference part (what every cell is measured against), the next
`reference` the held-out part (the floor's second sample, never trained on) and the rest the
training part. The split and the file's content are hashed together (`Dataset.content_hash`,
and for images `ImageSplits.content_hash`, the `data_hash` of every row), so an edited file is a
new dataset to every cache key. A file that cannot be used raises `DataFileError`, one line
naming the file and the problem; a sweep file's reader turns it into a `SpecError` (exit 2)
before anything is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from bench.data import images
from bench.data.datasets import DATASETS, Dataset, image_dataset, standard_normal_log_prob

__all__ = ["DataFileError", "KEYS", "POINT_SUFFIXES", "IMAGE_SUFFIXES", "read_images", "read_points", "register",
           "restore", "state"]  # fmt: skip

POINT_SUFFIXES = (".npy", ".npz", ".csv", ".parquet")
IMAGE_SUFFIXES = (".npy", ".npz")
"""Image arrays; an image folder (one subfolder per class, as torchvision's ImageFolder) too."""
FOLDER_IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
KEYS = {"path", "source", "reference", "split_seed", "kind", "description"}
MAX_REFERENCE = 10_000
"""The default part size is n // 5, capped here (the full MNIST sets' 10,000)."""

_LOADED: dict[str, str] = {}
"""name -> the canonical table (resolved paths) it was registered from, in this process."""


class DataFileError(ValueError):
    """A data file that cannot be used: the message names the file and the problem."""


# --- reading ---


def _load_array(path: Path, prefer: tuple[str, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The array of a .npy, or the `prefer`red (or only) array of a .npz, and the .npz's other arrays."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # a .npy
            return loaded, {}
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except Exception as err:  # truncated, not a zip, an object array: all mean "unreadable"
        raise DataFileError(f"{path}: cannot read it as {path.suffix} ({_first_line(err)})") from None
    key = next((k for k in prefer if k in arrays), None)
    if key is None and len(arrays) == 1:
        (key,) = arrays
    if key is None:
        raise DataFileError(f"{path}: holds arrays {', '.join(sorted(arrays)) or '(none)'}; name the data "
                            f"{' or '.join(repr(k) for k in prefer)}, or keep a single array")  # fmt: skip
    return arrays.pop(key), arrays


def _first_line(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]


def _missing(path: Path, what: str, valid: tuple[str, ...]) -> None:
    if not path.exists():
        raise DataFileError(f"{path}: no such file")
    if path.is_file() and path.suffix.lower() not in valid:
        raise DataFileError(f"{path}: {what} are read from {', '.join(valid)} files, got {path.suffix or 'no suffix'}")


def read_points(path: Path) -> np.ndarray:
    """Points [n, d] as float32 from a .npy, .npz (`points`, `x` or its only array), .csv (numbers,
    a header line allowed) or .parquet (numeric columns) file."""
    path = Path(path)
    _missing(path, "points", POINT_SUFFIXES)
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder; points are read from {', '.join(POINT_SUFFIXES)} files")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        array, _ = _load_array(path, ("points", "x"))
    else:
        array = _read_table(path, suffix)
    if array.ndim != 2:
        raise DataFileError(f"{path}: points are an array [n, d] (rank 2), got shape {tuple(array.shape)}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise DataFileError(f"{path}: points are numbers (a float or int array), got dtype {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataFileError(f"{path}: holds no points (shape {tuple(array.shape)})")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array).all(1))[0])
        raise DataFileError(f"{path}: point {row} is not finite ({array[row].tolist()})")
    return array


def _read_table(path: Path, suffix: str) -> np.ndarray:
    try:
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, header=None, dtype=str, skip_blank_lines=True)
            first = pd.to_numeric(table.iloc[0], errors="coerce") if len(table) else None
            if first is not None and first.isna().all():  # a header line of column names
                table = table.iloc[1:]
    except ImportError as err:
        raise DataFileError(f"{path}: reading .parquet needs pyarrow ({_first_line(err)})") from None
    except Exception as err:  # pandas' parser errors, an empty file, a damaged parquet file
        raise DataFileError(f"{path}: cannot read it as {suffix} ({_first_line(err)})") from None
    numbers = table.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna() & table.notna() if suffix == ".csv" else numbers.isna() & ~table.isna()
    if suffix == ".parquet":
        kinds = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        if kinds:
            raise DataFileError(f"{path}: points are numbers; column {kinds[0]!r} has dtype {table[kinds[0]].dtype}")
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise DataFileError(f"{path}: points are numbers; row {row}, column {col} holds {table.iat[row, col]!r}")
    if numbers.isna().to_numpy().any():
        row = int(np.flatnonzero(numbers.isna().to_numpy().any(1))[0])
        raise DataFileError(f"{path}: row {row} has {int(numbers.iloc[row].notna().sum())} of {table.shape[1]} values")
    return numbers.to_numpy(dtype=np.float64)


def read_images(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 images [n, c, h, w] (c = 1 or 3) and int64 labels [n] (None when the set has none),
    from a .npz (`images` or `x`, labels `labels` or `y`), a .npy, or a folder with one subfolder
    of images per class (the classes in sorted order, as torchvision's ImageFolder)."""
    path = Path(path)
    _missing(path, "image arrays", IMAGE_SUFFIXES)
    if path.is_dir():
        return _read_folder(path)
    array, others = _load_array(path, ("images", "x"))
    label_key = next((k for k in ("labels", "y") if k in others), None)
    labels = others[label_key] if label_key else None
    if array.dtype != np.uint8:
        raise DataFileError(f"{path}: images are uint8 (0-255), got dtype {array.dtype}")
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        if array.shape[1] in (1, 3):
            pass  # [n, C, H, W]
        elif array.shape[3] in (1, 3):
            array = array.transpose(0, 3, 1, 2)  # [n, H, W, C]
        else:
            raise DataFileError(f"{path}: images have 1 or 3 channels, as [n, C, H, W] or [n, H, W, C]; "
                                f"got shape {tuple(array.shape)}")  # fmt: skip
    else:
        raise DataFileError(f"{path}: images are an array [n, H, W], [n, H, W, C] or [n, C, H, W]; "
                            f"got shape {tuple(array.shape)} (rank {array.ndim})")  # fmt: skip
    if len(array) == 0:
        raise DataFileError(f"{path}: holds no images")
    if labels is not None:
        labels = _check_labels(path, labels, len(array))
    return np.ascontiguousarray(array), labels


def _check_labels(path: Path, labels: np.ndarray, n: int) -> np.ndarray:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataFileError(f"{path}: labels are integers [n], got dtype {labels.dtype} shape {tuple(labels.shape)}")
    if len(labels) != n:
        raise DataFileError(f"{path}: {n} images but {len(labels)} labels")
    # classes renumbered 0 .. k-1 in sorted order of the labels the file holds
    return np.unique(labels, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _read_folder(path: Path) -> tuple[np.ndarray, np.ndarray]:
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataFileError(f"{path}: an image folder holds one subfolder of images per class; found none")
    pictures, labels, size = [], [], None
    for label, folder in enumerate(classes):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in FOLDER_IMAGES)
        if not files:
            raise DataFileError(f"{folder}: class folder {folder.name!r} holds no images ({', '.join(FOLDER_IMAGES)})")
        for file in files:
            try:
                with Image.open(file) as image:
                    mode = "L" if image.mode in ("1", "L", "LA", "I;16") else "RGB"
                    array = np.asarray(image.convert(mode))
            except (UnidentifiedImageError, OSError) as err:
                raise DataFileError(f"{file}: cannot read it as an image ({_first_line(err)})") from None
            array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
            if size is None:
                size, first = array.shape, file
            elif array.shape != size:
                raise DataFileError(f"{file}: is {_shape(array.shape)}, but {first} is {_shape(size)}; every "
                                    "image of a set has one size and channel count")  # fmt: skip
            pictures.append(array)
            labels.append(label)
    return np.stack(pictures), np.asarray(labels, dtype=np.int64)


def _shape(shape: tuple[int, ...]) -> str:
    c, h, w = shape
    return f"{w} x {h} {'grey' if c == 1 else 'RGB'}"


# --- splitting and registering ---


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return h.hexdigest()


def split(n: int, reference: int | None, seed: int, what: str, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of the (reference, heldout, train) parts of n rows: a permutation seeded by
    `seed`, its first `reference`, the next `reference`, the rest."""
    if reference is None:
        reference = min(n // 5, MAX_REFERENCE)
    if n < 3 or not 1 <= reference <= (n - 1) // 2:
        most = (n - 1) // 2
        raise DataFileError(
            f"{where}: holds {n} {what}, too few for a reference part of {reference}, a held-out part of "
            f"{reference} and at least one to train on; "
            + (f"valid: reference = 1 to {most}" if most >= 1 else f"a dataset needs at least 3 {what}")
        )
    order = np.random.default_rng(seed).permutation(n)
    return order[:reference], order[reference : 2 * reference], order[2 * reference :]


def _check_table(name: str, table: dict, where: str) -> None:
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise DataFileError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(KEYS))}")
    if not isinstance(table.get("path"), str) or not table["path"]:
        raise DataFileError(f"{where}: 'path' (the data file or folder, relative to the sweep file) is required")
    for key in ("reference", "split_seed"):
        value = table.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < (key == "reference")
        ):
            low = "positive" if key == "reference" else "non-negative"
            raise DataFileError(f"{where}: {key} must be a {low} integer, got {value!r}")
    if table.get("kind", "points") not in ("points", "images"):
        raise DataFileError(f"{where}: kind must be 'points' or 'images', got {table['kind']!r}")
    if not isinstance(table.get("source", "normal"), str):
        raise DataFileError(f"{where}: source must be 'normal' or a file of points, got {table['source']!r}")
    if not (name and name == name.lower() and all(c.isalnum() or c in "-_" for c in name)):
        raise DataFileError(f"{where}: a dataset name is lowercase letters, digits, '-' or '_', got {name!r}")


def _resolved(table: dict, base: Path | None) -> dict:
    """The table with its paths made absolute (relative to `base`, the sweep file's folder)."""

    def absolute(text: str) -> str:
        p = Path(text).expanduser()
        return str((p if p.is_absolute() else (base or Path.cwd()) / p).resolve())

    out = dict(table)
    out["path"] = absolute(table["path"])
    if table.get("source", "normal") != "normal":
        out["source"] = absolute(table["source"])
    return out


def _kind(path: Path, table: dict) -> str:
    if "kind" in table:
        return table["kind"]
    if path.is_dir():
        return "images"
    if path.suffix.lower() in (".npy", ".npz") and path.is_file():
        array, _ = _load_array(path, ("images", "x", "points"))
        return "images" if array.ndim >= 3 else "points"
    return "points"


def register(name: str, table: dict, base: Path | None = None, where: str | None = None) -> Dataset:
    """Read `table`'s file(s), split them, and register the dataset `name` (or return the one
    registered from the same table in this process). Raises DataFileError."""
    where = where or f"[datasets.{name}]"
    _check_table(name, table, where)
    table = _resolved(table, base)
    canonical = json.dumps(table, sort_keys=True)
    if name in DATASETS:
        if _LOADED.get(name) == canonical:
            return DATASETS.get(name)
        raise DataFileError(f"{where}: dataset {name!r} already exists ({DATASETS.origin(name)}); choose another name")
    path = Path(table["path"])
    _missing(path, "data files (an image set may also be a folder)", POINT_SUFFIXES)
    kind = _kind(path, table)
    if kind == "images":
        dataset = _image_dataset(name, path, table, where)
    else:
        dataset = _point_dataset(name, path, table, where)
    DATASETS.add(name, dataset, origin=f"file {path}")
    _LOADED[name] = canonical
    return dataset


def _point_dataset(name: str, path: Path, table: dict, where: str) -> Dataset:
    points = read_points(path)
    seed, reference = table.get("split_seed", 0), table.get("reference")
    parts = split(len(points), reference, seed, "points", f"{where} {path}")
    ref, held, train = (torch.from_numpy(points[idx]) for idx in parts)
    fixed_parts = {"reference": ref, "heldout": held}
    d = points.shape[1]
    source_name = table.get("source", "normal")
    if source_name == "normal":
        source_points = None
        content = _digest(points, seed, len(ref), "normal")
    else:
        source_points = torch.from_numpy(read_points(Path(source_name)))
        if source_points.shape[1] != d:
            raise DataFileError(f"{where}: source {source_name} has points of {source_points.shape[1]} dimensions, "
                                f"the data {path} of {d}; they must match")  # fmt: skip
        content = _digest(points, seed, len(ref), source_points.numpy())

    def target(n: int, g: torch.Generator) -> Tensor:
        """Rows of the training part, drawn with replacement."""
        return train[torch.randint(len(train), (n,), generator=g)]

    def fixed(part: str) -> Tensor:
        return fixed_parts[part]

    if source_points is None:

        def source(n: int, g: torch.Generator) -> Tensor:
            return torch.randn(n, d, generator=g)

        log_prob = standard_normal_log_prob
    else:

        def source(n: int, g: torch.Generator) -> Tensor:
            """Rows of the source file, drawn with replacement."""
            return source_points[torch.randint(len(source_points), (n,), generator=g)]

        log_prob = None
    description = table.get("description") or (
        f"{'standard normal' if source_points is None else Path(source_name).name} -> {path.name} "
        f"({len(points)} points in {d}-D: {len(train)} train / {len(ref)} reference / {len(held)} held out)"
    )
    return Dataset(name, source, target, source_points is None, description, (d,), "points", len(ref),
                   source_log_prob=log_prob, fixed=fixed, content_hash=content)  # fmt: skip


def _image_dataset(name: str, path: Path, table: dict, where: str) -> Dataset:
    if table.get("source", "normal") != "normal":
        raise DataFileError(f"{where}: an image set's source is Gaussian noise ('normal'), got {table['source']!r}")
    pictures, labels = read_images(path)
    seed, reference = table.get("split_seed", 0), table.get("reference")
    parts = split(len(pictures), reference, seed, "images", f"{where} {path}")
    labelled = labels is not None
    labels = labels if labelled else np.zeros(len(pictures), dtype=np.int64)
    shape = tuple(int(v) for v in pictures.shape[1:])
    # the parts in the order ImageSplits holds them: train, reference, heldout
    splits = images._splits(name, [(pictures[idx], labels[idx]) for idx in (parts[2], parts[0], parts[1])], shape,
                            labelled)  # fmt: skip
    splits = dataclasses.replace(splits, content_hash=_digest(splits.content_hash, seed))
    images.LOADERS[name] = lambda: splits
    description = table.get("description") or (
        f"noise -> {path.name} ({len(pictures)} images {_shape(shape)}, "
        f"{splits.classes if labelled else 'no'} classes: {len(parts[2])} train / {len(parts[0])} reference / "
        f"{len(parts[1])} held out)"
    )
    return image_dataset(name, len(parts[0]), description, shape, content_hash=splits.content_hash, labelled=labelled)


def state() -> tuple[tuple[str, str], ...]:
    """The datasets this process registered from files, for a worker to register the same."""
    return tuple(_LOADED.items())


def restore(loaded: tuple[tuple[str, str], ...]) -> None:
    """In a worker: register what `state()` returned in the process that started it."""
    for name, canonical in loaded:
        register(name, json.loads(canonical))


def forget(names: set[str] | None = None) -> None:
    """Drop the record of datasets registered from files (for tests, with the registry restored)."""
    for name in list(_LOADED) if names is None else names:
        _LOADED.pop(name, None)
        images.LOADERS.pop(name, None)
        for key in [k for k in images._CACHE if k[0] == name]:
            del images._CACHE[key]
