"""Promises of README.md, docs/sweeps.md, docs/reliability.md and docs/output.md about one sweep,
checked on a tiny 2D sweep run through the command line (see docs/promises.md): every cell of a
seed starts from the same noise, the floor is the metric between two independent target draws,
`--no-plots` and `--no-figures` skip what they say, and what a run records about itself."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.data import DATASETS
from bench.evaluate import METRICS
from bench.run.sampling import draw_floor_sample, draw_heldout, draw_source
from bench.sweep import runner

SPEC = """
name = "promises"

[axes]
methods = ["iadb", "ddpm"]
datasets = ["gauss-moons"]
seeds = [0, 1]
solvers = ["euler", "rk45", "ddim"]
steps = [2]
tolerances = [1e-2]

[train]
steps = 20
batch_size = 64
width = 16
depth = 2
log_every = 10

[eval]
samples = 64

[figures]
chain_steps = [2, 4]
chain_starts = 4
chain_repeats = 2
field_pairs = 200
field_bins = 8
field_min_count = 5
paths = 8
"""
CELLS_PER_SEED = 2 + 3  # iadb: euler, rk45 (ddim is ddpm's own); ddpm: euler, rk45, ddim
SUMMARY_KEYS = {"trained", "loaded", "sampled", "skipped", "failed", "already_done", "references", "figures",
                "fd_references_computed", "fd_references_reused"}  # fmt: skip
COMMAND_KEYS = {"wall_seconds", "sweep_seconds", "report_seconds", "report_rebuilt", "did_work"}


def records(folder):
    return [json.loads(line) for line in (folder / "provenance.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three `sweep` commands on one folder: without report and figures (the source points each
    cell sampled from captured), with them, and again with nothing changed."""
    tmp = tmp_path_factory.mktemp("promises")
    spec, results, reports = tmp / "spec.toml", tmp / "results", tmp / "reports"
    spec.write_text(SPEC)
    argv = ["sweep", "--spec", str(spec), "--results", str(results), "--reports", str(reports)]
    started = []
    real_sample = runner.sample

    def capture(method, net, solver, x0, **kwargs):
        started.append((method.name, solver.name, x0.clone()))
        return real_sample(method, net, solver, x0, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "sample", capture)
        assert main([*argv, "--no-plots", "--no-figures"]) == 0
    folder = results / "promises"
    seen = {"bare": {"figures": (folder / "figures").exists(), "report": (reports / "promises").exists(),
                     "records": records(folder)}}  # fmt: skip
    assert main(argv) == 0
    seen["full"] = {"records": records(folder)}
    index = reports / "promises" / "index.html"
    stamp = {p: p.stat().st_mtime_ns for p in (reports / "promises").rglob("*") if p.is_file()}
    assert main(argv) == 0
    seen["again"] = {"records": records(folder), "report_unchanged": stamp == {
        p: p.stat().st_mtime_ns for p in (reports / "promises").rglob("*") if p.is_file()}}  # fmt: skip
    cells = pd.read_csv(folder / "cells.csv", keep_default_na=False, dtype=str)
    return {"folder": folder, "index": index, "started": started, "seen": seen, "cells": cells}


def test_every_cell_of_a_seed_starts_from_the_same_noise(tiny):
    """docs/images.md: sample i of every cell of a seed starts from the same noise, so samples
    compare across methods, solvers and step counts; the seeds draw different noise."""
    started = tiny["started"]
    assert len(started) == 2 * CELLS_PER_SEED
    distinct: list[torch.Tensor] = []
    uses = []
    for _, _, x0 in started:
        for i, known in enumerate(distinct):
            if torch.equal(known, x0):
                uses[i] += 1
                break
        else:
            distinct.append(x0)
            uses.append(1)
    assert uses == [CELLS_PER_SEED, CELLS_PER_SEED]  # one source per seed, shared by its cells
    dataset = DATASETS.get("gauss-moons")
    expected = [draw_source(dataset, seed, 64) for seed in (0, 1)]
    assert all(any(torch.equal(x, e) for e in expected) for x in distinct)


