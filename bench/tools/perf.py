"""`python -m bench perf`: what the harness itself costs, against the code a user would write instead.

Each benchmark times the harness's own code path (A) and a plain reference (B) on the same
network, data and number of network calls, interleaved A B, B A, ... over many short rounds
after one warm-up of each; the ratio is the median of the rounds' ratios, with a 95 %
confidence interval from the order statistics of those ratios:

- `sample-mlp`, `sample-unet`: `bench.run.sampling.sample` (the function every sampling cell
  calls: counting wrapper, method velocity, solver, batching, clock) vs a bare Euler loop
  `x = x + h * net(x, t)`; target harness / bare <= 1.03. The cell's peak-memory probe
  brackets `sample` in `bench.sweep.runner`, outside its clock, and is not part of this ratio;
- `train-mlp`, `train-unet`: `bench.run.training.train` (the function every training group calls)
  vs a bare loop of the same steps (same network, batches, fused Adam and cosine schedule);
  target <= 1.05;
- `euler-torchdiffeq`, `rk4-torchdiffeq`: `bench.run.sampling.sample` with the harness's Euler and
  RK4 vs torchdiffeq's `odeint(method="euler" | "rk4")` on the same network and grid; target <= 1.0.

Why many short rounds: on a shared 2-core virtual machine the speed of the same loop drifts
by 10-30 % over seconds to minutes. Interleaving cancels the drift in each round's ratio; the
median over a hundred or more rounds then resolves about half a percent, where 11 rounds of
0.3 s missed 3 % targets in one run and met them in the next.

The harness side runs with deterministic algorithms on, as a sweep does; the references run
with them off, as a user's loop would. Rows are appended to `results/perf/perf.csv` (one
`run_id` per invocation) and printed.

`python -m bench perf` also measures how far one training step is from what the machine can do
(`throughput`, rows in `results/perf/throughput.csv`): the FLOPs of one step of `bench.run.training.train`
on the quick profile's MLP and UNet recipes (torch.utils.flop_counter's count: the matrix products and
convolutions of the forward and backward passes; elementwise work and the optimiser are not counted)
over the step's measured seconds, against the machine's measured peak, a large float32 matrix product
in the same run with the same threads. The ratio says how much of the machine the training uses, and
whether a change (a compiled step, another layout, a larger batch) moved it.

`python -m bench perf --quality` checks quality per compute on 2D instead: the quick profile's
2D recipe on `gauss-moons` for every 2D method, W2 against its floor at <= 16 NFE, and the
training wall time; rows go to `results/perf/quality.csv`. It runs through `bench.sweep.runner` into
`results/quick/` (the cells are the quick profile's own, so each side reuses the other's).
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from bench.data import DATASETS, Dataset
from bench.rng import generator
from bench.run import Spec, TrainConfig, build_net, load_profile, sample, train
from bench.solvers import SOLVERS
from bench.store import provenance, write_atomically
from methods import METHODS

SAMPLING_TARGET = 1.03
TRAINING_TARGET = 1.05
SOLVER_TARGET = 1.0
PERF_COLUMNS = ["run_id", "benchmark", "harness_s", "reference_s", "ratio", "target", "verdict", "repeats",
                "what", "git_rev", "torch_version", "device", "threads", "load_average", "ratio_ci95"]  # fmt: skip
QUALITY_COLUMNS = ["run_id", "method", "dataset", "best_solver", "best_steps", "nfe", "w2", "floor", "w2_vs_floor",
                   "target", "verdict", "train_seconds", "train_steps", "git_rev", "threads"]  # fmt: skip
THROUGHPUT_COLUMNS = ["run_id", "network", "what", "flops_per_step", "step_seconds", "achieved_gflops",
                      "peak_gflops", "ratio", "threads", "git_rev", "torch_version", "load_average"]  # fmt: skip
PEAK_SIZE = 2048
"""The side of the square float32 matrices whose product measures the machine's peak (2 n^3 FLOPs)."""
MIN_BLOCK_SECONDS = 0.05
"""A timed block repeats its call until it lasts about this long (one call if a call is longer)."""
SECONDS_PER_BENCHMARK = 30.0
"""Without a given number of rounds, a benchmark runs as many as fit in about this time ..."""
MIN_ROUNDS, MAX_ROUNDS = 21, 301
"""... but at least MIN_ROUNDS and at most MAX_ROUNDS."""
QUALITY_NFE = 16
QUALITY_TARGET = 2.0
QUALITY_DATASET = "gauss-moons"


