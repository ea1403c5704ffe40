"""Running a declared sweep: plan the cells, train once per group, sample, measure, record.

A *training group* is (method, dataset, seed, training recipe); its network is trained once
and checkpointed, and every sampling cell of the group reuses it. A *cell* adds the solver
and its steps (or tolerance). Keys are hashes of everything a result depends on, so a rerun
skips finished cells and does no training or sampling when nothing is missing.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from bench import provenance
from bench.data import DATASETS
from bench.metrics import METRICS
from bench.sample import applicability, draw_floor_sample, draw_heldout, draw_noise, draw_source, sample
from bench.solvers import SOLVERS
from bench.spec import Spec, SpecError, stable_hash
from bench.store import ResultStore
from bench.train import TrainingDiverged, build_net, load_checkpoint, save_checkpoint, train
from methods import METHODS


@dataclass(frozen=True)
class Cell:
    method: str
    dataset: str
    seed: int
    solver: str
    steps: int | None
    tol: float | None
    key: str


@dataclass
class Group:
    method: str
    dataset: str
    seed: int
    train_key: str
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Summary:
    trained: int = 0
    loaded: int = 0
    sampled: int = 0
    skipped: int = 0
    failed: int = 0
    already_done: int = 0
    references: int = 0
    seconds: float = 0.0


def plan(spec: Spec) -> list[Group]:
    """Every training group of the spec with its sampling cells, in a stable order."""
    train_cfg = dataclasses.asdict(spec.train)
    eval_cfg = dataclasses.asdict(spec.eval)
    axes = spec.axes
    groups = []
    for method, dataset, seed in itertools.product(axes.methods, axes.datasets, axes.seeds):
        train_key = stable_hash({"method": method, "dataset": dataset, "seed": seed, "train": train_cfg})
        group = Group(method, dataset, seed, train_key)
        for solver in axes.solvers:
            adaptive = SOLVERS.get(solver).kind == "adaptive"
            settings = [(None, tol) for tol in axes.tolerances] if adaptive else [(k, None) for k in axes.steps]
            for steps, tol in settings:
                cell = {"train_key": train_key, "solver": solver, "steps": steps, "tol": tol, "eval": eval_cfg}
                group.cells.append(Cell(method, dataset, seed, solver, steps, tol, stable_hash(cell)))
        groups.append(group)
    return groups


def run(spec: Spec, results_root: Path, *, progress: bool | None = None) -> Summary:
    """Run every missing cell of `spec`, appending to `results_root/<spec.name>/`.

    progress: None shows a tqdm bar only on a terminal; True or False forces it.
    """
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    store = ResultStore(Path(results_root) / spec.name)
    prov = _new_run(spec)
    summary = Summary()
    groups = plan(spec)
    pending_total = sum(c.key not in store.done for g in groups for c in g.cells)
    bar = tqdm(
        total=pending_total, desc=spec.name, unit="cell", disable=(not progress) if progress is not None else None
    )
    for cell in floor_cells(spec):
        if cell.key in store.done:
            summary.already_done += 1
        else:
            _run_floor(spec, cell, store, prov)
            summary.references += 1
    for group in groups:
        pending = [c for c in group.cells if c.key not in store.done]
        summary.already_done += len(group.cells) - len(pending)
        if pending:
            _run_group(spec, group, pending, store, prov, summary, bar)
    bar.close()
    summary.seconds = time.perf_counter() - start
    _record_run(store, spec, prov, summary)
    return summary


FLOOR_METHOD = "floor"
"""The `method` of the reference rows: the metric between two independent target draws."""


def floor_cells(spec: Spec) -> list[Cell]:
    """One reference cell per (dataset, seed): what a perfect sampler scores with n samples."""
    eval_cfg = dataclasses.asdict(spec.eval)
    return [
        Cell(FLOOR_METHOD, dataset, seed, "", None, None,
             stable_hash({"floor": dataset, "seed": seed, "eval": eval_cfg}))
        for dataset in spec.axes.datasets
        for seed in spec.axes.seeds
    ]  # fmt: skip


def _run_floor(spec: Spec, cell: Cell, store: ResultStore, prov: dict) -> None:
    dataset = DATASETS.get(cell.dataset)
    n = spec.eval.samples
    reference = draw_heldout(dataset, cell.seed, n)
    other = draw_floor_sample(dataset, cell.seed, n)
    group = Group(FLOOR_METHOD, cell.dataset, cell.seed, train_key="")
    store.add_cell(
        [_row(cell, group, prov, metric=name, value=METRICS.get(name).fn(other, reference), status="ok",
              reason="two independent target draws", nfe=0, n_samples=n)
         for name in spec.eval.metrics]
    )  # fmt: skip


def _row(cell: Cell, group: Group, prov: dict, **values: object) -> dict:
    row = {
        "key": cell.key, "train_key": group.train_key, "method": cell.method, "dataset": cell.dataset,
        "seed": cell.seed, "solver": cell.solver, "steps": cell.steps if cell.steps is not None else "",
        "tol": cell.tol if cell.tol is not None else "", **prov,
    }  # fmt: skip
    row.update(values)
    return row


def obtain_model(spec: Spec, group: Group, store: ResultStore, prov: dict,
                 summary: Summary) -> tuple[torch.nn.Module, dict]:  # fmt: skip
    """The group's trained network: loaded from its checkpoint, or trained and checkpointed."""
    dataset = DATASETS.get(group.dataset)
    net = build_net(dataset, spec.train, group.seed)
    ckpt = store.checkpoint(group.train_key)
    meta = load_checkpoint(ckpt, net, group.train_key)
    if meta is not None:
        summary.loaded += 1
    else:
        trained = train(METHODS.get(group.method), dataset, spec.train, group.seed)
        net = trained.net
        meta = {"train_key": group.train_key, "seconds": trained.seconds, "peak_mb": trained.peak_mb,
                "method": group.method, "dataset": group.dataset, "seed": group.seed,
                "train": dataclasses.asdict(spec.train), "losses": trained.losses}  # fmt: skip
        save_checkpoint(ckpt, net, meta)
        summary.trained += 1
    store.log_training(meta, prov["run_id"])
    return net, meta


