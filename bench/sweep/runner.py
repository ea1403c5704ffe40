"""Running a declared sweep: plan the cells, train once per group, sample, measure, record.

A *training group* is (method, dataset, seed, training recipe); its network is trained once
and checkpointed, and every sampling cell of the group reuses it. A *cell* adds the solver
and its steps (or tolerance). Keys are hashes of everything a result depends on, so a rerun
skips finished cells and does no training or sampling when nothing is missing.

Several sweeps may run at once on one results folder: each holds a training group's lock
(`ResultStore.claim`) while it trains and samples that group, works on the groups no one
holds first, and re-reads the finished cells after each claim, so no cell is done twice.

The workers of one parallel run (`bench.sweep.executors`) share the work more finely
(`share_groups`): each first trains the groups no one has trained, then samples in chunks of
one group's cells of one solver, which any worker may take once the group's network is
checkpointed. Workers then finish within one chunk of each other, instead of one waiting
while another trains and samples the last group alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from bench.data import DATASETS, images
from bench.evaluate import CACHE_FOLDER, EXTRACTORS_FOLDER, Judge, build_judge, likelihood, require_inception_weights
from bench.rng import deterministic_algorithms
from bench.run import (
    CPU,
    ForeignCheckpoint,
    PeakMemory,
    Spec,
    SpecError,
    Track,
    TrainingDiverged,
    applicability,
    build_net,
    describe,
    draw_floor_sample,
    draw_heldout,
    draw_noise,
    draw_source,
    foreign_message,
    key_fields,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    sample,
    save_checkpoint,
    stable_hash,
    train,
    weights_hash,
    weights_label,
)
from bench.solvers import SOLVERS
from bench.store import FLOOR_METHOD, ResultStore, faults, provenance, remove_stale_temporaries
from bench.studies import figures
from bench.sweep import keys
from methods import METHODS
from methods.base import net_outputs


@dataclass(frozen=True)
class Cell:
    method: str
    dataset: str
    seed: int | None
    solver: str
    steps: int | None
    tol: float | None
    key: str
    """Everything the cell's result depends on: its configuration and its code (`bench.sweep.keys`)."""
    config_key: str = ""
    """What the sweep file asks for alone (the key of a row written before code counted)."""


@dataclass
class Group:
    method: str
    dataset: str
    seed: int
    train_key: str
    track: Track
    cells: list[Cell] = field(default_factory=list)
    config_key: str = ""
    code: dict[str, str] = field(default_factory=dict)
    """The fingerprints of the code its network depends on (`bench.sweep.keys.training_code`)."""


@dataclass
class Summary:
    trained: int = 0
    loaded: int = 0
    sampled: int = 0
    skipped: int = 0
    failed: int = 0
    already_done: int = 0
    references: int = 0
    figures: int = 0
    figures_seconds: float = 0.0
    fd_references_computed: int = 0
    """Image metrics: reference features extracted (no valid cache) vs reused from `_fidelity_cache/`."""
    fd_references_reused: int = 0
    seconds: float = 0.0


def plan(spec: Spec, extractors: Mapping[str, str] | None = None) -> list[Group]:
    """Every training group of the spec with its sampling cells, in a stable order.

    extractors: the extractor id of each image dataset (`Judge.extractor_id`); it is part of
    the key of every image cell, so a new extractor measures the cells again. Every key also
    holds the fingerprints of the code its result depends on (`bench.sweep.keys`).
    """
    extractors = extractors or {}
    groups = []
    for track in spec.tracks:
        train_cfg = key_fields(track.train)
        if track.train.weights:  # a network trained elsewhere: keyed by the file's content, not its path
            train_cfg["weights"] = f"sha256:{weights_hash(track.train.weights)}"
        eval_cfg = key_fields(track.eval)
        axes = track.axes
        for method, dataset, seed in itertools.product(axes.methods, axes.datasets, axes.seeds):
            # "batches": since this version every method trains on the same batches (one stream per
            # dataset and seed), so networks trained before, on per-method streams, are not reused
            train_config = stable_hash({"method": method, "dataset": dataset, "seed": seed, "train": train_cfg,
                                        "batches": "shared"})  # fmt: skip
            code = keys.training_code(track, method, dataset)
            train_key = keys.with_code(train_config, code)
            group = Group(method, dataset, seed, train_key, track, config_key=train_config, code=code)
            extractor = {"extractor": extractors[dataset]} if dataset in extractors else {}
            for solver in axes.solvers:
                adaptive = SOLVERS.get(solver).kind == "adaptive"
                settings = [(None, tol) for tol in axes.tolerances] if adaptive else [(k, None) for k in axes.steps]
                solver_code = keys.cell_code(track, dataset, solver)
                for steps, tol in settings:
                    cell = {"train_key": train_config, "solver": solver, "steps": steps, "tol": tol, "eval": eval_cfg,
                            **extractor}  # fmt: skip
                    config = stable_hash(cell)
                    key = keys.with_code(config, solver_code, train=train_key)
                    group.cells.append(Cell(method, dataset, seed, solver, steps, tol, key, config))
            groups.append(group)
    return groups


