"""The results of a sweep on disk: an append-only long-format CSV, one row per cell and metric.

Each cell's rows are written with one `write` on a file opened for appending, so a row is
never interleaved with another cell's, and each row says how many rows its cell has
(`cell_rows`). When the store is opened, a trailing partial line left by a killed run is
cut off, the rows of a cell that was only partly written are removed (the file is rewritten
atomically), and that cell runs again.

Several processes may share a results folder. Every read-check-write of the CSV files
happens under the folder's lock (`flock` on `.lock`), so a cell finished by one process is
never appended again by another; `claim` lets a process hold one training group (its
training and sampling) while the others work on other groups.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from bench.store import faults
from bench.store.files import remove_stale_temporaries, write_atomically

FLOOR_METHOD = "floor"
"""The `method` of the reference rows: the metric of real data against the reference."""

CELL_COLUMNS = [
    "key", "train_key", "config_key", "run_id", "method", "dataset", "seed", "solver", "steps", "tol", "nfe",
    "metric", "value", "value_sd", "floor", "vs_floor", "status", "reason", "n_samples", "extractor", "data_hash",
    "train_seconds", "sample_seconds",
    "samples_per_second", "train_peak_mb", "sample_peak_mb",
    "git_rev", "torch_version", "numpy_version", "python_version", "device", "threads", "config_hash",
    "method_origin", "method_code", "solver_origin", "solver_code", "dataset_origin", "dataset_code", "net_code",
    "harness_code",
    "cell_rows", "weights", "net", "net_origin",
]  # fmt: skip
"""`key` hashes everything a cell depends on, code included; `config_key` only what the sweep file
asks for (bench.sweep.keys). Rows of another version of the code for the same configuration
are moved to superseded.csv (`ResultStore.supersede`)."""
CODE_COLUMNS = ["config_key", "method_origin", "method_code", "solver_origin", "solver_code", "dataset_origin",
                "dataset_code", "net_code", "harness_code"]  # fmt: skip
"""The columns added when keys began to hold the code: a cells.csv written before has every other
column, in this order, and is rewritten with these blank when a new version opens it."""
NET_COLUMNS = ["weights", "net", "net_origin"]
"""The columns added with network factories and plugins: a network trained elsewhere (`python -m
bench evaluate`), and the factory that built the network, with its origin."""
EARLIER_CELL_COLUMNS = ([c for c in CELL_COLUMNS if c not in [*CODE_COLUMNS, *NET_COLUMNS]],
                        [c for c in CELL_COLUMNS if c not in NET_COLUMNS])  # fmt: skip
"""The layouts of cells.csv (and superseded.csv) written by earlier versions: before keys held the
code, and before NET_COLUMNS."""
TRAIN_COLUMNS = ["train_key", "run_id", "method", "dataset", "seed", "step", "loss"]


class ResultsMismatch(ValueError):
    """An existing results file that this version cannot append to."""


class CsvLog:
    """An append-only CSV file with a fixed header."""

    def __init__(self, path: Path, columns: list[str], earlier: tuple[list[str], ...] = ()) -> None:
        """earlier: the headers of older versions of the file, which are rewritten to `columns`."""
        self.path, self.columns, self.earlier = path, columns, earlier
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        """Drop a trailing partial line, and write the header to a new or empty file."""
        cut_partial_line(self.path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.append([dict(zip(self.columns, self.columns))])
            return
        with open(self.path, newline="") as f:
            header = next(csv.reader(f))
        if header == self.columns:
            return
        if header not in self.earlier:
            raise ResultsMismatch(
                f"{self.path} has other columns than this version of blendbench writes; "
                f"move it away or choose another results folder"
            )
        # written by an older version, before some columns existed: the same rows, those blank
        self.rewrite([{column: row.get(column) or "" for column in self.columns} for row in self.rows()])

    def rows(self) -> list[dict[str, str]]:
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the file's rows atomically (a temporary file, then rename)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_atomically(self.path, buffer.getvalue().encode())

    def append(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, extrasaction="raise", lineterminator="\n")
        writer.writerows(rows)
        append_bytes(self.path, buffer.getvalue().encode(), f"{self.path.stem}-write")


def append_bytes(path: Path, data: bytes, crash_point: str) -> None:
    """Append with one `write` on a freshly opened descriptor (never one that a rename made stale), then fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if faults.due(crash_point):  # the tests' torn write: half the bytes, then the process dies
            os.write(fd, data[: len(data) // 2])
            faults.die()
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def cut_partial_line(path: Path) -> None:
    """Truncate a file after its last newline (a killed append may leave a partial line)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class ResultStore:
    """`results/<sweep>/`: cells.csv, superseded.csv, training.csv, provenance.jsonl, checkpoints/ and grids/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        with self.locked():
            remove_stale_temporaries(folder)
            cut_partial_line(folder / "provenance.jsonl")
            self.cells = CsvLog(folder / "cells.csv", CELL_COLUMNS, EARLIER_CELL_COLUMNS)
            self.superseded = CsvLog(folder / "superseded.csv", CELL_COLUMNS, EARLIER_CELL_COLUMNS)
            self.training = CsvLog(folder / "training.csv", TRAIN_COLUMNS)
            self._index = CellIndex(self.cells.path)
            self.done = self._complete_keys()
            self.trained = self._training_rows()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock: no other process reads-then-writes the CSV files meanwhile."""
        with _flock(self.folder / ".lock"):
            yield

    @contextlib.contextmanager
    def claim(self, key: str, wait: bool = True) -> Iterator[bool]:
        """Hold the lock of one training group (`locks/<key>.lock`); yields False if `wait` is
        False and another process holds it. Call `refresh` after claiming."""
        with _flock(self.folder / "locks" / f"{key}.lock", wait) as got:
            yield got

    def refresh(self) -> None:
        """Re-read which cells and loss curves are on disk (another process may have added some)."""
        with self.locked():
            self.done = self._complete_keys()
            self.trained = self._training_rows()

    def checkpoint(self, train_key: str) -> Path:
        return self.folder / "checkpoints" / f"{train_key}.pt"

    def grid(self, key: str) -> Path:
        """The first samples of an image cell, uint8 [k, c, h, w] (numpy .npy), for its sample grid."""
        return self.folder / "grids" / f"{key}.npy"

    def save_grid(self, key: str, images: torch.Tensor) -> None:
        buffer = io.BytesIO()
        np.save(buffer, images.numpy())
        write_atomically(self.grid(key), buffer.getvalue(), "grid-tmp")

    def floor_values(self) -> dict[str, dict[str, float]]:
        """{floor cell key: {metric: value}} of the finished floor cells."""
        floors: dict[str, dict[str, float]] = {}
        for row in self.cells.rows():
            if row["method"] == FLOOR_METHOD and row["status"] == "ok":
                floors.setdefault(row["key"], {})[row["metric"]] = float(row["value"])
        return floors

    def _complete_keys(self) -> set[str]:
        """Keys of cells with all their rows; rows of partly written cells are removed. Call
        under the lock. Reads only what was appended since the last call, unless the file was
        replaced or something in it is partial: then it reads (and repairs) the whole file."""
        complete = self._index.update()
        if complete is not None:
            return complete
        rows = self.cells.rows()
        complete = complete_keys(rows)
        if len(complete) < len({row["key"] for row in rows}):
            self.cells.rewrite([row for row in rows if row["key"] in complete])
        self._index.reset()
        return self._index.update() or complete

    def _training_rows(self) -> dict[str, int]:
        """{train_key: number of loss-curve rows in training.csv}."""
        counts: dict[str, int] = {}
        for row in self.training.rows():
            counts[row["train_key"]] = counts.get(row["train_key"], 0) + 1
        return counts

    def add_cell(self, rows: list[dict]) -> bool:
        """Append one cell's rows; False (and nothing written) if another process already did."""
        key = rows[0]["key"]
        assert all(row["key"] == key for row in rows), "one cell per call"
        for row in rows:
            row["cell_rows"] = len(rows)
        with self.locked():
            self.done = self._complete_keys()  # also drops the rows another process's crash left half-written
            if key in self.done:
                return False
            self.cells.append(rows)
            self.done = self._complete_keys()  # reads back just the rows appended
        faults.crash_point("cell-added")
        return True

    def supersede(self, current: Mapping[str, str]) -> None:
        """Keep in cells.csv only the current code's rows of each planned configuration.

        current: {config_key: key} of the planned cells. A complete cell whose configuration is
        planned under another key (rows of other code; a row written before code counted has
        its configuration key as key) moves to superseded.csv, and a complete cell there whose
        key is current again (the code was changed back) moves back, so it is not recomputed.
        Nothing is deleted. The writes go superseded.csv (with the rows that leave), cells.csv,
        superseded.csv (without the rows that came back): a crash between two of them leaves
        rows in both files, never in neither, and the next call finishes the move.
        """
        with self.locked():
            rows = self.cells.rows()
            old = self.superseded.rows()
            here, there = complete_keys(rows), complete_keys(old)

            def planned(row: dict[str, str]) -> str | None:
                return current.get(row["config_key"] or row["key"])

            leaving = {r["key"] for r in rows if r["key"] in here and planned(r) not in (None, r["key"])}
            back = {r["key"] for r in old if r["key"] in there and r["key"] not in here and planned(r) == r["key"]}
            staying = here - leaving
            if not leaving and not back and not any(r["key"] in staying for r in old):
                return
            seen = {tuple(r.values()) for r in old}
            moved = [r for r in rows if r["key"] in leaving and tuple(r.values()) not in seen]
            if moved:
                self.superseded.rewrite(old + moved)
            kept = [r for r in rows if r["key"] not in leaving]
            if leaving or back:
                self.cells.rewrite(kept + [r for r in old if r["key"] in back])
            self.superseded.rewrite([r for r in old + moved if r["key"] not in back and r["key"] not in staying])
            self.done = self._complete_keys()

    def log_training(self, meta: dict, run_id: str) -> None:
        """Append a checkpoint's loss curve to training.csv, once per training key.

        A curve cut short by a killed write is removed and written again whole.
        """
        key, losses = meta["train_key"], meta["losses"]
        with self.locked():
            self.trained = self._training_rows()
            if self.trained.get(key, 0) == len(losses):
                return
            if key in self.trained:
                self.training.rewrite([row for row in self.training.rows() if row["train_key"] != key])
            fields = {k: meta[k] for k in ("train_key", "method", "dataset", "seed")}
            self.training.append([{**fields, "run_id": run_id, "step": s, "loss": v} for s, v in losses])
            self.trained[key] = len(losses)

    def add_provenance(self, record: dict) -> None:
        with self.locked():
            append_bytes(self.folder / "provenance.jsonl", (json.dumps(record, sort_keys=True) + "\n").encode(),
                         "provenance-write")  # fmt: skip


class CellIndex:
    """Which cells of cells.csv are complete, kept up to date by reading only appended bytes.

    A sweep appends one cell at a time and checks, under the lock, which cells are on disk
    before each append; re-reading the whole file each time would make a sweep quadratic in
    its cells. `update` parses what was appended since the last call. It gives up (returns
    None, and the caller reads the whole file) when the file was replaced (another inode, or
    shorter), when the new bytes end in a partial line, or when a cell has fewer rows than its
    `cell_rows`: the cases the full read repairs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reset()

    def reset(self) -> None:
        self._inode: int | None = None
        self._offset = 0
        self._counts: dict[str, int] = {}
        self._expected: dict[str, str] = {}

    def update(self) -> set[str] | None:
        stat = self.path.stat()
        if self._inode is not None and (stat.st_ino != self._inode or stat.st_size < self._offset):
            self.reset()
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        if data and not data.endswith(b"\n"):
            self.reset()
            return None
        reader = csv.reader(io.StringIO(data.decode(), newline=""))
        if self._inode is None:
            columns = next(reader, None)
            if columns is None:
                return set()
            self._columns = columns
        key_at, rows_at = self._columns.index("key"), self._columns.index("cell_rows")
        for fields in reader:
            if len(fields) != len(self._columns):
                self.reset()
                return None
            key = fields[key_at]
            self._counts[key] = self._counts.get(key, 0) + 1
            self._expected[key] = fields[rows_at]
        self._inode, self._offset = stat.st_ino, self._offset + len(data)
        complete = {key for key, count in self._counts.items() if self._expected[key] == str(count)}
        if len(complete) < len(self._counts):
            self.reset()
            return None
        return complete


def complete_keys(rows: list[dict[str, str]]) -> set[str]:
    """Keys whose rows are all present: as many rows as each row's `cell_rows` says."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["key"]] = counts.get(row["key"], 0) + 1
    return {row["key"] for row in rows if row["cell_rows"] == str(counts[row["key"]])}


@contextlib.contextmanager
def _flock(path: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive `flock` on `path` (created if missing), released on exit or when the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