@dataclass
class Benchmark:
    name: str
    what: str
    harness: Callable[[], object]
    reference: Callable[[], object]
    target: float


@dataclass
class Timing:
    harness_s: float
    """median seconds of one harness call"""
    reference_s: float
    ratio: float
    """median over rounds of harness / reference"""
    ci95: tuple[float, float]
    """distribution-free 95 % confidence interval of that median (order statistics of the ratios)"""
    rounds: int


def interleaved(harness: Callable[[], object], reference: Callable[[], object], repeats: int | None = None,
                seconds: float = SECONDS_PER_BENCHMARK, same_settings: bool = False) -> Timing:  # fmt: skip
    """Time `harness` against `reference` in alternating rounds, after one warm-up of each.

    Each side of a round calls its function as many times as fill MIN_BLOCK_SECONDS (the same
    count for both) and gives the mean. Rounds alternate A B, B A, A B, ... so that a change in
    the machine's speed between the halves of a round cancels over rounds; each round's ratio is
    taken before the median, so a slow round (another process woke up) moves both of its sides.
    repeats: the number of rounds; None: as many as fit in `seconds`, within MIN_ROUNDS..MAX_ROUNDS.
    The harness side runs with deterministic algorithms on, configured as a sweep configures them
    (`bench.rng.deterministic_algorithms`), the reference with them off; with `same_settings` both
    sides run with them on (two ways of doing the harness's own work)."""
    import torch.utils.deterministic as settings

    deterministic, fill = torch.are_deterministic_algorithms_enabled(), settings.fill_uninitialized_memory
    settings.fill_uninitialized_memory = False

    def timed(fn: Callable[[], object], strict: bool, number: int) -> float:
        torch.use_deterministic_algorithms(strict)
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number

    try:
        warm = min(timed(harness, True, 1), timed(reference, same_settings, 1))
        number = max(1, math.ceil(MIN_BLOCK_SECONDS / max(warm, 1e-9)))  # calls per timed block, the same for both
        if repeats is None:
            repeats = min(MAX_ROUNDS, max(MIN_ROUNDS, int(seconds / (2 * number * warm))))
        a, b = [], []
        for i in range(repeats):
            if i % 2 == 0:
                a.append(timed(harness, True, number))
                b.append(timed(reference, same_settings, number))
            else:
                b.append(timed(reference, same_settings, number))
                a.append(timed(harness, True, number))
    finally:
        torch.use_deterministic_algorithms(deterministic)
        settings.fill_uninitialized_memory = fill
    ratios = [x / y for x, y in zip(a, b)]
    return Timing(statistics.median(a), statistics.median(b), statistics.median(ratios), median_ci95(ratios), repeats)