def run(spec: Spec, results_root: Path, *, progress: bool | None = None, inception_weights: Path | None = None,
        device: torch.device = CPU, groups: bool = True, make_figures: bool = True,
        share_groups: bool = False) -> Summary:  # fmt: skip
    """Run every missing cell of `spec`, appending to `results_root/<spec.name>/`.

    progress: None shows a tqdm bar only on a terminal; True or False forces it.
    groups: False does only what every worker of a parallel run shares (the extractors and the
    floor cells). make_figures: then compute the report's figures that are missing
    (bench.studies.figures; only with groups). share_groups: run as one worker of a parallel run that
    shares groups chunk by chunk (the module's docstring); the rows are the same either way.
    Raises images.DataUnavailable (a dataset's files are missing) before writing anything.
    """
    start = time.perf_counter()
    cache_events = reference_cache_events()
    check_inputs(spec, inception_weights)  # missing data or weights: raise before anything is written
    check_checkpoints(plan(spec), Path(results_root) / spec.name)
    store = ResultStore(Path(results_root) / spec.name)
    for shared in (CACHE_FOLDER, EXTRACTORS_FOLDER):  # what a killed run left half-written in the shared caches
        remove_stale_temporaries(Path(results_root) / shared)
    try:
        judges = build_judges(spec, results_root, inception_weights=inception_weights, train_if_missing=False)
    except FileNotFoundError:  # a classifier to train first: deterministically, like every computation of a run
        deterministic()
        judges = build_judges(spec, results_root, inception_weights=inception_weights)
    prov = _new_run(spec, device)
    summary = Summary()
    todo = plan(spec, extractor_ids(judges)) if groups else []
    planned = [cell for _, cell in floor_cells(spec, judges)] + [cell for group in todo for cell in group.cells]
    store.supersede({cell.config_key: cell.key for cell in planned})  # rows of other code: out of cells.csv
    pending_total = sum(c.key not in store.done for g in todo for c in g.cells)
    bar = tqdm(
        total=pending_total, desc=spec.name, unit="cell", disable=(not progress) if progress is not None else None
    )
    for track, cell in floor_cells(spec, judges):
        if cell.key in store.done:
            summary.already_done += 1
        else:
            _run_floor(track, cell, judges[track.name, cell.dataset], store, prov)
            summary.references += 1
    floors = store.floor_values()

    def run_claimed(group: Group) -> None:
        store.refresh()
        pending = [c for c in group.cells if c.key not in store.done]
        summary.already_done += len(group.cells) - len(pending)
        if pending:
            judge = judges[group.track.name, group.dataset]
            floor = floors.get(floor_key(group.track, group.dataset, group.seed, judge), {})
            _run_group(group, pending, judge, floor, store, prov, summary, bar, device)

    if share_groups:
        _Shared(store, judges, floors, prov, summary, bar, device).run(todo)
    else:
        busy = []  # groups another process holds: done last, after waiting for it
        for group in todo:
            if all(c.key in store.done for c in group.cells):
                summary.already_done += len(group.cells)
                continue
            with store.claim(group.train_key, wait=False) as claimed:
                run_claimed(group) if claimed else busy.append(group)
        for group in busy:
            with store.claim(group.train_key):
                run_claimed(group)
    bar.close()
    if make_figures and groups:
        figures_start = time.perf_counter()
        summary.figures = figures.make_all(spec, store, todo)  # the report's figures, as data
        summary.figures_seconds = time.perf_counter() - figures_start
    after = reference_cache_events()
    summary.fd_references_computed = after["computed"] - cache_events["computed"]
    summary.fd_references_reused = after["reused"] - cache_events["reused"]
    summary.seconds = time.perf_counter() - start
    _record_run(store, spec, prov, summary)
    return summary


