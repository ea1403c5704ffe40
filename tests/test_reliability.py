"""Crash safety, concurrent sweeps, checkpoint integrity and batch-size independence.

The crash tests run real sweeps in subprocesses and kill them with SIGKILL at named points
(`bench.store.faults`): mid-training, mid-checkpoint, mid-sampling, mid-write. After each kill a
plain rerun must finish with every cell present exactly once, and with the same values, loss
curves and checkpoints as a sweep that was never interrupted (the runs are deterministic).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.data.datasets import DATASETS
from bench.nets.mlp import MLP
from bench.run.sampling import draw_noise, draw_source, sample
from bench.run.spec import parse_spec
from bench.run.training import read_checkpoint
from bench.solvers import SOLVERS
from bench.store import faults
from bench.store.files import TMP_SUFFIX
from bench.sweep import runner as sweep
from methods import METHODS

SPEC = """
name = "crash"
[axes]
methods = ["iadb", "ddpm"]
datasets = ["gauss-moons"]
solvers = ["euler", "rk45", "ancestral"]
steps = [2, 4]
tolerances = [1e-2]
[train]
steps = 40
batch_size = 64
width = 32
depth = 2
log_every = 10
[eval]
samples = 64
batch_size = 16
"""
# Cells: floor; iadb euler K2 K4, rk45, ancestral K2 K4 (skipped); ddpm euler K2 K4, rk45, ancestral K2 K4.
KILL_POINTS = [
    "train-step:5",  # first network, mid-training
    "train-step:45",  # second network, mid-training
    "checkpoint-tmp:1",  # checkpoint written, not yet renamed
    "checkpoint-tmp:2",
    "training-write:1",  # loss curve torn half-way
    "cells-write:1",  # the floor cell's row torn half-way
    "cells-write:4",  # a sampling cell's rows torn half-way
    "cell-added:3",  # right after a cell's rows were appended
    "sample-batch:2",  # mid-sampling, between batches
    "sample-batch:13",
    "measure:1",  # samples drawn, metrics not computed
    "measure:6",
    "provenance-write:1",  # the run's provenance record torn half-way
]
VALUE_COLUMNS = ["key", "metric", "method", "solver", "steps", "tol", "nfe", "value", "status", "reason", "cell_rows"]


def run_sweep(spec: Path, results: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if crash_at:
        env[faults.ENV] = crash_at
    argv = [sys.executable, "-m", "bench", "--threads", "1", "sweep", "--spec", str(spec), "--results", str(results),
            "--no-plots", "--no-figures"]  # fmt: skip
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def read_folder(folder: Path) -> dict:
    cells = pd.read_csv(folder / "cells.csv", keep_default_na=False, dtype=str)
    training = pd.read_csv(folder / "training.csv", keep_default_na=False, dtype=str)
    checkpoints = {}
    for path in sorted((folder / "checkpoints").glob("*.pt")):
        found = read_checkpoint(path)
        assert found is not None, f"{path} is damaged"
        checkpoints[path.name] = found[1]["weights_hash"]
    return {
        "cells": cells[VALUE_COLUMNS].sort_values(["key", "metric"]).reset_index(drop=True),
        "training": training[["train_key", "step", "loss"]].sort_values(["train_key", "step"]).reset_index(drop=True),
        "checkpoints": checkpoints,
    }


def check_whole(folder: Path) -> None:
    """Every cell's rows present exactly once; every file readable; no temporary file left behind."""
    cells = pd.read_csv(folder / "cells.csv", keep_default_na=False, dtype=str)
    assert not cells.duplicated(["key", "metric"]).any()
    counts = cells.groupby("key").size()
    assert (cells.cell_rows.astype(int) == cells.key.map(counts)).all()
    for line in (folder / "provenance.jsonl").read_text().splitlines():
        json.loads(line)
    assert not list(folder.rglob(f"*{TMP_SUFFIX}"))


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "crash.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def uninterrupted(spec_file, tmp_path_factory) -> dict:
    results = tmp_path_factory.mktemp("uninterrupted")
    done = run_sweep(spec_file, results)
    assert done.returncode == 0, done.stderr
    check_whole(results / "crash")
    return read_folder(results / "crash")


@pytest.mark.parametrize("crash_at", KILL_POINTS)
def test_a_sweep_killed_anywhere_then_rerun_is_whole_and_unchanged(crash_at, spec_file, uninterrupted, tmp_path):
    killed = run_sweep(spec_file, tmp_path, crash_at)
    assert killed.returncode == -signal.SIGKILL, f"{crash_at} never reached: {killed.stderr}"
    resumed = run_sweep(spec_file, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    folder = tmp_path / "crash"
    check_whole(folder)
    found = read_folder(folder)
    pd.testing.assert_frame_equal(found["cells"], uninterrupted["cells"])
    pd.testing.assert_frame_equal(found["training"], uninterrupted["training"])
    assert found["checkpoints"] == uninterrupted["checkpoints"]


def test_two_sweeps_at_once_on_one_folder_duplicate_and_corrupt_nothing(spec_file, uninterrupted, tmp_path):
    spec = spec_file.read_text().replace('methods = ["iadb", "ddpm"]', 'methods = ["iadb", "ddpm", "si-trig-simple"]')
    path = tmp_path / "three.toml"
    path.write_text(spec)
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    argv = [sys.executable, "-m", "bench", "--threads", "1", "sweep", "--spec", str(path), "--results",
            str(tmp_path), "--no-plots", "--no-figures"]  # fmt: skip
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    runs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    folder = tmp_path / "crash"
    check_whole(folder)
    found = read_folder(folder)
    shared = found["cells"][found["cells"].key.isin(uninterrupted["cells"].key)].reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, uninterrupted["cells"])
    assert found["cells"].key.nunique() == 1 + 3 * 5  # the floor + 5 cells per method, each once
    records = [json.loads(line) for line in (folder / "provenance.jsonl").read_text().splitlines()]
    summaries = [r["summary"] for r in records if "summary" in r]  # not the commands' own records
    assert len(summaries) == 2
    assert sum(s["trained"] for s in summaries) == 3  # no network trained twice
    assert sum(s["sampled"] + s["skipped"] for s in summaries) == 3 * 5  # no cell sampled twice


