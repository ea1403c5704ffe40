"""Ground truth on gauss-gmm8: each solver's measured order on the exact fields, the W2 split,
and the report section drawn from the files alone."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bench.data.datasets import DATASETS
from bench.nets.mlp import MLP
from bench.studies import groundtruth
from bench.studies.groundtruth import GroundTruthConfig
from methods import METHODS

DATASET = DATASETS.get("gauss-gmm8")
SMALL = GroundTruthConfig(convergence_samples=32, steps=(32, 64, 128, 256), ref_steps=768, split_steps=(2, 8),
                          split_samples=64, split_ref_steps=64)  # fmt: skip


@pytest.fixture(scope="module")
def errors():
    return groundtruth.convergence(DATASET, SMALL, seed=0)


@pytest.mark.parametrize("field", ["exact", "exact-trig", "exact-ddpm"])
@pytest.mark.parametrize("solver, order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)])
def test_each_solver_converges_at_its_order_on_the_exact_field(errors, field, solver, order):
    frame = errors[(errors.field == field) & (errors.solver == solver)].sort_values("steps")
    slope, _, _ = groundtruth.fit_slope(frame.steps.to_numpy(), frame.error.to_numpy(), points=4)
    assert slope == pytest.approx(order, abs=0.25)


def test_slope_fit_leaves_out_the_float64_floor():
    steps = np.array([8, 16, 32, 64, 128])
    errors = np.array([1e-4, 1e-4 / 16, 1e-4 / 256, 1e-13, 1e-14])  # order 4, then round-off
    slope, lo, hi = groundtruth.fit_slope(steps, errors, points=4)
    assert slope == pytest.approx(4.0) and (lo, hi) == (8, 32)


def test_w2_split_and_its_report_section(tmp_path):
    from reports.groundtruth import render, section

    net = MLP(width=16, depth=2)  # untrained: its learning part dominates
    folder = tmp_path / "results" / "quick" / "groundtruth" / DATASET.name
    cfg = dataclasses.replace(SMALL, fields=("exact",), steps=(8, 16))
    written = groundtruth.run(DATASET, METHODS.get("iadb"), net, METHODS.get("exact"), folder, seed=0, cfg=cfg)
    split = pd.read_csv(folder / "w2_split.csv")
    assert {p.name for p in written} >= {"convergence.csv", "slopes.csv", "w2_split.csv"}
    by_steps = split[split.solver == "rk4"].set_index("steps")
    assert by_steps.discretization[8] < by_steps.discretization[2]  # the exact field converges
    assert split.learning.nunique() == 1  # one converged model sample, whatever the solver
    assert split.learning.iloc[0] > 10 * by_steps.discretization[8]
    out = render(folder, tmp_path / "reports")
    assert {p.name for p in out} == {"gauss-gmm8_convergence.png", "gauss-gmm8_w2_split.png",
                                     "gauss-gmm8_groundtruth.md"}  # fmt: skip
    text = section(tmp_path / "results" / "quick")
    assert "## gauss-gmm8: ground truth" in text and "discretization" in text


def test_exact_pseudo_method_runs_in_a_sweep_without_training(tmp_path):
    from bench.run.spec import load_profile
    from bench.sweep import runner as sweep

    spec = load_profile("smoke").with_axes(methods=("exact", "exact-ddpm"), datasets=("gauss-gmm8", "gauss-moons"),
                                           solvers=("heun", "ddim"), steps=(8,))  # fmt: skip
    summary = sweep.run(spec, tmp_path, progress=False)
    cells = pd.read_csv(tmp_path / "smoke" / "cells.csv")
    assert summary.trained == 0
    ok = cells[(cells.status == "ok") & (cells.method != "floor")]
    assert set(zip(ok.method, ok.solver)) == {("exact", "heun"), ("exact-ddpm", "heun"), ("exact-ddpm", "ddim")}
    assert set(ok.dataset) == {"gauss-gmm8"}
    assert (cells[(cells.dataset == "gauss-moons") & (cells.method != "floor")].status == "skipped").all()