def reference_cache_events() -> dict[str, int]:
    """A copy of this process's counts of reference features computed and reused (none without images)."""
    fidelity = sys.modules.get("bench.evaluate.fidelity")  # imported only when an image metric is measured
    return dict(fidelity.REFERENCE_CACHE_EVENTS) if fidelity else {"computed": 0, "reused": 0}


def check_inputs(spec: Spec, inception_weights: Path | None = None) -> None:
    """Raise DataUnavailable or ExtractorUnavailable if an image dataset's files, or the
    Inception weights an evaluation asks for, are not on this machine."""
    for track in spec.tracks:
        if track.train.weights:  # a weights file that does not fit the network: before anything is written
            for method, dataset in itertools.product(track.axes.methods, track.axes.datasets):
                outputs = net_outputs(METHODS.get(method))
                load_weights(build_net(DATASETS.get(dataset), track.train, 0, outputs), track.train.weights)
        for dataset in track.axes.datasets:
            if DATASETS.get(dataset).kind == "images":
                images.load_splits(dataset)
                if track.eval.extractor == "inception":
                    require_inception_weights(inception_weights)


def check_checkpoints(groups: list[Group], folder: Path) -> None:
    """Raise ForeignCheckpoint, before anything is written, if a group's checkpoint path holds an
    intact checkpoint of another training key. Damaged ones are left to be retrained."""
    paths = {group.train_key: folder / "checkpoints" / f"{group.train_key}.pt" for group in groups}
    for train_key, path in paths.items():
        found = read_checkpoint(path) if path.exists() else None
        if found is not None and found[1].get("train_key") != train_key:
            raise ForeignCheckpoint(foreign_message(path, found[1], train_key))


def build_judges(spec: Spec, results_root: Path, **options: object) -> dict[tuple[str, str], Judge]:
    """The judge of every (track, dataset) of the spec; image datasets load (or train) their extractor."""
    return {
        (track.name, dataset): build_judge(DATASETS.get(dataset), track.eval, results_root, **options)
        for track in spec.tracks
        for dataset in track.axes.datasets
    }


def extractor_ids(judges: Mapping[tuple[str, str], Judge]) -> dict[str, str]:
    """{image dataset: its extractor id}, as `plan` takes it."""
    return {dataset: judge.extractor_id for (_, dataset), judge in judges.items() if judge.extractor_id}


def floor_key(track: Track, dataset: str, seed: int | None, judge: Judge) -> str:
    """The key of the floor cell that a cell of (track, dataset, seed) is read against: its
    configuration (`floor_config_key`) and the code of the dataset, the draws and the evaluation."""
    return keys.with_code(floor_config_key(track, dataset, seed, judge), keys.floor_code(track, dataset))


def floor_config_key(track: Track, dataset: str, seed: int | None, judge: Judge) -> str:
    """What a floor cell measures. 2D floors depend on the seed (the draws do); an image floor is
    one per (dataset, sample count, extractor), since its held-out and reference images are fixed.
    """
    if judge.dataset.kind == "images":
        return stable_hash({"floor": dataset, "eval": _floor_eval(track), "extractor": judge.extractor_id,
                            "data": judge.data_hash})  # fmt: skip
    return stable_hash({"floor": dataset, "seed": seed, "eval": _floor_eval(track)})


def _floor_eval(track: Track) -> dict:
    """The evaluation settings a floor depends on (not how generated samples are batched)."""
    return key_fields(dataclasses.replace(track.eval, batch_size=0))


def floor_cells(spec: Spec, judges: Mapping[tuple[str, str], Judge]) -> list[tuple[Track, Cell]]:
    """One reference cell per floor key: what a perfect sampler scores with the same sample count."""
    cells: dict[str, tuple[Track, Cell]] = {}
    for track in spec.tracks:
        for dataset in track.axes.datasets:
            judge = judges[track.name, dataset]
            seeds = [None] if judge.dataset.kind == "images" else track.axes.seeds
            for seed in seeds:
                key = floor_key(track, dataset, seed, judge)
                config = floor_config_key(track, dataset, seed, judge)
                cells.setdefault(key, (track, Cell(FLOOR_METHOD, dataset, seed, "", None, None, key, config)))
    return list(cells.values())


def deterministic() -> None:
    """PyTorch's deterministic algorithms on, before a run's first computation (`rng.deterministic_algorithms`)."""
    deterministic_algorithms()


