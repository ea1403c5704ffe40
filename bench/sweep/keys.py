"""The keys of a sweep's results: what a checkpoint or a cell depends on, configuration and code.

Every key has two parts. The *configuration key* hashes what the sweep file asks for (method,
dataset, seed and training recipe; then solver, steps or tolerance and evaluation), computed
exactly as blendbench computed whole keys before code counted, so a row written by an older
version is recognised as the same cell (its `key` is its configuration key). The *key* adds the
fingerprints (`bench.fingerprint`) of the code that computes the result:

- a training group: the method, the dataset (its samplers), the network factory and the
  harness's training loop (which reaches the networks and the batches' random streams);
- a cell: its group's training key, the solver, the harness's sampling (the draws of the
  source, the noise and the held-out data, and the integration loop) and the evaluation (the
  judge's measure for the track's kind and the track's metrics);
- a floor cell: the dataset, the draws of its two samples and the evaluation.

So an edit to iadb's loss changes the training keys of iadb's groups (and through them their
cells' keys) and nothing else; an edit to `heun` changes only heun's cells. The fingerprints are
also written in every row (`method_code`, `solver_code`, ...), beside where each component came
from (`method_origin`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.data import DATASETS, Dataset
from bench.evaluate import LIKELIHOOD_METRICS, METRICS, Judge, likelihood
from bench.fingerprint import fingerprint
from bench.nets import NETS
from bench.run import (
    Track,
    build_net,
    draw_floor_sample,
    draw_heldout,
    draw_noise,
    draw_source,
    net_factory,
    sample,
    stable_hash,
    train,
)
from bench.solvers import SOLVERS
from methods import METHODS

TRAINING = (train,)
"""The harness's training code (its fingerprint follows what `train` uses: the network factory,
the networks, the optimiser loop, the random streams of the batches)."""
SAMPLING = (sample, draw_source, draw_noise, draw_heldout)
"""The harness's sampling code: the integration loop and the draws every cell makes."""
FLOOR_DRAWS = (draw_heldout, draw_floor_sample)
"""The two samples a floor cell compares."""

_MEMO: dict[tuple[int, ...], tuple[tuple[object, ...], str]] = {}


def code_of(*components: object) -> str:
    """`fingerprint(*components)`, computed once per process for the same objects: a run keys
    its results by the code it imported, even if a file is edited while it runs."""
    ids = tuple(map(id, components))
    found = _MEMO.get(ids)
    if found is None or any(a is not b for a, b in zip(found[0], components)):
        found = _MEMO[ids] = (components, fingerprint(*components))
    return found[1]


@dataclass(frozen=True)
class Provenance:
    """What a row records about the code that made it: each component's origin and fingerprint."""

    method_origin: str = ""
    method_code: str = ""
    solver_origin: str = ""
    solver_code: str = ""
    dataset_origin: str = ""
    dataset_code: str = ""
    net_code: str = ""
    harness_code: str = ""
    net: str = ""
    """The network factory (`bench.nets.NETS`) that built the cell's network, and where it came from."""
    net_origin: str = ""

    def row(self) -> dict[str, str]:
        return dict(vars(self))


def net_code(track: Track, dataset: str) -> str:
    """The network's code: `build_net` and the track's network factory (a registry counts by its
    kind only, so the factory it looks up is named here)."""
    return code_of(build_net, NETS.get(net_factory(DATASETS.get(dataset), track.train)))


def training_code(track: Track, method: str, dataset: str) -> dict[str, str]:
    """The fingerprints a training group's checkpoint depends on."""
    return {"method": code_of(METHODS.get(method)), "dataset": code_of(DATASETS.get(dataset)),
            "net": net_code(track, dataset), "harness": code_of(*TRAINING)}  # fmt: skip


def evaluation_code(track: Track, dataset: Dataset) -> str:
    """The judge's measure for the dataset's kind and the track's metrics (with the likelihoods'
    code when the track asks for them)."""
    measure = Judge.measure_images if dataset.kind == "images" else Judge.measure_points
    parts: list[object] = [measure, *(METRICS.get(m) for m in track.eval.metrics)]
    if set(track.eval.metrics) & set(LIKELIHOOD_METRICS):
        parts.append(likelihood.measure)
    return code_of(*parts)


def cell_code(track: Track, dataset: str, solver: str) -> dict[str, str]:
    """The fingerprints a cell depends on, besides its training group's."""
    return {"solver": code_of(SOLVERS.get(solver)), "sampling": code_of(*SAMPLING),
            "eval": evaluation_code(track, DATASETS.get(dataset))}  # fmt: skip


def floor_code(track: Track, dataset: str) -> dict[str, str]:
    """The fingerprints a floor cell depends on."""
    return {"dataset": code_of(DATASETS.get(dataset)), "draws": code_of(*FLOOR_DRAWS),
            "eval": evaluation_code(track, DATASETS.get(dataset))}  # fmt: skip


def provenance(track: Track, method: str, dataset: str, solver: str | None) -> Provenance:
    """The code columns of a row of (method, dataset, solver); a floor cell has no method or solver."""
    dataset_ = DATASETS.get(dataset)
    if solver is None:
        harness = code_of(*FLOOR_DRAWS)
    else:
        harness = code_of(*TRAINING, *SAMPLING)
    return Provenance(
        method_origin=METHODS.origin(method) if method in METHODS else "",
        method_code=code_of(METHODS.get(method)) if method in METHODS else "",
        solver_origin=SOLVERS.origin(solver) if solver else "",
        solver_code=code_of(SOLVERS.get(solver)) if solver else "",
        dataset_origin=DATASETS.origin(dataset),
        dataset_code=code_of(dataset_),
        net_code=net_code(track, dataset) if solver else "",
        net=net_factory(dataset_, track.train) if solver else "",
        net_origin=NETS.origin(net_factory(dataset_, track.train)) if solver else "",
        harness_code=stable_hash({"harness": harness, "eval": evaluation_code(track, dataset_)}),
    )


def with_code(config_key: str, code: Mapping[str, str], **more: str) -> str:
    """A result's key: its configuration key and the fingerprints of its code."""
    return stable_hash({"config": config_key, "code": dict(code), **more})