def train_all(spec: Spec, results_root: Path) -> Summary:
    """Train (or find already trained) every group of `spec`, sampling nothing.

    Raises SpecError, before writing anything, when a group cannot be trained.
    """
    groups = plan(spec)
    for group in groups:
        reason = applicability(METHODS.get(group.method), DATASETS.get(group.dataset))
        if reason:
            raise SpecError(reason)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    store = ResultStore(Path(results_root) / spec.name)
    prov = _new_run(spec)
    summary = Summary()
    for group in groups:
        obtain_model(spec, group, store, prov, summary)
    summary.seconds = time.perf_counter() - start
    _record_run(store, spec, prov, summary)
    return summary


def _new_run(spec: Spec) -> dict:
    """A fresh run id with the provenance fields written beside every row of the run."""
    return {"run_id": uuid.uuid4().hex[:12], **provenance.collect(spec.config_hash())}


def _record_run(store: ResultStore, spec: Spec, prov: dict, summary: Summary) -> None:
    """One provenance record per run: where the numbers came from and what the run did."""
    store.add_provenance(
        {**prov, "spec": dataclasses.asdict(spec), "wall_seconds": summary.seconds,
         "summary": dataclasses.asdict(summary)}
    )  # fmt: skip


def _run_group(spec: Spec, group: Group, pending: list[Cell], store: ResultStore, prov: dict,
               summary: Summary, bar: tqdm) -> None:  # fmt: skip
    method = METHODS.get(group.method)
    dataset = DATASETS.get(group.dataset)

    def close(cell: Cell, status: str, reason: str) -> None:
        store.add_cell([_row(cell, group, prov, status=status, reason=reason)])
        bar.update(1)

    reason = applicability(method, dataset)
    if reason:
        for cell in pending:
            close(cell, "skipped", reason)
        summary.skipped += len(pending)
        return

    try:
        net, meta = obtain_model(spec, group, store, prov, summary)
    except TrainingDiverged as err:
        for cell in pending:
            close(cell, "failed", f"training diverged: {err}")
        summary.failed += len(pending)
        return

    n = spec.eval.samples
    x0 = draw_source(dataset, group.seed, n)
    reference = draw_heldout(dataset, group.seed, n)
    for cell in pending:
        solver = SOLVERS.get(cell.solver)
        reason = applicability(method, dataset, solver)
        if reason:
            close(cell, "skipped", reason)
            summary.skipped += 1
            continue
        noise = draw_noise(dataset, group.seed, n, cell.steps) if solver.kind == "native" else None
        try:
            out = sample(method, net, solver, x0, steps=cell.steps, tol=cell.tol, noise=noise)
        except Exception as err:  # one broken cell must not end the sweep: record it, go on
            close(cell, "failed", f"sampling raised {type(err).__name__}: {err}")
            summary.failed += 1
            continue
        timing = {
            "nfe": out.nfe, "n_samples": n, "status": "ok", "reason": "",
            "train_seconds": meta["seconds"], "sample_seconds": out.seconds,
            "samples_per_second": n / out.seconds if out.seconds > 0 else float("inf"),
            "train_peak_mb": meta["peak_mb"], "sample_peak_mb": out.peak_mb,
        }  # fmt: skip
        finite = bool(torch.isfinite(out.x).all())
        rows = [
            _row(cell, group, prov, metric=name, **timing,
                 value=METRICS.get(name).fn(out.x, reference) if finite else float("nan"))
            for name in spec.eval.metrics
        ]  # fmt: skip
        if not finite:
            for row in rows:
                row.update(status="failed", reason="samples contain NaN or inf")
        store.add_cell(rows)
        summary.sampled += 1
        bar.update(1)
