"""The figures a sweep computes for its report, written as data under results/<sweep>/figures/.

Kinds (each run only where its datasets and methods are in the sweep):
- `chain`: (a) the post's blend-deblend chain on triangle-square for several N, many chains
  from the same starting points; their spread measures the convergence to one path.
- `field`: (b) the grid estimate of D(x_{1/2}, 1/2) from all pairs of samples, beside the
  trained field of each method that learns D (iadb, si-linear-*), and their angles' disagreement.
- `objectives`: (c) the simple and the complex interpolant objectives on one batch through
  one network: gradient agreement, and the constant E|dI_t|^2 between the two losses.
- `samples`: a 2D method's samples at one (solver, steps), with a few trajectories kept.
- `density`: a 2D target's density (a histogram of many draws), to draw the samples over.

Each figure is `<kind>-<key>.json` (what it is, its numbers, its arrays' file) and
`<kind>-<key>.npz`; the key hashes everything the figure depends on, and the JSON is
written last, so a rerun with nothing changed computes nothing. reports/ reads these files.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.data import DATASETS, SQUARE, Dataset
from bench.fingerprint import fingerprint
from bench.nets import CountingNet
from bench.rng import deterministic_algorithms, generator
from bench.run import (
    Spec,
    Track,
    applicability,
    build_net,
    draw_source,
    load_checkpoint,
    load_weights,
    stable_hash,
)
from bench.solvers import SOLVERS, uniform_grid
from bench.store import ResultStore, write_atomically
from bench.studies import blending
from methods import METHODS
from methods.base import net_outputs
from methods.interpolants import StochasticInterpolant

VERSION = 1
"""Part of every figure key: raise it when a computation changes, so figures are recomputed."""
CHAIN_DATASET = "triangle-square"
FIELD_METHODS = ("iadb", "si-linear-simple", "si-linear-complex")
"""Methods whose network learns D(x_a, a) = E[x1 - x0 | x_a] (the linear interpolant's velocity)."""
FIELD_ALPHA = 0.5
ODE_STEPS = 64
"""(a): RK4 steps of the trained iadb network's path, compared with the chains'."""
SAMPLES_MAX_STEPS = 16
"""2D samples figure: the sweep's largest step count up to this, with rk4 when swept."""
DENSITY_DRAWS, DENSITY_BINS = 200_000, 120
OFFSET_DRAWS = {"points": 200_000, "images": 512}
GRAD_BATCH = {"points": 4096, "images": 64}

Arrays = dict[str, np.ndarray]


@dataclass
class Job:
    kind: str
    key: str
    meta: dict
    compute: Callable[[], tuple[Arrays, dict]]


def make_all(spec: Spec, store: ResultStore, groups: list) -> int:
    """Compute every figure of the sweep that is not on disk yet; returns how many were computed.

    groups: `bench.sweep.runner.plan(spec)`'s training groups; networks are loaded from their
    checkpoints (a group without one, e.g. skipped or diverged, is left out, never trained here).
    """
    folder = store.folder / "figures"
    computed = 0
    newest = _newest(folder)
    for job in plan(spec, store, groups):
        path = folder / f"{job.kind}-{job.key}.json"
        if path.exists():
            record = json.loads(path.read_text())
            if record["created"] < newest.get(_ident(record), 0.0):  # the code was changed back: current again
                write_atomically(
                    path, json.dumps({**record, "created": time.time()}, indent=1, sort_keys=True).encode()
                )
            continue
        deterministic_algorithms()  # as in the sweep's cells (set here, when needed)
        start = time.perf_counter()
        arrays, summary = job.compute()
        record = {"kind": job.kind, "key": job.key, **job.meta, "summary": summary,
                  "seconds": time.perf_counter() - start, "created": time.time()}  # fmt: skip
        _write(folder, job.kind, job.key, arrays, record)
        computed += 1
    return computed


def _ident(record: dict) -> tuple:
    """What a figure shows, whatever code computed it: the report draws the newest of each."""
    return record["kind"], record["dataset"], record["seed"], record.get("method"), record.get("interpolant")


def _newest(folder: Path) -> dict[tuple, float]:
    """{figure ident: the creation time of its newest record} in `folder`."""
    newest: dict[tuple, float] = {}
    for path in folder.glob("*.json") if folder.exists() else []:
        record = json.loads(path.read_text())
        newest[_ident(record)] = max(newest.get(_ident(record), 0.0), record["created"])
    return newest


def _write(folder: Path, kind: str, key: str, arrays: Arrays, record: dict) -> None:
    """The arrays, then the JSON (atomically, each to a temporary file and renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    record["arrays"] = f"{kind}-{key}.npz"
    for name, data in ((record["arrays"], buffer.getvalue()), (f"{kind}-{key}.json",
                       json.dumps(record, indent=1, sort_keys=True).encode())):  # fmt: skip
        write_atomically(folder / name, data)


def _trained(group, store: ResultStore) -> nn.Module | None:
    """The group's network from its checkpoint, or None when it has none."""
    outputs = net_outputs(METHODS.get(group.method))
    net = build_net(DATASETS.get(group.dataset), group.track.train, group.seed, outputs)
    if group.track.train.weights:  # a network trained elsewhere
        return load_weights(net, group.track.train.weights)
    return net if load_checkpoint(store.checkpoint(group.train_key), net, group.train_key) is not None else None


def plan(spec: Spec, store: ResultStore, groups: list) -> Iterator[Job]:
    """The figure jobs of a sweep, in a stable order, each keyed also by its code and its dataset's."""
    for job in _jobs(spec, store, groups):
        code = _code(BUILDERS[job.kind]), _code(DATASETS.get(job.meta["dataset"]))
        yield dataclasses.replace(job, key=stable_hash({"job": job.key, "code": code}))


_CODE: dict[int, tuple[object, str]] = {}


def _code(component: object) -> str:
    """The fingerprint of a job builder's code (what its computation uses) or of a dataset, once per process."""
    found = _CODE.get(id(component))
    if found is None or found[0] is not component:
        found = _CODE[id(component)] = (component, fingerprint(component))
    return found[1]


def _jobs(spec: Spec, store: ResultStore, groups: list) -> Iterator[Job]:
    cfg = spec.figures
    by = {(g.track.name, g.method, g.dataset, g.seed): g for g in groups}
    for track in spec.tracks:
        for dataset_name in track.axes.datasets:
            dataset = DATASETS.get(dataset_name)
            for seed in track.axes.seeds:
                group_of = {m: by[track.name, m, dataset_name, seed] for m in track.axes.methods}
                yield from _objective_jobs(track, dataset, seed, group_of, store)
                if dataset.kind != "points" or dataset.dims != (2,):  # the pictures below are of the plane
                    continue
                yield _density_job(dataset, seed)
                for method in track.axes.methods:
                    job = _samples_job(track, dataset, group_of[method], store, cfg.paths)
                    if job:
                        yield job
                if dataset_name == CHAIN_DATASET:
                    yield _chain_job(dataset, seed, group_of.get("iadb"), store, cfg)
                    job = _field_job(dataset, seed, group_of, store, cfg)
                    if job:
                        yield job


def _meta(dataset: Dataset, seed: int, **more: object) -> dict:
    return {"dataset": dataset.name, "seed": seed, **more}


def _density_job(dataset: Dataset, seed: int) -> Job:
    key = stable_hash({"v": VERSION, "density": dataset.name, "seed": seed, "n": DENSITY_DRAWS, "bins": DENSITY_BINS})

    @torch.no_grad()
    def compute() -> tuple[Arrays, dict]:
        g = generator(seed, "figures", "density", dataset.name)
        target = dataset.target(DENSITY_DRAWS, g)
        source = dataset.source(DENSITY_DRAWS, g)
        both = torch.cat([target, source]).numpy()
        lo, hi = np.quantile(both, 0.002, axis=0), np.quantile(both, 0.998, axis=0)
        pad = 0.08 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        hist, ex, ey = np.histogram2d(*target.numpy().T, bins=DENSITY_BINS, range=list(zip(lo, hi)), density=True)
        src, _, _ = np.histogram2d(*source.numpy().T, bins=[ex, ey], density=True)
        return {"target": hist.astype(np.float32), "source": src.astype(np.float32), "edges_x": ex,
                "edges_y": ey}, {"draws": DENSITY_DRAWS}  # fmt: skip

    return Job("density", key, _meta(dataset, seed), compute)


def samples_setting(track: Track) -> tuple[str, int] | None:
    """(solver, steps) of the 2D samples figure: rk4 if swept (else the first fixed-step solver)
    at the largest swept step count up to SAMPLES_MAX_STEPS (else the smallest)."""
    fixed = [s for s in track.axes.solvers if SOLVERS.get(s).kind == "fixed"]
    if not fixed or not track.axes.steps:
        return None
    small = [k for k in track.axes.steps if k <= SAMPLES_MAX_STEPS]
    return ("rk4" if "rk4" in fixed else fixed[0]), (max(small) if small else min(track.axes.steps))


def _samples_job(track: Track, dataset: Dataset, group, store: ResultStore, paths: int) -> Job | None:
    setting = samples_setting(track)
    method = METHODS.get(group.method)
    if setting is None or applicability(method, dataset) or not store.checkpoint(group.train_key).exists():
        return None
    solver_name, steps = setting
    cell = next((c for c in group.cells if c.solver == solver_name and c.steps == steps), None)
    n = track.eval.samples
    batch = {"batch": track.eval.batch_size} if track.eval.batch_size else {}  # 0 (all at once) as before it existed
    key = stable_hash({"v": VERSION, "samples": group.train_key, "solver": solver_name, "steps": steps, "n": n,
                       "paths": paths, **batch})  # fmt: skip

    @torch.no_grad()
    def compute() -> tuple[Arrays, dict]:
        net = _trained(group, store)
        if net is None:
            return {}, {"missing": "no checkpoint"}
        counted = CountingNet(net)
        x0 = draw_source(dataset, group.seed, n)  # the cell's own source samples
        grid = uniform_grid(steps, *method.time_range)
        fn = SOLVERS.get(solver_name).fn
        size = track.eval.batch_size or n  # the cell's batches, so the arithmetic is the cell's
        out, path = [], []
        for lo in range(0, n, size):
            x = x0[lo : lo + size]
            keep = max(0, min(paths - lo, len(x)))  # trajectories of the first `paths` samples only
            trail = [x[:keep]]
            for i in range(steps):  # one step at a time: the same arithmetic as the cell's solve
                x = fn(lambda y, t: method.velocity(counted, y, t), x, grid[i : i + 2])
                trail.append(x[:keep])
            out.append(x)
            if keep:
                path.append(torch.stack(trail))
        arrays = {"samples": torch.cat(out).numpy(), "paths": torch.cat(path, 1).numpy(), "times": grid.numpy()}
        return arrays, {"nfe": counted.calls // len(out)}

    meta = _meta(dataset, group.seed, method=group.method, solver=solver_name, steps=steps,
                 cell_key=cell.key if cell else None, train_key=group.train_key)  # fmt: skip
    return Job("samples", key, meta, compute)


def _in_square(points: torch.Tensor) -> torch.Tensor:
    lo, hi = SQUARE
    return ((points >= lo) & (points <= hi)).all(-1)


def _chain_job(dataset: Dataset, seed: int, iadb_group, store: ResultStore, cfg) -> Job:
    has_net = iadb_group is not None and store.checkpoint(iadb_group.train_key).exists()
    iadb_key = iadb_group.train_key if has_net else None
    params = {"steps": list(cfg.chain_steps), "starts": cfg.chain_starts, "repeats": cfg.chain_repeats}
    key = stable_hash({"v": VERSION, "chain": dataset.name, "seed": seed, **params, "iadb": iadb_key})

    @torch.no_grad()
    def compute() -> tuple[Arrays, dict]:
        g = generator(seed, "figures", "chain", dataset.name)
        starts = dataset.source(cfg.chain_starts, g)
        arrays: Arrays = {"steps": np.array(cfg.chain_steps), "starts": starts.numpy()}
        ends, spread = [], []
        for n_steps in cfg.chain_steps:
            path = blending.blend_deblend_chain(starts.repeat(cfg.chain_repeats, 1), n_steps, dataset.source,
                                                dataset.target, _in_square, g)  # fmt: skip
            path = path.view(n_steps + 1, cfg.chain_repeats, cfg.chain_starts, 2)
            arrays[f"path_{n_steps}"] = path.numpy()
            end = path[-1]  # [repeats, starts, 2]
            ends.append(end)
            spread.append(float((end - end.mean(0)).square().sum(-1).mean().sqrt()))
        reference = ends[-1].mean(0)
        to_largest = [float((e.mean(0) - reference).norm(dim=-1).mean()) for e in ends]
        slope = blending.fit_slope(list(cfg.chain_steps), spread) if len(spread) > 1 else None
        summary = {**params, "endpoint_spread": spread, "mean_endpoint_to_largest_n": to_largest, "spread_slope": slope}
        if has_net:
            net = _trained(iadb_group, store)
            method = METHODS.get("iadb")
            grid = uniform_grid(ODE_STEPS, *method.time_range)
            x, ode = starts, [starts]
            for i in range(ODE_STEPS):
                x = SOLVERS.get("rk4").fn(lambda y, t: method.velocity(net, y, t), x, grid[i : i + 2])
                ode.append(x)
            arrays["ode_path"] = torch.stack(ode).numpy()
            summary["ode_steps"] = ODE_STEPS
            summary["mean_endpoint_to_ode"] = [float((e.mean(0) - x).norm(dim=-1).mean()) for e in ends]
        return arrays, summary

    return Job("chain", key, _meta(dataset, seed, iadb_train_key=iadb_key), compute)


def _field_job(dataset: Dataset, seed: int, group_of: dict, store: ResultStore, cfg) -> Job | None:
    nets = {m: group_of[m] for m in FIELD_METHODS if m in group_of and store.checkpoint(group_of[m].train_key).exists()}
    params = {"pairs": cfg.field_pairs, "bins": cfg.field_bins, "min_count": cfg.field_min_count, "alpha": FIELD_ALPHA}
    key = stable_hash({"v": VERSION, "field": dataset.name, "seed": seed, **params,
                       "nets": {m: g.train_key for m, g in nets.items()}})  # fmt: skip

    @torch.no_grad()
    def compute() -> tuple[Arrays, dict]:
        g = generator(seed, "figures", "field", dataset.name)
        x0, x1 = dataset.source(cfg.field_pairs, g), dataset.target(cfg.field_pairs, g)
        a = FIELD_ALPHA
        lo = (1 - a) * x0.min(0).values + a * x1.min(0).values
        hi = (1 - a) * x0.max(0).values + a * x1.max(0).values
        edges = [torch.linspace(float(lo[i]), float(hi[i]), cfg.field_bins + 1) for i in range(2)]
        full = blending.field_estimate(a, x0, x1, *edges)
        half = len(x0) // 2  # two estimates from disjoint halves of the source points: the estimate's own noise
        first = blending.field_estimate(a, x0[:half], x1, *edges)
        second = blending.field_estimate(a, x0[half:], x1, *edges)
        defined = (full.counts >= cfg.field_min_count) & (first.counts > 0) & (second.counts > 0)
        degrees = lambda d: d * 180 / math.pi  # noqa: E731
        noise = degrees(blending.angular_difference(first.mean, second.mean)[defined])
        arrays: Arrays = {"edges_x": edges[0].numpy(), "edges_y": edges[1].numpy(), "counts": full.counts.numpy(),
                          "estimate": full.mean.numpy(), "defined": defined.numpy()}  # fmt: skip
        summary: dict = {**params, "defined_bins": int(defined.sum()), "halves_mean_deg": float(noise.mean()),
                         "methods": {}}  # fmt: skip
        centres = full.centres.reshape(-1, 2)
        for name, group in nets.items():
            net = _trained(group, store)
            field = METHODS.get(name).velocity(net, centres, a).view(cfg.field_bins, cfg.field_bins, 2)
            arrays[f"net_{name}"] = field.numpy()
            diff = degrees(blending.angular_difference(full.mean, field)[defined])
            weights = full.counts[defined]
            summary["methods"][name] = {
                "mean_deg": float(diff.mean()), "median_deg": float(diff.median()),
                "count_weighted_mean_deg": float((diff * weights).sum() / weights.sum()),
                "max_deg": float(diff.max()), "train_key": group.train_key,
            }  # fmt: skip
        return arrays, summary

    return Job("field", key, _meta(dataset, seed, methods=sorted(nets)), compute)


def _objective_jobs(track: Track, dataset: Dataset, seed: int, group_of: dict, store: ResultStore) -> Iterator[Job]:
    """(c) for every interpolant whose simple and complex variants are both in the track."""
    for simple_name in track.axes.methods:
        simple = METHODS.get(simple_name)
        if not isinstance(simple, StochasticInterpolant) or simple.objective != "simple":
            continue
        complex_name = simple_name.removesuffix("-simple") + "-complex"
        if complex_name not in group_of:
            continue
        complex_ = METHODS.get(complex_name)
        groups = {"simple": group_of[simple_name], "complex": group_of[complex_name]}
        key = stable_hash({"v": VERSION, "objectives": simple_name, "dataset": dataset.name, "seed": seed,
                           "train": dataclasses.asdict(track.train),
                           "nets": {k: g.train_key for k, g in groups.items()}})  # fmt: skip

        def compute(simple=simple, complex_=complex_, groups=groups) -> tuple[Arrays, dict]:
            interpolant = simple.interpolant
            g = generator(seed, "figures", "objectives", dataset.name, interpolant.name)
            n = OFFSET_DRAWS[dataset.kind]
            t = torch.rand(n, generator=g)
            offset = float(interpolant.dt(dataset.source(n, g), dataset.target(n, g), t).double().square().mean())
            b = GRAD_BATCH[dataset.kind]
            x0, x1, t = dataset.source(b, g), dataset.target(b, g), torch.rand(b, generator=g)
            nets = {"initial": build_net(dataset, track.train, seed)}
            for objective, group in groups.items():
                net = _trained(group, store)
                if net is not None:
                    nets[f"trained ({objective})"] = net
            agreement = {}
            for label, net in nets.items():
                net.train()  # gradients through the network as in training
                agreement[label] = blending.objective_agreement(simple, complex_, interpolant.dt, net, x0, x1, t)
            return {}, {"offset": offset, "offset_draws": n, "batch": b, "networks": agreement}

        meta = _meta(dataset, seed, interpolant=simple.interpolant.name, simple=simple_name, complex=complex_name,
                     kind_of_data=dataset.kind)  # fmt: skip
        yield Job("objectives", key, meta, compute)


BUILDERS = {"density": _density_job, "samples": _samples_job, "chain": _chain_job, "field": _field_job,
            "objectives": _objective_jobs}  # fmt: skip
"""The function that builds each kind of job: its fingerprint (its nested `compute` included) is in the job's key."""
