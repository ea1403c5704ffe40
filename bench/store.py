"""The results of a sweep on disk: an append-only long-format CSV, one row per cell and metric.

Each cell's rows are written with one `write` on a file opened for appending, so a row is
never interleaved with another cell's, and each row says how many rows its cell has
(`cell_rows`). When the store is opened, a trailing partial line left by a killed run is
cut off, the rows of a cell that was only partly written are removed (the file is rewritten
atomically), and that cell runs again.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import torch

FLOOR_METHOD = "floor"
"""The `method` of the reference rows: the metric of real data against the reference."""

CELL_COLUMNS = [
    "key", "train_key", "run_id", "method", "dataset", "seed", "solver", "steps", "tol", "nfe",
    "metric", "value", "value_sd", "floor", "vs_floor", "status", "reason", "n_samples", "extractor", "data_hash",
    "train_seconds", "sample_seconds",
    "samples_per_second", "train_peak_mb", "sample_peak_mb",
    "git_rev", "torch_version", "numpy_version", "python_version", "device", "threads", "config_hash",
    "cell_rows",
]  # fmt: skip
TRAIN_COLUMNS = ["train_key", "run_id", "method", "dataset", "seed", "step", "loss"]


class ResultsMismatch(ValueError):
    """An existing results file that this version cannot append to."""


class CsvLog:
    """An append-only CSV file with a fixed header."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        """Drop a trailing partial line, and write the header to a new or empty file."""
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.append([dict(zip(self.columns, self.columns))])
            return
        with open(self.path, newline="") as f:
            header = next(csv.reader(f))
        if header != self.columns:
            raise ResultsMismatch(
                f"{self.path} has other columns than this version of blendbench writes; "
                f"move it away or choose another results folder"
            )

    def rows(self) -> list[dict[str, str]]:
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the file's rows atomically (a temporary file, then rename)."""
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def append(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns, extrasaction="raise", lineterminator="\n")
        writer.writerows(rows)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, buffer.getvalue().encode())
            os.fsync(fd)
        finally:
            os.close(fd)


class ResultStore:
    """`results/<sweep>/`: cells.csv, training.csv, provenance.jsonl, checkpoints/ and grids/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cells = CsvLog(folder / "cells.csv", CELL_COLUMNS)
        self.training = CsvLog(folder / "training.csv", TRAIN_COLUMNS)
        self.done = self._complete_keys()
        self.trained = {row["train_key"] for row in self.training.rows()}

    def checkpoint(self, train_key: str) -> Path:
        return self.folder / "checkpoints" / f"{train_key}.pt"

    def grid(self, key: str) -> Path:
        """The first samples of an image cell, uint8 [k, c, h, w] (numpy .npy), for its sample grid."""
        return self.folder / "grids" / f"{key}.npy"

    def save_grid(self, key: str, images: torch.Tensor) -> None:
        path = self.grid(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.save(f, images.numpy())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def floor_values(self) -> dict[str, dict[str, float]]:
        """{floor cell key: {metric: value}} of the finished floor cells."""
        floors: dict[str, dict[str, float]] = {}
        for row in self.cells.rows():
            if row["method"] == FLOOR_METHOD and row["status"] == "ok":
                floors.setdefault(row["key"], {})[row["metric"]] = float(row["value"])
        return floors

    def _complete_keys(self) -> set[str]:
        """Keys of cells with all their rows; rows of partly written cells are removed."""
        rows = self.cells.rows()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["key"]] = counts.get(row["key"], 0) + 1
        complete = {row["key"] for row in rows if row["cell_rows"] == str(counts[row["key"]])}
        if len(complete) < len(counts):
            self.cells.rewrite([row for row in rows if row["key"] in complete])
        return complete

    def add_cell(self, rows: list[dict]) -> None:
        for row in rows:
            row["cell_rows"] = len(rows)
        self.cells.append(rows)
        self.done.update(row["key"] for row in rows)

    def log_training(self, meta: dict, run_id: str) -> None:
        """Append a checkpoint's loss curve to training.csv, once per training key."""
        if meta["train_key"] in self.trained:
            return
        fields = {k: meta[k] for k in ("train_key", "method", "dataset", "seed")}
        self.training.append([{**fields, "run_id": run_id, "step": s, "loss": v} for s, v in meta["losses"]])
        self.trained.add(meta["train_key"])

    def add_provenance(self, record: dict) -> None:
        fd = os.open(self.folder / "provenance.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
        finally:
            os.close(fd)
