"""Parallel executors: the smoke sweep through a local process pool and through submitit's
local executor gives the CSV a serial run gives, apart from timings and run ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.run.spec import SpecError
from bench.store import faults
from bench.sweep.executors import Parallel

SPEC = """
name = "par"
[axes]
methods = "all"
datasets = ["gauss-moons", "triangle-square", "gauss-checkerboard"]
solvers = ["euler", "rk4", "rk45", "ancestral"]
steps = [2]
tolerances = [1e-2]
[train]
steps = 150  # each group long enough that every worker gets some: the test checks that it did
batch_size = 64
width = 16
depth = 2
log_every = 10
[eval]
samples = 64
"""
NOT_COMPARED = ["run_id", "train_seconds", "sample_seconds", "samples_per_second", "train_peak_mb", "sample_peak_mb"]


def sweep_csv(tmp: Path, *options: str) -> pd.DataFrame:
    spec = tmp / "par.toml"
    spec.write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    argv = [sys.executable, "-m", "bench", "--threads", "1", "sweep", "--spec", str(spec), "--results",
            str(tmp / "results"), "--no-plots", "--no-figures", *options]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    cells = pd.read_csv(tmp / "results" / "par" / "cells.csv", keep_default_na=False, dtype=str)
    cells.attrs["workers"] = cells.run_id[cells.method != "floor"].nunique()  # each process's sweep has its run id
    return cells.drop(columns=NOT_COMPARED).sort_values(["key", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> pd.DataFrame:
    return sweep_csv(tmp_path_factory.mktemp("serial"))


@pytest.mark.parametrize("executor", ["pool", "submitit-local"])
def test_a_parallel_sweep_writes_the_serial_runs_rows(executor, serial, tmp_path):
    found = sweep_csv(tmp_path, "--executor", executor, "--workers", "2", "--worker-threads", "1")
    assert len(found) == len(serial) > 100
    pd.testing.assert_frame_equal(found, serial)
    assert serial.attrs["workers"] == 1 and found.attrs["workers"] == 2  # both workers measured cells


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"executor": "mpi"}, "unknown executor 'mpi'; valid executors: serial, pool, submitit-local, slurm"),
        ({"executor": "pool", "workers": 0}, "--workers must be a positive integer"),
    ],
)
def test_bad_executor_options_name_the_valid_choices(options, message):
    with pytest.raises(SpecError, match=message):
        Parallel(**options)


def test_workers_share_the_cores_without_oversubscribing():
    cores = os.cpu_count() or 1
    assert Parallel("pool").worker_threads() * Parallel("pool").worker_count() <= max(cores, 1)
    assert Parallel("pool", workers=1).worker_threads() == cores


def test_the_slurm_options_reach_submitit(tmp_path, monkeypatch):
    """`--executor slurm` and its options, through the CLI, as submitit receives them (its
    executor replaced by a recorder: no cluster here); the caller then finishes the sweep."""
    import submitit

    from bench.cli import main
    from bench.sweep import runner

    seen = {}

    class Recorder:
        def __init__(self, folder, cluster):
            seen.update(folder=folder, cluster=cluster)

        def update_parameters(self, **options):
            seen["options"] = options

        def map_array(self, fn, *columns):
            seen["jobs"] = list(zip(*columns))
            return [type("Done", (), {"result": lambda self: runner.Summary()})() for _ in seen["jobs"]]

    monkeypatch.setattr(submitit, "AutoExecutor", Recorder)
    spec = tmp_path / "par.toml"
    spec.write_text(SPEC.replace('methods = "all"', 'methods = ["iadb"]').replace("steps = 150", "steps = 20"))
    argv = ["sweep", "--spec", str(spec), "--results", str(tmp_path / "results"), "--no-plots", "--no-figures",
            "--executor", "slurm", "--workers", "3", "--slurm-partition", "gpu", "--slurm-time", "30",
            "--slurm-gpus", "1", "--slurm-cpus", "8", "--slurm-mem-gb", "32"]  # fmt: skip
    assert main(argv) == 0
    assert seen["cluster"] == "slurm" and seen["folder"] == tmp_path / "results" / "par" / "_submitit"
    assert seen["options"] == {"name": "blendbench-par", "timeout_min": 30, "cpus_per_task": 8, "gpus_per_node": 1,
                               "mem_gb": 32, "slurm_partition": "gpu"}  # fmt: skip
    assert len(seen["jobs"]) == 3 and all(job[2] == 8 for job in seen["jobs"])  # 3 array jobs, 8 threads each
    cells = pd.read_csv(tmp_path / "results" / "par" / "cells.csv", keep_default_na=False)
    assert set(cells.status) <= {"ok", "skipped"} and (cells.method == "iadb").any()