def _run_floor(track: Track, cell: Cell, judge: Judge, store: ResultStore, prov: dict) -> None:
    deterministic()
    dataset = judge.dataset
    n = track.eval.samples
    reference = draw_heldout(dataset, cell.seed, n)
    other = draw_floor_sample(dataset, cell.seed, n)
    group = Group(FLOOR_METHOD, cell.dataset, cell.seed, "", track)
    reason = "held-out real images vs the reference" if dataset.kind == "images" else "two independent target draws"
    if judge.extractor is not None:  # the feature space's own quality, beside the floor it gives
        reason += f"; the classifier's accuracy on them: {judge.extractor.accuracy:.4f}"
    store.add_cell(
        [_row(cell, group, prov, **measured, status="ok", reason=reason, nfe=0, n_samples=n,
              extractor=judge.extractor_id, data_hash=judge.data_hash)
         for measured in judge.measure(other, reference)]
    )  # fmt: skip


def _row(cell: Cell, group: Group, prov: dict, **values: object) -> dict:
    blank = lambda value: "" if value is None else value  # noqa: E731
    row = {
        "key": cell.key, "train_key": group.train_key, "config_key": cell.config_key, "method": cell.method,
        "dataset": cell.dataset, "seed": blank(cell.seed), "solver": cell.solver, "steps": blank(cell.steps),
        "tol": blank(cell.tol), **prov, "value_sd": "", "floor": "", "vs_floor": "", "extractor": "", "data_hash": "",
        **keys.provenance(group.track, cell.method, cell.dataset, cell.solver or None).row(),
        "weights": weights_label(group.track.train.weights) if group.track.train.weights else "",
    }  # fmt: skip
    row.update(values)
    return row


def obtain_model(group: Group, store: ResultStore, prov: dict, summary: Summary,
                 device: torch.device = CPU) -> tuple[torch.nn.Module, dict]:  # fmt: skip
    """The group's trained network on `device`: loaded from its checkpoint, or trained and checkpointed."""
    dataset = DATASETS.get(group.dataset)
    method = METHODS.get(group.method)
    if hasattr(method, "network"):  # an exact pseudo-method: a closed-form field, nothing to train
        return method.network(dataset.mixture), {"train_key": group.train_key, "seconds": 0.0, "peak_mb": 0.0}
    recipe = group.track.train
    net = build_net(dataset, recipe, group.seed, net_outputs(method))
    if recipe.weights:  # trained elsewhere: the weights file is the checkpoint
        summary.loaded += 1
        return load_weights(net, recipe.weights).to(device), {"train_key": group.train_key, "seconds": 0.0,
                                                              "peak_mb": 0.0}  # fmt: skip
    ckpt = store.checkpoint(group.train_key)
    meta = load_checkpoint(ckpt, net, group.train_key)
    if meta is not None:
        net = net.to(device)
        summary.loaded += 1
    else:
        trained = train(method, dataset, recipe, group.seed, device)
        net = trained.net
        meta = {"train_key": group.train_key, "seconds": trained.seconds, "peak_mb": trained.peak_mb,
                "method": group.method, "dataset": group.dataset, "seed": group.seed,
                "train": dataclasses.asdict(recipe), "losses": trained.losses, "config_key": group.config_key,
                "code": group.code}  # fmt: skip
        save_checkpoint(ckpt, net, meta)
        summary.trained += 1
    store.log_training(meta, prov["run_id"])
    return net, meta


def train_all(spec: Spec, results_root: Path, device: torch.device = CPU) -> Summary:
    """Train (or find already trained) every group of `spec`, sampling nothing.

    Raises SpecError, before writing anything, when a group cannot be trained.
    """
    groups = plan(spec)
    for group in groups:
        reason = applicability(METHODS.get(group.method), DATASETS.get(group.dataset))
        if reason:
            raise SpecError(reason)
    deterministic_algorithms()
    start = time.perf_counter()
    check_checkpoints(groups, Path(results_root) / spec.name)
    store = ResultStore(Path(results_root) / spec.name)
    prov = _new_run(spec, device)
    summary = Summary()
    for group in groups:
        with store.claim(group.train_key):
            obtain_model(group, store, prov, summary, device)
    summary.seconds = time.perf_counter() - start
    _record_run(store, spec, prov, summary)
    return summary


def _new_run(spec: Spec, device: torch.device = CPU) -> dict:
    """A fresh run id with the provenance fields written beside every row of the run."""
    prov = {"run_id": uuid.uuid4().hex[:12], **provenance.collect(spec.config_hash())}
    prov["device"] = describe(device) or prov["device"]
    return prov


