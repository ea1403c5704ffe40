"""Ground truth on a Gaussian-mixture target: solver convergence orders on the exact field, and
a trained model's error split into its discretization and learning parts.

- Convergence: every fixed-step solver integrates an exact field (methods.exact) from the same
  source points at K steps; the error is the root-mean-square endpoint distance to a reference
  solution (RK4 at `ref_steps` steps), all in float64. The order is the slope of
  -log(error) against log(K), fitted where it is asymptotic: on the largest step counts whose
  error is above the float64 floor (Hairer, Norsett, Wanner, "Solving ODEs I", sec. II.1).
- W2 split: at K steps, the trained model's samples are compared with the exact field's
  reference samples from the same source points. The discretization part is W2(exact field at
  K steps, exact reference): the error the solver makes with a perfect network. The learning
  part is W2(model at `ref_steps` steps, exact reference): the error a perfect solver makes
  with the trained network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from bench.data import Dataset
from bench.evaluate import w2
from bench.run import draw_heldout, draw_source
from bench.solvers import SOLVERS, uniform_grid
from methods import METHODS
from methods.base import Method

FLOAT64_FLOOR = 1e-11
"""Endpoint errors below this are round-off, not discretization: left out of the slope fit."""


@dataclass(frozen=True)
class GroundTruthConfig:
    """What `groundtruth` measures (the defaults: see the README for the wall time)."""

    fields: tuple[str, ...] = ("exact", "exact-trig", "exact-ddpm")
    solvers: tuple[str, ...] = ("euler", "midpoint", "heun", "rk4")
    steps: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256)
    fit_points: int = 4
    """How many of the largest step counts (above the float64 floor) the slope is fitted on."""
    convergence_samples: int = 64
    ref_steps: int = 1024
    """RK4 steps of the convergence reference: its error is below the float64 floor at 1024."""
    split_steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    split_samples: int = 500
    split_ref_steps: int = 256
    """RK4 steps of the W2 split's references (exact and model): their discretization W2 is < 1e-6."""


def integrate(method: Method, net: nn.Module, solver: str, x0: Tensor, steps: int) -> Tensor:
    """x0 [n, d] pushed through `method`'s ODE with a fixed-step solver at `steps` steps."""
    t0, t1 = method.time_range
    with torch.no_grad():
        return SOLVERS.get(solver).fn(lambda x, t: method.velocity(net, x, t), x0, uniform_grid(steps, t0, t1))


def convergence(dataset: Dataset, cfg: GroundTruthConfig, seed: int) -> pd.DataFrame:
    """One row per (field, solver, steps): the RMS endpoint error against the reference [float64]."""
    x0 = draw_source(dataset, seed, cfg.convergence_samples).double()
    rows = []
    for name in cfg.fields:
        method = METHODS.get(name)
        net = method.network(dataset.mixture)
        reference = integrate(method, net, "rk4", x0, cfg.ref_steps)
        for solver in cfg.solvers:
            for steps in cfg.steps:
                error = (integrate(method, net, solver, x0, steps) - reference).square().sum(1).mean().sqrt().item()
                rows.append({"field": name, "solver": solver, "steps": steps, "error": error})
    return pd.DataFrame(rows)


def fit_slope(steps: np.ndarray, errors: np.ndarray, points: int) -> tuple[float, int, int]:
    """(slope of -log error vs log steps, first and last steps used) on the `points` largest step
    counts whose error is above FLOAT64_FLOOR."""
    keep = errors > FLOAT64_FLOOR
    steps, errors = steps[keep][-points:], errors[keep][-points:]
    if len(steps) < 2:
        return float("nan"), 0, 0
    return float(-np.polyfit(np.log(steps), np.log(errors), 1)[0]), int(steps[0]), int(steps[-1])


def slopes(errors: pd.DataFrame, points: int) -> pd.DataFrame:
    """One row per (field, solver): the measured order beside the solver's declared order."""
    rows = []
    for (name, solver), frame in errors.groupby(["field", "solver"], sort=False):
        frame = frame.sort_values("steps")
        slope, lo, hi = fit_slope(frame.steps.to_numpy(), frame.error.to_numpy(), points)
        rows.append({"field": name, "solver": solver, "order": SOLVERS.get(solver).order, "slope": slope,
                     "fit_from": lo, "fit_to": hi})  # fmt: skip
    return pd.DataFrame(rows)


def w2_split(method: Method, net: nn.Module, exact: Method, dataset: Dataset, cfg: GroundTruthConfig,
             seed: int) -> pd.DataFrame:  # fmt: skip
    """One row per (solver, steps): W2 of the model and of the exact field at those steps to the exact
    reference, the learning part (model at ref_steps vs the reference), and both against held-out data."""
    exact_net = exact.network(dataset.mixture)
    x0 = draw_source(dataset, seed, cfg.split_samples)
    reference = integrate(exact, exact_net, "rk4", x0.double(), cfg.split_ref_steps).float()
    heldout = draw_heldout(dataset, seed, cfg.split_samples)
    converged = integrate(method, net, "rk4", x0, cfg.split_ref_steps)
    learning = w2(converged, reference)
    rows = []
    for solver in cfg.solvers:
        for steps in cfg.split_steps:
            model = integrate(method, net, solver, x0, steps)
            field = integrate(exact, exact_net, solver, x0.double(), steps).float()
            rows.append({
                "method": method.name, "solver": solver, "steps": steps,
                "total": w2(model, reference), "discretization": w2(field, reference), "learning": learning,
                "model_vs_data": w2(model, heldout), "exact_vs_data": w2(field, heldout),
                "exact_ref_vs_data": w2(reference, heldout),
            })  # fmt: skip
    return pd.DataFrame(rows)


def run(dataset: Dataset, method: Method, net: nn.Module, exact: Method, folder: Path, seed: int,
        cfg: GroundTruthConfig | None = None) -> list[Path]:  # fmt: skip
    """Measure both and write `convergence.csv`, `slopes.csv`, `w2_split.csv` and `config.json` to folder."""
    cfg = cfg or GroundTruthConfig()
    if dataset.mixture is None:
        raise ValueError(f"{dataset.name} has no closed-form field (not a Gaussian-mixture target)")
    folder.mkdir(parents=True, exist_ok=True)
    errors = convergence(dataset, cfg, seed)
    tables = {
        "convergence.csv": errors.assign(dataset=dataset.name),
        "slopes.csv": slopes(errors, cfg.fit_points).assign(dataset=dataset.name),
        "w2_split.csv": w2_split(method, net, exact, dataset, cfg, seed).assign(dataset=dataset.name),
    }
    written = []
    for name, table in tables.items():
        table.to_csv(folder / name, index=False)
        written.append(folder / name)
    (folder / "config.json").write_text(pd.Series(dataclasses.asdict(cfg) | {"seed": seed}).to_json(indent=1))
    return written + [folder / "config.json"]