@pytest.mark.parametrize(("method", "solver"), [("iadb", "euler"), ("iadb", "rk4"), ("ddpm", "ancestral")])
def test_a_sample_does_not_depend_on_the_batch_it_was_drawn_in(method, solver):
    dataset = DATASETS.get("gauss-moons")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = MLP(dim=2, width=64, depth=3, time_freqs=8).eval()
    steps, n = 6, 64
    x0 = draw_source(dataset, 0, n)
    noise = draw_noise(dataset, 0, n, steps) if SOLVERS.get(solver).kind == "native" else None
    runs = {
        size: sample(METHODS.get(method), net, SOLVERS.get(solver), x0, steps=steps, noise=noise, batch_size=size)
        for size in (1, 7, 16, 32, 64)
    }
    assert {run.nfe for run in runs.values()} == {runs[64].nfe}
    # as docs/reliability.md says: batches of 16 or more rows are bitwise equal; smaller ones take
    # other matrix-product kernels and differ by float rounding (a few ulps)
    for size in (16, 32):
        torch.testing.assert_close(runs[size].x, runs[64].x, rtol=0, atol=0)
    for size in (1, 7):
        torch.testing.assert_close(runs[size].x, runs[64].x, rtol=2e-6, atol=1e-6)
    assert not torch.equal(x0, runs[64].x)  # it did integrate
    # and a prefix of the samples, drawn alone, is the same as in the full set
    x0_prefix, noise_prefix = draw_source(dataset, 0, 7), None if noise is None else draw_noise(dataset, 0, 7, steps)
    prefix = sample(METHODS.get(method), net, SOLVERS.get(solver), x0_prefix, steps=steps, noise=noise_prefix)
    torch.testing.assert_close(prefix.x, runs[7].x[:7], rtol=0, atol=0)


@pytest.mark.parametrize("damage", ["tensor-changed", "truncated", "garbage"])
def test_a_damaged_checkpoint_is_detected_by_its_hash_and_trained_again(damage, tmp_path, capsys):
    spec = parse_spec(SPEC.replace('methods = ["iadb", "ddpm"]', 'methods = ["iadb"]'), source="test")
    sweep.train_all(spec, tmp_path)
    (path,) = (tmp_path / "crash" / "checkpoints").glob("*.pt")
    state, meta = read_checkpoint(path)
    if damage == "tensor-changed":  # a bit flip in the weights: the file still loads, the hash tells
        blob = {"state_dict": {k: v.clone() for k, v in state.items()}, "meta": meta}
        first = next(iter(blob["state_dict"].values()))
        first.view(-1)[0] = torch.nextafter(first.view(-1)[0], torch.tensor(1.0))
        torch.save(blob, path)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(b"not a checkpoint")
    assert read_checkpoint(path) is None
    assert "is damaged" in capsys.readouterr().err
    summary = sweep.train_all(spec, tmp_path)
    assert (summary.trained, summary.loaded) == (1, 0)
    assert read_checkpoint(path)[1]["weights_hash"] == meta["weights_hash"]  # retrained to the same weights


def test_checkpoints_load_with_weights_only(tmp_path, monkeypatch):
    spec = parse_spec(SPEC.replace('methods = ["iadb", "ddpm"]', 'methods = ["iadb"]'), source="test")
    sweep.train_all(spec, tmp_path)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k.get("weights_only")) or real_load(*a, **k))
    assert sweep.train_all(spec, tmp_path).loaded == 1
    assert calls and all(flag is True for flag in calls)


IMAGE_SPEC = """
name = "crash"
[tracks.mnist.axes]
methods = ["iadb"]
datasets = ["mnist5k"]
solvers = ["euler"]
steps = [2, 4]
[tracks.mnist.train]
steps = 5
batch_size = 16
width = 8
depth = 2
patch = 2
log_every = 5
[tracks.mnist.eval]
samples = 100
grid = 16
batch_size = 50
"""


@pytest.fixture(scope="module")
def image_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "images.toml"
    path.write_text(IMAGE_SPEC)
    return path


def grids(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "grids").glob("*.npy"))}


@pytest.mark.parametrize("crash_at", ["features-tmp:1", "grid-tmp:2"])
def test_an_image_sweep_killed_while_caching_features_or_writing_a_grid(
    crash_at, image_spec, with_extractors, tmp_path_factory
):
    clean, crashed = (with_extractors(tmp_path_factory.mktemp(name)) for name in ("clean", "crashed"))
    assert run_sweep(image_spec, clean).returncode == 0
    killed = run_sweep(image_spec, crashed, crash_at)
    assert killed.returncode == -signal.SIGKILL, f"{crash_at} never reached: {killed.stderr}"
    resumed = run_sweep(image_spec, crashed)
    assert resumed.returncode == 0, resumed.stderr
    check_whole(crashed / "crash")
    assert not list((crashed / "_fidelity_cache").rglob(f"*{TMP_SUFFIX}"))
    expected, found = read_folder(clean / "crash"), read_folder(crashed / "crash")
    pd.testing.assert_frame_equal(found["cells"], expected["cells"])
    assert found["checkpoints"] == expected["checkpoints"]
    assert grids(crashed / "crash") == grids(clean / "crash") and len(grids(clean / "crash")) == 2