def _record_run(store: ResultStore, spec: Spec, prov: dict, summary: Summary) -> None:
    """One provenance record per run: where the numbers came from and what the run did."""
    store.add_provenance(
        {**prov, "spec": dataclasses.asdict(spec), "wall_seconds": summary.seconds,
         "summary": dataclasses.asdict(summary)}
    )  # fmt: skip


def _run_group(group: Group, pending: list[Cell], judge: Judge, floor: Mapping[str, float], store: ResultStore,
               prov: dict, summary: Summary, bar: tqdm, device: torch.device,
               model: tuple[torch.nn.Module, dict] | None = None) -> None:  # fmt: skip
    """Sample and measure the `pending` cells of `group` (its network trained or loaded here,
    unless `model` is given), appending each cell's rows as it finishes."""
    deterministic()
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
        net, meta = model if model is not None else obtain_model(group, store, prov, summary, device)
    except TrainingDiverged as err:
        for cell in pending:
            close(cell, "failed", f"training diverged: {err}")
        summary.failed += len(pending)
        return

    n = group.track.eval.samples
    x0 = draw_source(dataset, group.seed, n).to(device)
    reference = draw_heldout(dataset, group.seed, n)
    for cell in pending:
        solver = SOLVERS.get(cell.solver)
        reason = applicability(method, dataset, solver)
        if reason:
            close(cell, "skipped", reason)
            summary.skipped += 1
            continue
        noise = draw_noise(dataset, group.seed, n, cell.steps).to(device) if solver.kind == "native" else None
        try:
            with PeakMemory() as mem:  # outside sample's clock (see bench.run.sampling.sample)
                out = sample(method, net, solver, x0, steps=cell.steps, tol=cell.tol, noise=noise,
                             clip=dataset.data_range, batch_size=group.track.eval.batch_size)  # fmt: skip
        except Exception as err:  # one broken cell must not end the sweep: record it, go on
            close(cell, "failed", f"sampling raised {type(err).__name__}: {err}")
            summary.failed += 1
            continue
        out.x = out.x.cpu()
        common = {
            "nfe": out.nfe, "n_samples": n, "status": "ok", "reason": "",
            "train_seconds": meta["seconds"], "sample_seconds": out.seconds,
            "samples_per_second": n / out.seconds if out.seconds > 0 else float("inf"),
            "train_peak_mb": meta["peak_mb"], "sample_peak_mb": mem.peak_mb,
            "extractor": judge.extractor_id, "data_hash": judge.data_hash,
        }  # fmt: skip
        faults.crash_point("measure")
        if torch.isfinite(out.x).all():
            measured = judge.measure(out.x, reference)
        else:
            measured = [{"metric": m, "value": float("nan"), "value_sd": ""} for m in group.track.eval.metrics]
            common.update(status="failed", reason="samples contain NaN or inf")
        if common["status"] == "ok":  # the model's likelihood of held-out data, with this cell's ODE solver
            measured += likelihood.measure(method, net, dataset, reference, solver, cell.steps, cell.tol, group.seed,
                                           group.track.eval.metrics)  # fmt: skip
        rows = [_row(cell, group, prov, **common, **m, **_against_floor(m, floor)) for m in measured]
        if dataset.kind == "images" and common["status"] == "ok":
            store.save_grid(cell.key, images.to_uint8(out.x[: group.track.eval.grid]))
        store.add_cell(rows)
        summary.sampled += 1
        bar.update(1)


