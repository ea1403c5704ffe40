"""`python -m bench perf --only speedups`: candidate ways of making a training step faster on this
machine, each timed against the eager step it would replace, interleaved in one run.

Each candidate is one training step (the quick profile's recipe, IADB's objective: forward,
backward, fused Adam) done another way; its reference is the eager step of `bench.run.training.train`
on the same network and batches. Both sides are timed by `bench.tools.perf.interleaved` with the same
settings (deterministic algorithms on, as a sweep runs), and compared per training sample, so a
larger batch is read as the cost of the same number of samples:

- `unet-compile`, `mlp-compile`: the loss and its backward through `torch.compile` (Inductor's C++
  kernels; the compilation itself is done in the warm-up and reported apart as `first_call_s`);
- `unet-channels-last`: the UNet's weights and batches in channels-last memory layout;
- `unet-batch-64`, `unet-batch-128`: the same step at a larger batch, per sample;
- `mlp-stacked-6`: six MLPs trained at once, their parameters stacked (`torch.func.stack_module_state`)
  and the step `vmap`ped over them, against six eager steps one after the other.

`speedup` is eager over candidate (above 1: the candidate is faster), with the distribution-free
95 % interval of the median round. Rows are appended to `results/perf/speedups.csv`. What the
harness keeps from them, and why, is in docs/performance.md.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from bench.data import DATASETS, Dataset
from bench.rng import generator
from bench.run import Spec, TrainConfig, build_net, load_profile
from bench.store import provenance

SPEEDUP_COLUMNS = ["run_id", "candidate", "what", "eager_s", "candidate_s", "per", "speedup", "speedup_ci95",
                   "first_call_s", "repeats", "threads", "git_rev", "torch_version", "load_average"]  # fmt: skip
STACKED = 6
"""How many MLPs `mlp-stacked-6` trains at once (the six 2D methods of one dataset in the quick profile)."""


@dataclass
class Candidate:
    name: str
    what: str
    candidate: Callable[[], object]
    eager: Callable[[], object]
    candidate_per: int
    """training samples one call of `candidate` processes"""
    eager_per: int


def iadb_loss(net: Callable[[Tensor, Tensor], Tensor], x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """IADB's objective, as `methods.interpolants.IADB.loss` computes it."""
    a = t.reshape(-1, *([1] * (x0.ndim - 1)))
    return (net((1 - a) * x0 + a * x1, t) - (x1 - x0)).square().mean()


def _batches(dataset: Dataset, batch: int, count: int = 4) -> list[tuple[Tensor, Tensor, Tensor]]:
    """A few fixed (x0, x1, t) batches, drawn once so that drawing is not timed."""
    g = generator(0, "speedups", dataset.name)
    return [(dataset.source(batch, g), dataset.target(batch, g), torch.rand(batch, generator=g)) for _ in range(count)]