def median_ci95(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95 % confidence interval of the median: the order statistics at
    n/2 -+ 1.96 sqrt(n)/2 (the normal approximation of the binomial; the whole range below 6 values)."""
    ordered = sorted(values)
    n = len(ordered)
    half = 1.96 * math.sqrt(n) / 2
    low, high = math.floor(n / 2 - half), math.ceil(n / 2 + half) - 1
    return ordered[max(0, low)], ordered[min(n - 1, high)]


# --- the bare references, written as a user would -------------------------------------------------


@torch.no_grad()
def bare_euler(net: nn.Module, x: Tensor, steps: int) -> Tensor:
    """x_{k+1} = x_k + h net(x_k, t_k) on a uniform grid from 0 to 1."""
    h = 1.0 / steps
    for k in range(steps):
        t = torch.full((x.shape[0],), k * h)
        x = x + h * net(x, t)
    return x


@torch.no_grad()
def torchdiffeq_solve(net: nn.Module, x: Tensor, steps: int, method: str) -> Tensor:
    """torchdiffeq's fixed-grid solver `method` on the same grid of steps + 1 times."""
    from torchdiffeq import odeint

    grid = torch.linspace(0.0, 1.0, steps + 1)
    return odeint(lambda t, y: net(y, t.expand(y.shape[0])), x, grid, method=method)[-1]


def bare_training(dataset: Dataset, cfg: TrainConfig, seed: int) -> nn.Module:
    """IADB's regression (x_t = (1 - t) x0 + t x1 onto x1 - x0) with Adam, a cosine schedule and the
    recipe's weight average, plainly."""
    net = build_net(dataset, cfg, seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=True)  # the same Adam as bench.run.training
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps)
    average = copy.deepcopy(net) if cfg.ema > 0 else None
    g = generator(seed, "train", dataset.name)
    for step in range(1, cfg.steps + 1):
        x0 = dataset.source(cfg.batch_size, g)
        x1 = dataset.target(cfg.batch_size, g)
        t = torch.rand(cfg.batch_size, generator=g)
        a = t.reshape(-1, *([1] * (x0.ndim - 1)))
        loss = (net((1 - a) * x0 + a * x1, t) - (x1 - x0)).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if average is not None:  # an exponential moving average of the weights, as the recipe asks
            decay = min(cfg.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for p_avg, p in zip(average.parameters(), net.parameters()):
                    p_avg.lerp_(p, 1 - decay)
    return average if average is not None else net


# --- the benchmarks --------------------------------------------------------------------------------


def _trained_like(dataset: Dataset, cfg: TrainConfig) -> nn.Module:
    """The track's network at its initialisation (speed does not depend on the weights' values)."""
    return build_net(dataset, cfg, seed=0).eval()


def benchmarks(spec: Spec, *, samples: int, sample_steps: int, train_steps: int) -> list[Benchmark]:
    """The benchmarks on the spec's 2D and image tracks (the recipes of the quick profile by default)."""
    iadb = METHODS.get("iadb")
    tracks = {track.kind: track for track in reversed(spec.tracks)}
    out = []
    for kind, label in (("points", "mlp"), ("images", "unet")):
        track = tracks[kind]
        dataset = DATASETS.get(track.axes.datasets[0])
        net = _trained_like(dataset, track.train)
        n = samples if kind == "points" else max(1, samples // 25)  # a UNet call costs ~100 MLP calls
        x0 = dataset.source(n, generator(0, "perf", dataset.name))
        steps = sample_steps
        out.append(Benchmark(
            f"sample-{label}", f"{dataset.name}, {n} samples, euler K={steps}: bench.run.sampling.sample vs a bare "
                               "loop",
            lambda net=net, x0=x0, steps=steps: sample(iadb, net, SOLVERS.get("euler"), x0, steps=steps),
            lambda net=net, x0=x0, steps=steps: bare_euler(net, x0, steps),
            SAMPLING_TARGET,
        ))  # fmt: skip
        cfg = TrainConfig(**{**track.train.__dict__, "steps": train_steps if kind == "points" else train_steps // 10})
        out.append(Benchmark(
            f"train-{label}", f"{dataset.name}, {cfg.steps} steps of batch {cfg.batch_size}: bench.run.training.train "
                              "vs a bare loop",
            lambda dataset=dataset, cfg=cfg: train(iadb, dataset, cfg, 0),
            lambda dataset=dataset, cfg=cfg: bare_training(dataset, cfg, 0),
            TRAINING_TARGET,
        ))  # fmt: skip
        if kind == "points":
            for solver in ("euler", "rk4"):
                out.append(Benchmark(
                    f"{solver}-torchdiffeq", f"{dataset.name}, {n} samples, K={steps}: harness {solver} vs "
                                             f"torchdiffeq odeint(method={solver!r})",
                    lambda net=net, x0=x0, steps=steps, s=solver: sample(iadb, net, SOLVERS.get(s), x0, steps=steps),
                    lambda net=net, x0=x0, steps=steps, s=solver: torchdiffeq_solve(net, x0, steps, s),
                    SOLVER_TARGET,
                ))  # fmt: skip
    return out


def _load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return ""


def run(results_root: Path, *, repeats: int | None = None, samples: int = 500, sample_steps: int = 16,
        train_steps: int = 100, only: tuple[str, ...] = (), spec: Spec | None = None) -> list[dict]:  # fmt: skip
    """Run the benchmarks (those named in `only`, or all), append their rows to perf.csv and return them.

    repeats: rounds per benchmark; None: as many as fit in SECONDS_PER_BENCHMARK (`interleaved`)."""
    chosen = benchmarks(spec or load_profile("quick"), samples=samples, sample_steps=sample_steps,
                        train_steps=train_steps)  # fmt: skip
    if only:
        chosen = [b for b in chosen if b.name in only]
    prov = provenance.collect("")
    run_id = uuid.uuid4().hex[:12]
    rows = []
    for bench in chosen:
        timing = interleaved(bench.harness, bench.reference, repeats)
        rows.append({
            "run_id": run_id, "benchmark": bench.name, "harness_s": f"{timing.harness_s:.6g}",
            "reference_s": f"{timing.reference_s:.6g}", "ratio": f"{timing.ratio:.4f}", "target": bench.target,
            "verdict": "met" if timing.ratio <= bench.target else "missed", "repeats": timing.rounds,
            "what": bench.what, "git_rev": prov["git_rev"], "torch_version": prov["torch_version"],
            "device": prov["device"], "threads": prov["threads"], "load_average": _load_average(),
            "ratio_ci95": f"{timing.ci95[0]:.4f}-{timing.ci95[1]:.4f}",
        })  # fmt: skip
    _append(Path(results_root) / "perf" / "perf.csv", PERF_COLUMNS, rows)
    return rows


# --- arithmetic throughput of a training step ------------------------------------------------------


def matmul_peak(size: int = PEAK_SIZE, repeats: int = 10) -> float:
    """This machine's float32 peak as PyTorch reaches it, in FLOP/s: 2 n^3 over the best of `repeats`
    timed n x n matrix products (after one warm-up), with the process's torch threads."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def step_flops(dataset: Dataset, cfg: TrainConfig) -> int:
    """FLOPs of one step of `bench.run.training.train` (IADB's objective) on this recipe, as
    torch.utils.flop_counter counts them: matrix products and convolutions, forward and backward."""
    from torch.utils.flop_counter import FlopCounterMode

    one = TrainConfig(**{**cfg.__dict__, "steps": 1, "log_every": 1})
    with FlopCounterMode(display=False) as counter:
        train(METHODS.get("iadb"), dataset, one, 0)
    return int(counter.get_total_flops())


def step_seconds(dataset: Dataset, cfg: TrainConfig, steps: int, rounds: int = 3) -> float:
    """Seconds of one step of `bench.run.training.train` (its own clock over the loop, network
    building excluded): the best of `rounds` runs of `steps` steps, after one warm-up run."""
    run = TrainConfig(**{**cfg.__dict__, "steps": steps, "log_every": steps})
    iadb = METHODS.get("iadb")
    train(iadb, dataset, TrainConfig(**{**run.__dict__, "steps": 2, "log_every": 2}), 0)
    return min(train(iadb, dataset, run, 0).seconds for _ in range(rounds)) / steps


def throughput(results_root: Path, *, spec: Spec | None = None, mlp_steps: int = 100, unet_steps: int = 10,
               peak: float | None = None) -> list[dict]:  # fmt: skip
    """Achieved FLOP/s of one training step of the spec's MLP and UNet recipes (the quick profile's
    by default) against the matrix-product peak measured in the same run; rows appended to
    results/perf/throughput.csv and returned."""
    spec = spec or load_profile("quick")
    tracks = {track.kind: track for track in reversed(spec.tracks)}
    peak = peak or matmul_peak()
    prov = provenance.collect("")
    run_id = uuid.uuid4().hex[:12]
    rows = []
    for kind, label, steps in (("points", "mlp", mlp_steps), ("images", "unet", unet_steps)):
        if kind not in tracks:
            continue
        track = tracks[kind]
        dataset = DATASETS.get(track.axes.datasets[0])
        flops = step_flops(dataset, track.train)
        seconds = step_seconds(dataset, track.train, steps)
        achieved = flops / seconds
        rows.append({
            "run_id": run_id, "network": label,
            "what": f"{dataset.name}, batch {track.train.batch_size}, width {track.train.width}, depth "
                    f"{track.train.depth}: one step of bench.run.training.train (best of 3 x {steps} steps)",
            "flops_per_step": flops, "step_seconds": f"{seconds:.6g}", "achieved_gflops": f"{achieved / 1e9:.4g}",
            "peak_gflops": f"{peak / 1e9:.4g}", "ratio": f"{achieved / peak:.4f}", "threads": prov["threads"],
            "git_rev": prov["git_rev"], "torch_version": prov["torch_version"], "load_average": _load_average(),
        })  # fmt: skip
    _append(Path(results_root) / "perf" / "throughput.csv", THROUGHPUT_COLUMNS, rows)
    return rows


def quality(results_root: Path, *, nfe: int = QUALITY_NFE, spec: Spec | None = None) -> list[dict]:
    """Each 2D method's best W2 at <= `nfe` network evaluations on gauss-moons with the quick profile's
    2D recipe, against the floor (W2 between two independent target draws of the same size)."""
    import pandas as pd

    from bench import sweep

    base = spec or load_profile("quick")
    track = next(t for t in base.tracks if t.kind == "points")
    steps = tuple(k for k in track.axes.steps if k <= nfe)
    solvers = tuple(s for s in track.axes.solvers if SOLVERS.get(s).kind != "adaptive")
    narrow = base.with_axes(
        track.name, datasets=(QUALITY_DATASET,), solvers=solvers, steps=steps, tolerances=(), seeds=track.axes.seeds[:1]
    )  # one seed: the recipe's check, not the report's intervals
    sweep.run(narrow, results_root, progress=False, make_figures=False)
    keys = {c.key for g in sweep.plan(narrow) for c in g.cells}
    cells = pd.read_csv(Path(results_root) / narrow.name / "cells.csv", keep_default_na=False)
    cells = cells[cells.key.isin(keys) & (cells.metric == "w2") & (cells.status == "ok")]
    cells = cells.astype({"nfe": float, "value": float, "floor": float, "train_seconds": float})
    cells = cells[cells.nfe <= nfe]
    prov = provenance.collect("")
    run_id = uuid.uuid4().hex[:12]
    rows = []
    for method in narrow.tracks[0].axes.methods:
        mine = cells[cells.method == method]
        if mine.empty:
            continue
        best = mine.loc[mine.value.idxmin()]
        ratio = best.value / best.floor
        rows.append({
            "run_id": run_id, "method": method, "dataset": QUALITY_DATASET, "best_solver": best.solver,
            "best_steps": best.steps, "nfe": int(best.nfe), "w2": f"{best.value:.4f}", "floor": f"{best.floor:.4f}",
            "w2_vs_floor": f"{ratio:.3f}", "target": QUALITY_TARGET,
            "verdict": "met" if ratio <= QUALITY_TARGET else "missed",
            "train_seconds": f"{best.train_seconds:.1f}", "train_steps": track.train.steps,
            "git_rev": prov["git_rev"], "threads": prov["threads"],
        })  # fmt: skip
    _append(Path(results_root) / "perf" / "quality.csv", QUALITY_COLUMNS, rows)
    return rows


def _append(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Append rows; a file written by an older version with other columns is first rewritten
    (atomically) with today's columns, its rows kept and their new fields left empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, newline="") as f:
            old = list(csv.DictReader(f))
            header = list(old[0]) if old else []
        if header and header != columns:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, columns, lineterminator="\n", extrasaction="ignore", restval="")
            writer.writeheader()
            writer.writerows(old)
            write_atomically(path, buffer.getvalue().encode())
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def table(rows: list[dict], columns: list[str]) -> str:
    """Rows as a plain fixed-width text table."""
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) if rows else len(c) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)
