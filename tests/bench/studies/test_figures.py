"""The figures a sweep computes for its report: where they apply, what they hold, and that a
rerun computes nothing."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.data.datasets import DATASETS
from bench.evaluate.judge import build_judge
from bench.run.sampling import draw_heldout
from bench.store.results import ResultStore
from bench.studies import figures
from bench.sweep import runner as sweep


def records(folder):
    return [json.loads(p.read_text()) for p in sorted((folder / "figures").glob("*.json"))]


def test_figures_of_a_2d_sweep(sweep_2d):
    root, spec = sweep_2d
    found = records(root / spec.name)
    kinds = {(r["kind"], r["dataset"], r["seed"]) for r in found}
    for seed in (0, 1):
        assert ("chain", "triangle-square", seed) in kinds and ("field", "triangle-square", seed) in kinds
        assert ("chain", "gauss-moons", seed) not in kinds  # the chain is triangle-square's
        for dataset in ("triangle-square", "gauss-moons"):
            assert {("density", dataset, seed), ("objectives", dataset, seed)} <= kinds
    samples = [r for r in found if r["kind"] == "samples"]
    # ddpm needs a Gaussian source: no samples figure on triangle-square
    assert {(r["dataset"], r["method"]) for r in samples if r["seed"] == 0} == {
        (d, m) for d in ("triangle-square", "gauss-moons") for m in ("iadb", "si-linear-simple", "si-linear-complex")
    } | {("gauss-moons", "ddpm")}
    field = next(r for r in found if r["kind"] == "field" and r["seed"] == 0)
    assert set(field["summary"]["methods"]) == {"iadb", "si-linear-simple", "si-linear-complex"}
    assert field["summary"]["defined_bins"] > 0
    # the angles between the learned field and the grid estimate, recomputed from the stored arrays
    # with arccos of the normalised dot product (not the harness's wrapped atan2 difference)
    arrays = np.load(root / spec.name / "figures" / field["arrays"])
    defined, counts = arrays["defined"], arrays["counts"][arrays["defined"]]
    estimate = arrays["estimate"][defined].astype(np.float64)
    for name, m in field["summary"]["methods"].items():
        learned = arrays[f"net_{name}"][defined].astype(np.float64)
        cos = (estimate * learned).sum(-1) / (np.linalg.norm(estimate, axis=-1) * np.linalg.norm(learned, axis=-1))
        deg = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        assert m["mean_deg"] == pytest.approx(deg.mean(), abs=1e-3)
        assert m["max_deg"] == pytest.approx(deg.max(), abs=1e-3)
        assert m["count_weighted_mean_deg"] == pytest.approx((deg * counts).sum() / counts.sum(), abs=1e-3)
    chain = next(r for r in found if r["kind"] == "chain" and r["seed"] == 0)
    assert chain["summary"]["steps"] == list(spec.figures.chain_steps)
    assert len(chain["summary"]["mean_endpoint_to_ode"]) == len(spec.figures.chain_steps)
    objectives = next(r for r in found if r["kind"] == "objectives" and r["dataset"] == "gauss-moons")
    assert set(objectives["summary"]["networks"]) == {"initial", "trained (simple)", "trained (complex)"}
    for m in objectives["summary"]["networks"].values():
        assert m["grad_cosine"] == pytest.approx(1.0, abs=1e-6)
        assert m["loss_difference"] == pytest.approx(m["batch_offset"], rel=1e-4)


def test_samples_figure_holds_the_cells_own_samples(sweep_2d):
    """Drawn step by step (to keep trajectories), the samples are the cell's: the same W2."""
    root, spec = sweep_2d
    cells = pd.read_csv(root / spec.name / "cells.csv")
    folder = root / spec.name / "figures"
    record = next(r for r in records(root / spec.name) if r["kind"] == "samples" and r["method"] == "iadb"
                  and r["dataset"] == "gauss-moons" and r["seed"] == 1)  # fmt: skip
    assert (record["solver"], record["steps"]) == figures.samples_setting(spec.tracks[0])
    with np.load(folder / record["arrays"]) as data:
        samples, paths = data["samples"], data["paths"]
    assert paths.shape == (record["steps"] + 1, spec.figures.paths, 2)
    np.testing.assert_array_equal(paths[-1], samples[: spec.figures.paths])
    dataset = DATASETS.get("gauss-moons")
    judge = build_judge(dataset, spec.tracks[0].eval, root)
    import torch

    measured = {
        m["metric"]: m["value"]
        for m in judge.measure(torch.from_numpy(samples), draw_heldout(dataset, 1, len(samples)))
    }
    expected = cells[(cells.key == record["cell_key"]) & (cells.metric == "w2")].value.item()
    assert measured["w2"] == pytest.approx(expected, rel=1e-6)


def test_rerun_computes_no_figure(sweep_2d):
    root, spec = sweep_2d
    store = ResultStore(root / spec.name)
    assert figures.make_all(spec, store, sweep.plan(spec)) == 0


def test_figures_of_an_image_sweep(sweep_images):
    root, spec = sweep_images
    found = records(root / spec.name)
    assert {r["kind"] for r in found} == {"objectives"}  # no 2D pictures, no chain, no field
    (record,) = found
    assert record["interpolant"] == "trig" and record["dataset"] == "mnist5k"
    assert record["summary"]["offset"] > 0