def eager_step(dataset: Dataset, cfg: TrainConfig, *, compiled: bool = False, channels_last: bool = False,
               batch: int | None = None) -> Callable[[], None]:  # fmt: skip
    """One training step of the recipe's network, as a callable cycling through fixed batches."""
    net = build_net(dataset, cfg, seed=0)
    batches = _batches(dataset, batch or cfg.batch_size)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        batches = [(x0.contiguous(memory_format=torch.channels_last),
                    x1.contiguous(memory_format=torch.channels_last), t) for x0, x1, t in batches]  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=True)
    loss_fn = torch.compile(iadb_loss) if compiled else iadb_loss
    turn = iter(range(1 << 62))

    def step() -> None:
        x0, x1, t = batches[next(turn) % len(batches)]
        loss = loss_fn(net, x0, x1, t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


class Stacked:
    """`count` MLPs of the recipe trained at once: their parameters stacked along a new first
    dimension (`torch.func.stack_module_state`), the per-network loss vmapped over them and summed
    (each network's gradient is its own loss's: the parameters are disjoint), one fused Adam over the
    stacked tensors (Adam is elementwise, so this is `count` Adams)."""

    def __init__(self, dataset: Dataset, cfg: TrainConfig, count: int = STACKED) -> None:
        from torch.func import functional_call, stack_module_state, vmap

        nets = [build_net(dataset, cfg, seed=s) for s in range(count)]
        params, self.buffers = stack_module_state(nets)
        self.params = {k: nn.Parameter(v) for k, v in params.items()}
        template = copy.deepcopy(nets[0]).to("meta")

        def one(p: dict, b: dict, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
            return iadb_loss(lambda x, s: functional_call(template, (p, b), (x, s)), x0, x1, t)

        self.losses = vmap(one, in_dims=(0, 0, None, None, None))

    def loss(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """The sum of the networks' losses on the same batch."""
        return self.losses(self.params, self.buffers, x0, x1, t).sum()


def stacked_step(dataset: Dataset, cfg: TrainConfig, count: int = STACKED) -> Callable[[], None]:
    """One training step of `count` MLPs at once (`Stacked`), cycling through fixed batches."""
    stacked = Stacked(dataset, cfg, count)
    opt = torch.optim.Adam(stacked.params.values(), lr=cfg.lr, fused=True)
    batches = _batches(dataset, cfg.batch_size)
    turn = iter(range(1 << 62))

    def step() -> None:
        loss = stacked.loss(*batches[next(turn) % len(batches)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def sequential_steps(dataset: Dataset, cfg: TrainConfig, count: int = STACKED) -> Callable[[], None]:
    """`count` eager training steps of `count` separate MLPs, one after the other."""
    steps = [eager_step(dataset, cfg) for _ in range(count)]

    def step() -> None:
        for one in steps:
            one()

    return step


def candidates(spec: Spec) -> list[Candidate]:
    """The candidates on the spec's MLP and UNet recipes (the quick profile's by default)."""
    tracks = {track.kind: track for track in reversed(spec.tracks)}
    out = []
    if "images" in tracks:
        track = tracks["images"]
        ds, cfg = DATASETS.get(track.axes.datasets[0]), track.train
        b = cfg.batch_size
        recipe = f"{ds.name}, width {cfg.width}, depth {cfg.depth}, patch {cfg.patch}"
        out += [
            Candidate("unet-compile", f"{recipe}, batch {b}: torch.compile(loss) vs eager",
                      eager_step(ds, cfg, compiled=True), eager_step(ds, cfg), b, b),
            Candidate("unet-channels-last", f"{recipe}, batch {b}: channels-last weights and batches vs eager",
                      eager_step(ds, cfg, channels_last=True), eager_step(ds, cfg), b, b),
        ]  # fmt: skip
        for bigger in (2 * b, 4 * b):
            out.append(Candidate(f"unet-batch-{bigger}", f"{recipe}: a step of batch {bigger} vs batch {b}, per sample",
                                 eager_step(ds, cfg, batch=bigger), eager_step(ds, cfg), bigger, b))  # fmt: skip
    if "points" in tracks:
        track = tracks["points"]
        ds, cfg = DATASETS.get(track.axes.datasets[0]), track.train
        b = cfg.batch_size
        recipe = f"{ds.name}, width {cfg.width}, depth {cfg.depth}, batch {b}"
        out += [
            Candidate("mlp-compile", f"{recipe}: torch.compile(loss) vs eager",
                      eager_step(ds, cfg, compiled=True), eager_step(ds, cfg), b, b),
            Candidate(f"mlp-stacked-{STACKED}", f"{recipe}: {STACKED} MLPs stacked under vmap vs {STACKED} eager steps",
                      stacked_step(ds, cfg), sequential_steps(ds, cfg), STACKED * b, STACKED * b),
        ]  # fmt: skip
    return out


def run(results_root: Path, *, repeats: int | None = None, spec: Spec | None = None,
        only: tuple[str, ...] = ()) -> list[dict]:  # fmt: skip
    """Time every candidate (or those named in `only`) against its eager step; rows appended to
    results/perf/speedups.csv and returned."""
    from bench.tools import perf

    chosen = [c for c in candidates(spec or load_profile("quick")) if not only or c.name in only]
    prov = provenance.collect("")
    run_id = uuid.uuid4().hex[:12]
    rows = []
    for c in chosen:
        start = time.perf_counter()
        c.candidate()  # the first call compiles where there is something to compile
        first = time.perf_counter() - start
        timing = perf.interleaved(c.eager, c.candidate, repeats, same_settings=True)
        # per sample: eager_s / eager_per against candidate_s / candidate_per, round by round
        scale = c.candidate_per / c.eager_per
        speedup = timing.ratio * scale
        low, high = timing.ci95[0] * scale, timing.ci95[1] * scale
        rows.append({
            "run_id": run_id, "candidate": c.name, "what": c.what, "eager_s": f"{timing.harness_s:.6g}",
            "candidate_s": f"{timing.reference_s:.6g}", "per": f"{c.candidate_per} vs {c.eager_per} samples",
            "speedup": f"{speedup:.3f}", "speedup_ci95": f"{low:.3f}-{high:.3f}", "first_call_s": f"{first:.2f}",
            "repeats": timing.rounds, "threads": prov["threads"], "git_rev": prov["git_rev"],
            "torch_version": prov["torch_version"], "load_average": perf._load_average(),
        })  # fmt: skip
    perf._append(Path(results_root) / "perf" / "speedups.csv", SPEEDUP_COLUMNS, rows)
    return rows