def test_rk45_rows_have_a_tolerance_and_no_steps(tiny):
    """docs/output.md: `steps` is empty for rk45, `tol` is for rk45 only."""
    cells = tiny["cells"]
    cells = cells[cells.method != runner.FLOOR_METHOD]
    rk45, fixed = cells[cells.solver == "rk45"], cells[cells.solver != "rk45"]
    assert len(rk45) and (rk45.steps == "").all() and (rk45.tol.astype(float) == 1e-2).all()
    assert len(fixed) and (fixed.tol == "").all() and (fixed.steps == "2").all()


def test_networks_are_checkpointed_once_per_group_by_train_key(tiny):
    """docs/sweeps.md: training runs once per (method, dataset, seed, recipe), checkpointed under
    results/<sweep>/checkpoints/<train_key>.pt, and every cell of the group reuses it."""
    cells = tiny["cells"]
    trained = cells[(cells.method != runner.FLOOR_METHOD) & (cells.status == "ok")]
    groups = trained.groupby(["method", "seed"]).train_key.nunique()
    assert len(groups) == 4 and (groups == 1).all()
    on_disk = {p.stem for p in (tiny["folder"] / "checkpoints").glob("*.pt")}
    assert on_disk == set(trained.train_key)
    first_run = tiny["seen"]["bare"]["records"][0]["summary"]
    assert first_run["trained"] == 4


def test_a_2d_floor_is_the_metric_between_two_independent_target_draws(tiny):
    """docs/sweeps.md: two independent draws of the same distribution are not at distance 0; each
    (dataset, seed) has its floor, the metric between the reference its cells are measured
    against and another draw of the target, written beside every value with the ratio."""
    cells = tiny["cells"]
    floors = cells[cells.method == runner.FLOOR_METHOD]
    dataset = DATASETS.get("gauss-moons")
    assert sorted(floors.seed.unique()) == ["0", "1"]
    for seed in (0, 1):
        reference, other = draw_heldout(dataset, seed, 64), draw_floor_sample(dataset, seed, 64)
        assert not torch.equal(reference, other)
        rows = floors[floors.seed == str(seed)].set_index("metric")
        assert set(rows.index) == {"w2", "energy"}
        for metric in ("w2", "energy"):
            value = float(rows.value[metric])
            assert value > 0 and value == pytest.approx(METRICS.get(metric).fn(other, reference), rel=1e-12)
            measured = cells[(cells.seed == str(seed)) & (cells.metric == metric) & (cells.status == "ok")
                             & (cells.method != runner.FLOOR_METHOD)]  # fmt: skip
            assert len(measured) and (measured.floor.astype(float) == value).all()
            ratio = measured.value.astype(float) / value
            assert (measured.vs_floor.astype(float) - ratio).abs().max() < 1e-12


def test_no_plots_skips_the_report_and_no_figures_the_figures(tiny):
    """docs/sweeps.md: `--no-plots` skips the report, `--no-figures` the post's figures; without
    them the same command builds both."""
    bare = tiny["seen"]["bare"]
    assert not bare["report"] and not bare["figures"]
    assert bare["records"][-1]["report_rebuilt"] is False
    assert tiny["index"].exists() and any((tiny["folder"] / "figures").glob("*.json"))
    assert tiny["seen"]["full"]["records"][-1]["report_rebuilt"] is True


def test_each_run_and_each_command_records_what_it_did(tiny):
    """docs/reliability.md, what a run records about itself: one record per run with its
    wall_seconds and summary, and one per `sweep` command with its timings, whether the report
    was rebuilt and whether it did any work; a rerun with nothing changed does none."""
    bare, again = tiny["seen"]["bare"]["records"], tiny["seen"]["again"]["records"]
    run, command = bare
    assert "record" not in run and run["wall_seconds"] > 0 and SUMMARY_KEYS <= set(run["summary"])
    assert (run["summary"]["sampled"], run["summary"]["skipped"]) == (2 * CELLS_PER_SEED, 2)  # iadb x ddim: skipped
    assert command["record"] == "command" and COMMAND_KEYS <= set(command) and command["did_work"] is True
    assert command["wall_seconds"] >= command["sweep_seconds"] > 0
    rerun, rerun_command = again[-2:]
    work = ("trained", "loaded", "sampled", "skipped", "failed", "references", "figures")
    assert all(rerun["summary"][k] == 0 for k in work) and rerun["summary"]["already_done"] > 0
    assert rerun_command["did_work"] is False and rerun_command["report_rebuilt"] is False
    assert tiny["seen"]["again"]["report_unchanged"]
