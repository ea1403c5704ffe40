"""The sweep runner end to end on the smoke profile: the smoke matrix, reruns, determinism."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from bench.data.datasets import DATASETS
from bench.run.spec import load_profile
from bench.solvers import SOLVERS
from bench.store.results import ResultStore
from bench.sweep import runner as sweep
from methods import METHODS

SMOKE = load_profile("smoke")
PER_STEP = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4, "ancestral": 1, "ddim": 1,
            **{name: 1 for name in SOLVERS.names() if name.startswith("em-")}}  # fmt: skip


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, with_extractors):
    root = with_extractors(tmp_path_factory.mktemp("results"))
    summary = sweep.run(SMOKE, root, progress=False)
    return root, summary, pd.read_csv(root / "smoke" / "cells.csv", keep_default_na=False)


def expected_status(method: str, dataset: str, solver: str) -> str:
    m, d, s = METHODS.get(method), DATASETS.get(dataset), SOLVERS.get(solver)
    if m.needs_gaussian_source and not d.gaussian_source:
        return "skipped"
    if s.kind == "native" and solver not in m.native_samplers:
        return "skipped"
    if getattr(m, "needs_mixture", False) and d.mixture is None:  # the exact fields: Gaussian-mixture targets only
        return "skipped"
    return "ok"


def test_smoke_matrix_every_method_and_applicable_solver(smoke_run):
    _, summary, cells = smoke_run
    seen = {(r.method, r.dataset, r.solver): r.status for r in cells.itertuples()}
    datasets = [d for track in SMOKE.tracks for d in track.axes.datasets]
    assert {n for n, d in DATASETS.items() if d.kind == "points"} <= set(datasets)
    for method in METHODS.names():
        for dataset in datasets:
            for solver in SOLVERS.names():
                assert seen[(method, dataset, solver)] == expected_status(method, dataset, solver), (
                    method, dataset, solver)  # fmt: skip
    floors = cells[cells.method == sweep.FLOOR_METHOD]
    points = floors[floors.dataset.map(lambda d: DATASETS.get(d).kind == "points")]
    assert len(points) == len(SMOKE.tracks[0].axes.datasets) * len(SMOKE.tracks[0].eval.metrics)
    assert (points.value.astype(float) > 0).all()
    ok = cells[(cells.status == "ok") & (cells.method != sweep.FLOOR_METHOD)]
    ok = ok[ok.metric.isin(["w2", "energy"])]
    assert len(ok) and set(ok.metric) == {"w2", "energy"}
    values = ok.value.astype(float)
    assert (values >= 0).all() and np.isfinite(values).all()
    assert (ok.sample_seconds.astype(float) > 0).all() and (ok.sample_peak_mb.astype(float) > 0).all()
    fixed = ok[ok.solver != "rk45"]
    assert (fixed.nfe.astype(int) == fixed.solver.map(PER_STEP) * fixed.steps.astype(int)).all()
    skipped = cells[cells.status == "skipped"]
    assert (skipped.reason.str.len() > 0).all()
    trained = [n for n, m in METHODS.items() if not hasattr(m, "network")]  # the exact fields train nothing
    assert summary.trained == sum(expected_status(m, d, "euler") == "ok" for m in trained for d in datasets)


def test_rows_carry_provenance(smoke_run):
    _, _, cells = smoke_run
    for column in ("git_rev", "torch_version", "device", "threads", "config_hash", "run_id"):
        assert (cells[column].astype(str).str.len() > 0).all(), column
    assert cells.config_hash.nunique() == 1 and cells.config_hash.iloc[0] == SMOKE.config_hash()


def test_rerun_of_a_finished_sweep_does_no_work(smoke_run):
    root, first, cells = smoke_run
    again = sweep.run(SMOKE, root, progress=False)
    assert (again.trained, again.loaded, again.sampled, again.skipped, again.references) == (0, 0, 0, 0, 0)
    assert again.already_done == len(cells.key.unique())
    assert len(pd.read_csv(root / "smoke" / "cells.csv")) == len(cells)
    training = pd.read_csv(root / "smoke" / "training.csv")
    assert training.train_key.nunique() == first.trained
    logged = {t.axes.datasets[0]: t.train.steps // t.train.log_every for t in SMOKE.tracks}
    counts = training.groupby(["train_key", "dataset"]).step.count().reset_index()
    assert (counts.step == counts.dataset.map(lambda d: logged.get(d, logged[SMOKE.tracks[0].axes.datasets[0]]))).all()


def test_same_seed_gives_bitwise_identical_values(smoke_run, results_root):
    _, _, first = smoke_run
    sweep.run(SMOKE, results_root, progress=False)
    second = pd.read_csv(results_root / "smoke" / "cells.csv", keep_default_na=False, dtype=str)
    first = first.astype(str)
    columns = ["key", "method", "dataset", "seed", "solver", "steps", "tol", "nfe", "metric", "value", "value_sd",
               "floor", "vs_floor", "extractor", "status"]  # fmt: skip
    pd.testing.assert_frame_equal(first[columns].reset_index(drop=True), second[columns].reset_index(drop=True))


def test_adding_a_solver_runs_only_its_cells(tmp_path):
    spec = SMOKE.with_axes(methods=("iadb", "ddpm"), datasets=("gauss-moons",), solvers=("euler",))
    first = sweep.run(spec, tmp_path, progress=False)
    assert (first.trained, first.sampled) == (2, 2)
    wider = spec.with_axes(solvers=("euler", "heun", "ddim"))
    second = sweep.run(wider, tmp_path, progress=False)
    # heun for both methods, ddim for ddpm only (skipped for iadb); no training
    assert (second.trained, second.loaded, second.sampled, second.skipped) == (0, 2, 3, 1)
    assert second.already_done == 2 + 1  # the two euler cells and the floor of gauss-moons


def test_the_second_fd_against_the_same_reference_reuses_its_features(results_root):
    spec = SMOKE.with_axes("mnist", methods=("iadb",), solvers=("euler",), steps=(1,))
    first = sweep.run(spec, results_root, progress=False, make_figures=False)
    # the floor extracts the reference's features; the cell, measured against the same reference, reuses them
    assert (first.references, first.sampled) == (1, 1)
    assert (first.fd_references_computed, first.fd_references_reused) == (1, 1)
    second = sweep.run(spec.with_axes("mnist", steps=(1, 2)), results_root, progress=False, make_figures=False)
    assert (second.sampled, second.fd_references_computed, second.fd_references_reused) == (1, 0, 1)
    records = (results_root / spec.name / "provenance.jsonl").read_text().splitlines()
    summary = json.loads(records[-1])["summary"]  # what each run did is in its provenance
    assert (summary["fd_references_computed"], summary["fd_references_reused"], summary["already_done"]) == (0, 1, 2)


@pytest.mark.parametrize("cut", [-1, -20, -300])
def test_a_partly_written_cell_is_removed_and_runs_again(tmp_path, cut):
    spec = SMOKE.with_axes(methods=("iadb",), datasets=("gauss-moons",), solvers=("euler", "rk4"))
    sweep.run(spec, tmp_path, progress=False)
    csv = tmp_path / "smoke" / "cells.csv"
    before = pd.read_csv(csv)
    csv.write_bytes(csv.read_bytes()[:cut])  # a write torn inside the last cell's rows
    # the floor's and the first cell's rows stay, the torn cell's surviving rows go
    assert len(ResultStore(tmp_path / "smoke").cells.rows()) == 4
    again = sweep.run(spec, tmp_path, progress=False)
    assert (again.loaded, again.sampled, again.already_done) == (1, 1, 2)
    after = pd.read_csv(csv)
    assert len(after) == len(before) and after.key.value_counts().eq(2).all()
    pd.testing.assert_series_equal(after.value, before.value)


def test_a_cell_that_raises_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real_sample = sweep.sample

    def flaky(method, net, solver, x0, **kwargs):
        if solver.name == "heun":
            raise FloatingPointError("injected")
        return real_sample(method, net, solver, x0, **kwargs)

    monkeypatch.setattr(sweep, "sample", flaky)
    spec = SMOKE.with_axes(methods=("iadb",), datasets=("gauss-moons",), solvers=("heun", "rk4"))
    summary = sweep.run(spec, tmp_path, progress=False)
    assert (summary.failed, summary.sampled) == (1, 1)
    cells = pd.read_csv(tmp_path / "smoke" / "cells.csv", keep_default_na=False)
    failed = cells[cells.solver == "heun"]
    assert failed.status.tolist() == ["failed"] and "FloatingPointError: injected" in failed.reason.iloc[0]
    assert set(cells[cells.solver == "rk4"].status) == {"ok"}


def test_results_written_with_other_columns_are_refused_not_mixed(results_root, capsys):
    from bench.cli import main

    tmp_path = results_root
    folder = tmp_path / "smoke"
    folder.mkdir()
    (folder / "cells.csv").write_text("key,method,value\nabc,iadb,0.5\n")
    assert main(["sweep", "--profile", "smoke", "--results", str(tmp_path), "--no-plots"]) == 2
    assert "has other columns than this version" in capsys.readouterr().err
    assert (folder / "cells.csv").read_text() == "key,method,value\nabc,iadb,0.5\n"


def test_a_diverging_training_fails_its_cells_writes_no_checkpoint_and_the_sweep_goes_on(tmp_path):
    spec = SMOKE.with_axes(methods=("iadb",), datasets=("gauss-moons",), solvers=("euler",))
    (track,) = spec.tracks
    spec = dataclasses.replace(
        spec, tracks=(dataclasses.replace(track, train=dataclasses.replace(track.train, lr=1e30, log_every=1)),)
    )
    summary = sweep.run(spec, tmp_path, progress=False)
    assert (summary.trained, summary.failed, summary.references) == (0, 1, 1)
    cells = pd.read_csv(tmp_path / "smoke" / "cells.csv", keep_default_na=False)
    failed = cells[cells.method == "iadb"]
    assert failed.status.tolist() == ["failed"] and "training diverged: loss is" in failed.reason.iloc[0]
    assert not (tmp_path / "smoke" / "checkpoints").exists()


def test_image_cells_record_every_metric_against_their_floor_and_keep_a_grid(smoke_run):
    from bench.data.images import load_splits

    root, _, cells = smoke_run
    image = cells[cells.dataset == "mnist5k"]
    floor = image[image.method == sweep.FLOOR_METHOD]
    assert floor.seed.eq("").all() and set(floor.metric) == set(SMOKE.tracks[1].eval.metrics)
    floor_fd = float(floor[floor.metric == "fd"].value.iloc[0])
    ok = image[(image.status == "ok") & (image.method != sweep.FLOOR_METHOD)]
    assert ok.groupby("key").metric.apply(set).eq(set(SMOKE.tracks[1].eval.metrics)).all()
    assert ok.extractor.str.fullmatch(r"classifier-[0-9a-f]{12}").all() and ok.extractor.nunique() == 1
    assert ok.data_hash.eq(load_splits("mnist5k").content_hash).all()
    fd = ok[ok.metric == "fd"]
    assert np.allclose(fd.floor.astype(float), floor_fd)
    assert np.allclose(fd.vs_floor.astype(float), fd.value.astype(float) / floor_fd)
    assert (ok[ok.metric == "kid"].value_sd.astype(float) > 0).all()
    for key in ok.key.unique():
        grid = np.load(root / "smoke" / "grids" / f"{key}.npy")
        assert grid.shape == (SMOKE.tracks[1].eval.grid, 1, 28, 28) and grid.dtype == np.uint8