@dataclass
class _Shared:
    """One worker's part of a parallel run that shares groups (`run(..., share_groups=True)`).

    First every group that needs a network and has none is trained, by whichever worker claims
    its lock first (the others pass over it). Then the cells are sampled in chunks, one group's
    cells of one solver each, under a lock per chunk; a chunk whose network is still being
    trained, or whose lock another worker holds, is retaken at the end, waiting for the lock.
    A chunk's network comes from this worker's memory (it trained it) or from its checkpoint,
    read under the group's lock, so a group is never trained twice; if its trainer died, the
    first worker to need it trains it. Locks are never nested except chunk -> group, so
    workers cannot deadlock.
    """

    store: ResultStore
    judges: Mapping[tuple[str, str], Judge]
    floors: Mapping[str, Mapping[str, float]]
    prov: dict
    summary: Summary
    bar: tqdm
    device: torch.device
    models: dict[str, tuple[torch.nn.Module, dict]] = field(default_factory=dict)

    def pending(self, cells: list[Cell]) -> list[Cell]:
        return [c for c in cells if c.key not in self.store.done]

    def run(self, todo: list[Group]) -> None:
        for group in todo:
            if self.needs_training(group):
                with self.store.claim(group.train_key, wait=False) as claimed:
                    if claimed:
                        self.store.refresh()
                        if self.needs_training(group):
                            self.obtain(group)
        later = []
        for group in todo:
            for solver, cells in _chunks(group):
                if not self.pending(cells):
                    continue
                with self.store.claim(f"{group.train_key}-{solver}", wait=False) as claimed:
                    if not (claimed and self.sample(group, cells, wait=False)):
                        later.append((group, solver, cells))
            self.models.pop(group.train_key, None)  # its chunks are taken: free the network
        for group, solver, cells in later:
            with self.store.claim(f"{group.train_key}-{solver}"):
                self.sample(group, cells, wait=True)

    def needs_training(self, group: Group) -> bool:
        method = METHODS.get(group.method)
        return (
            not hasattr(method, "network")  # an exact pseudo-method has nothing to train
            and not group.track.train.weights  # nor has a network trained elsewhere
            and applicability(method, DATASETS.get(group.dataset)) is None
            and not self.store.checkpoint(group.train_key).exists()
            and bool(self.pending(group.cells))
        )

    def obtain(self, group: Group) -> tuple[torch.nn.Module, dict] | None:
        """The group's network (trained, or loaded from its checkpoint), under the group's lock,
        which the caller holds; None if its training diverged (then every pending cell of the
        group is recorded as failed, as a serial run records them)."""
        deterministic()
        try:
            self.models[group.train_key] = obtain_model(group, self.store, self.prov, self.summary, self.device)
        except TrainingDiverged as err:
            left = self.pending(group.cells)
            for cell in left:
                self.store.add_cell([_row(cell, group, self.prov, status="failed", reason=f"training diverged: {err}")])
            self.summary.failed += len(left)
            self.bar.update(len(left))
            return None
        return self.models[group.train_key]

    def sample(self, group: Group, cells: list[Cell], wait: bool) -> bool:
        """Run the chunk's pending cells (its lock held); False, doing nothing, if its network is
        being trained by another worker and `wait` is False."""
        self.store.refresh()
        left = self.pending(cells)
        if not left:
            return True
        model = self.models.get(group.train_key)
        if model is None and applicability(METHODS.get(group.method), DATASETS.get(group.dataset)) is None:
            with self.store.claim(group.train_key, wait=wait) as claimed:
                if not claimed:
                    return False
                self.store.refresh()
                left = self.pending(cells)
                if not left:
                    return True
                model = self.obtain(group)
                if model is None:
                    return True
        judge = self.judges[group.track.name, group.dataset]
        floor = self.floors.get(floor_key(group.track, group.dataset, group.seed, judge), {})
        _run_group(group, left, judge, floor, self.store, self.prov, self.summary, self.bar, self.device, model)
        return True


def _chunks(group: Group) -> list[tuple[str, list[Cell]]]:
    """The group's cells by solver, in the plan's order."""
    chunks: dict[str, list[Cell]] = {}
    for cell in group.cells:
        chunks.setdefault(cell.solver, []).append(cell)
    return list(chunks.items())


def _against_floor(measured: dict, floor: Mapping[str, float]) -> dict:
    """The floor of the row's metric and the ratio value / floor (empty where there is none)."""
    value, base = measured["value"], floor.get(measured["metric"])
    if base is None:
        return {"floor": "", "vs_floor": ""}
    return {"floor": base, "vs_floor": value / base if base > 0 else ""}


def trained_model(spec: Spec, results_root: Path, method: str, dataset: str, seed: int) -> nn.Module:
    """The network of (method, dataset, seed) under the recipe of `spec`'s first 2D track, trained
    and checkpointed by the sweep's own machinery (so a sweep with the same group reuses it)."""
    tracks = [t for t in spec.tracks if t.kind == "points"]
    if not tracks:
        raise SpecError(f"{spec.name} has no 2D track to take a training recipe from")
    one = spec.with_axes(track=tracks[0].name, methods=(method,), datasets=(dataset,), seeds=(seed,))
    train_all(one, results_root)
    (group,) = plan(one)
    net = build_net(DATASETS.get(dataset), group.track.train, seed, net_outputs(METHODS.get(method)))
    if load_checkpoint(ResultStore(Path(results_root) / one.name).checkpoint(group.train_key), net,
                       group.train_key) is None:  # fmt: skip
        raise RuntimeError(f"the checkpoint of {method} on {dataset} could not be read back")
    return net
