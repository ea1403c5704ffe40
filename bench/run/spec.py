"""Sweep specifications: TOML files declaring the axes of a sweep, parsed and validated.

A spec is one or more *tracks*. A track names its axes (method x dataset x seed x solver x
steps-or-tolerance), the training recipe and the evaluation; the datasets of one track are
all of one kind (2D points, or images), since the kind decides the network and the metrics.
A spec with one track writes it at the top level (`[axes]`, `[train]`, `[eval]`); more
tracks go under `[tracks.<name>.axes]` and so on. Every key is checked: an unknown key, an
unknown name or a value out of range raises `SpecError` with the problem and the valid
choices, before any work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from bench import plugins
from bench.data import DATASETS, files
from bench.evaluate import METRICS
from bench.nets import NETS, shape_problem
from bench.solvers import SOLVERS
from methods import METHODS
from methods.registry import Registry, UnknownNameError

EXTRACTORS = ("classifier", "inception")
CLASSIFIER_ONLY = ("confidence", "class_entropy")
"""Feature extractors for image metrics (see bench.evaluate.fidelity)."""


class SpecError(ValueError):
    """A sweep specification that cannot be run; the message says why and what is valid."""


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe shared by every method (same network, optimiser and schedule)."""

    steps: int = 3000
    batch_size: int = 512
    lr: float = 2e-3
    width: int = 128
    depth: int = 3
    time_freqs: int = 8
    log_every: int = 50
    ema: float = 0.0
    """Decay of an exponential moving average of the weights, which is what gets sampled (0: off)."""
    patch: int = 1
    """Images: the UNet works on patch x patch pixel blocks (space-to-depth); 1 = full resolution."""
    bf16: bool = False
    """On a CUDA device, train under bf16 autocast (ignored on a CPU)."""
    net: str = ""
    """The network factory (`bench.nets.NETS`, or a plugin's); empty: the built-in one of the
    dataset's kind (`mlp` for points, `unet` for images)."""
    weights: str = ""
    """A network trained elsewhere: a weights file (a state dict of `net`'s module, read with
    `torch.load(weights_only=True)`; relative to the spec file). The track then trains nothing:
    each group loads these weights, its key holds the file's content hash, and its rows name the
    file in their `weights` column (`python -m bench evaluate`). Empty: train."""


@dataclass(frozen=True)
class EvalConfig:
    samples: int = 1000
    metrics: tuple[str, ...] = ()
    """Empty or "all": every metric of the track's kind."""
    extractor: str = "classifier"
    """Images: the feature extractor, 'classifier' (the harness's own) or 'inception' (needs weights)."""
    grid: int = 64
    """Images: how many samples of each cell are kept for its sample grid."""
    batch_size: int = 0
    """Samples integrated together (0: all at once). Each sample draws its noise from its own
    stream, so the batch size changes a sample only by floating-point rounding."""


ADDED_LATER = {"TrainConfig": {"bf16": False, "net": "", "weights": ""}, "EvalConfig": {"batch_size": 0}}
"""Config fields added after results existed, and the value they had implicitly before: at that
value they are left out of cache keys, so adding the field kept the results on disk valid."""


HASHED_LATER = {"net": "", "weights": ""}
"""[train] fields added after `Spec.config_hash` was recorded in results (see there)."""


def key_fields(cfg: Any) -> dict:
    """A config dataclass as a dict for a cache key (see ADDED_LATER)."""
    later = ADDED_LATER.get(type(cfg).__name__, {})
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in later or later[k] != v}


@dataclass(frozen=True)
class Axes:
    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    solvers: tuple[str, ...] = ("euler", "midpoint", "heun", "rk4")
    steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    tolerances: tuple[float, ...] = ()


@dataclass(frozen=True)
class Track:
    """One block of a sweep: its axes, the one training recipe and the one evaluation they share."""

    name: str
    axes: Axes
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @property
    def kind(self) -> str:
        """'points' or 'images': the kind of every dataset of the track."""
        return DATASETS.get(self.axes.datasets[0]).kind


@dataclass(frozen=True)
class FiguresConfig:
    """The sizes of the figures computed at the end of a sweep (bench.studies.figures)."""

    chain_steps: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)
    """(a) N, the steps of the blend-deblend chain on triangle-square."""
    chain_starts: int = 24
    """(a) starting points drawn from the triangle."""
    chain_repeats: int = 8
    """(a) independent chains from each starting point (their spread measures convergence)."""
    field_pairs: int = 2000
    """(b) points drawn from each distribution; every one of the pairs is blended."""
    field_bins: int = 32
    """(b) grid bins along each axis."""
    field_min_count: int = 50
    """(b) pairs a bin needs for its estimate to count as defined."""
    paths: int = 64
    """2D: trajectories kept for the samples figure."""


@dataclass(frozen=True)
class Spec:
    name: str
    tracks: tuple[Track, ...]
    figures: FiguresConfig = FiguresConfig()

    def config_hash(self) -> str:
        """A hash of the whole spec (recorded with every run). Fields added after it was first
        recorded count only away from their default, so adding them left every hash as it was."""
        data = dataclasses.asdict(self)
        for track in data["tracks"]:
            for key, default in HASHED_LATER.items():
                if track["train"].get(key) == default:
                    del track["train"][key]
        return stable_hash(data)

    def with_axes(self, track: str | None = None, **changes: Any) -> Spec:
        """A one-track spec: the named track (default: the first) with some of its axes replaced."""
        chosen = next((t for t in self.tracks if t.name == track), None) if track else self.tracks[0]
        if chosen is None:
            raise SpecError(f"{self.name} has no track {track!r}; tracks: {', '.join(t.name for t in self.tracks)}")
        axes = dataclasses.replace(chosen.axes, **changes)
        return dataclasses.replace(self, tracks=(dataclasses.replace(chosen, axes=axes),))


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short hex digest of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


PROFILES = ("smoke", "quick", "full", "ci")
TRACK_KEYS = {"axes", "train", "eval"}


def load_profile(name: str) -> Spec:
    """A spec shipped with the package: `bench/profiles/<name>.toml`."""
    if name not in PROFILES:
        raise SpecError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    text = resources.files("bench").joinpath("profiles").joinpath(f"{name}.toml").read_text()
    return parse_spec(text, source=f"profile {name}")


def load_spec(path: Path) -> Spec:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise SpecError(f"cannot read spec file {path}: {err.strerror}") from None
    return parse_spec(text, source=str(path), base=Path(path).parent)


def parse_spec(text: str, source: str = "spec", base: Path | None = None) -> Spec:
    """Parse and validate a TOML spec (parsed with tomllib, never executed). Its `plugins`, local
    plugin files (relative to `base`, the spec's folder) or modules, are loaded first, so that the
    names they register are valid in it (`bench.plugins.load`)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{source}: malformed TOML: {err}") from None
    _check_keys(raw, {"name", "tracks", "figures", "plugins", "datasets"} | TRACK_KEYS, source)
    refs = raw.get("plugins", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) and r for r in refs):
        raise SpecError(f"{source}: plugins must be a list of plugin files or module names, got {refs!r}")
    plugins.load(refs, base)
    declared = raw.get("datasets", {})
    if not isinstance(declared, dict) or not all(isinstance(t, dict) for t in declared.values()):
        raise SpecError(f"{source}: datasets are tables, [datasets.<name>] with a path (bench.data.files)")
    registered = DATASETS.snapshot()
    try:
        spec = _parse_tracks(raw, declared, source, base)
    except Exception:  # a spec that is refused registers nothing
        new = set(DATASETS.names()) - set(registered[0])
        DATASETS.restore(registered)
        files.forget(new)
        raise
    return spec


def _parse_tracks(raw: dict, declared: dict, source: str, base: Path | None) -> Spec:
    for dataset, table in declared.items():  # data files, read (and refused) before any work
        try:
            files.register(dataset, table, base, f"{source} [datasets.{dataset}]")
        except files.DataFileError as err:
            raise SpecError(str(err)) from None
    name = raw.get("name")
    if not isinstance(name, str) or not _plain_name(name) or name.startswith("_"):
        raise SpecError(f"{source}: 'name' must be a non-empty string of letters, digits, '-' or '_', "
                        "not starting with '_'")  # fmt: skip
    tables = {}
    if TRACK_KEYS & set(raw):
        if "axes" not in raw:
            raise SpecError(f"{source}: missing [axes] table")
        tables["main"] = {key: raw[key] for key in TRACK_KEYS & set(raw)}
    _check_keys(raw.get("tracks", {}), set(raw.get("tracks", {})), f"{source} [tracks]")  # a table of tables
    for track_name, table in raw.get("tracks", {}).items():
        where = f"{source} [tracks.{track_name}]"
        if track_name in tables or not _plain_name(track_name):
            raise SpecError(f"{where}: a track name must be new, of letters, digits, '-' or '_'")
        _check_keys(table, TRACK_KEYS, where)
        if "axes" not in table:
            raise SpecError(f"{where}: missing axes table")
        tables[track_name] = table
    if not tables:
        raise SpecError(f"{source}: missing [axes] table (or [tracks.<name>.axes] tables)")
    figures = _build(FiguresConfig, raw.get("figures", {}), f"{source} [figures]")
    sizes = {f.name: getattr(figures, f.name) for f in fields(FiguresConfig)}
    for key, value in sizes.items():
        for item in value if isinstance(value, tuple) else (value,):
            if not isinstance(item, int) or isinstance(item, bool) or item <= 0:
                raise SpecError(f"{source} [figures]: {key} must be positive integers, got {item!r}")
    spec = Spec(name, tuple(_parse_track(n, t, f"{source}" + ("" if n == "main" else f" [tracks.{n}]"), base)
                            for n, t in tables.items()), figures)  # fmt: skip
    return spec


def _plain_name(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "-_" for c in text)


def _parse_track(name: str, table: dict, source: str, base: Path | None = None) -> Track:
    axes = _build(Axes, table["axes"], f"{source} [axes]")
    if axes.datasets == ("all",):  # every 2D dataset: image datasets are named, as each needs its own recipe
        axes = dataclasses.replace(axes, datasets=tuple(n for n, d in DATASETS.items() if d.kind == "points"))
    for key, registry in (("methods", METHODS), ("solvers", SOLVERS)):
        if getattr(axes, key) == ("all",):  # `methods = "all"` means every registered name
            axes = dataclasses.replace(axes, **{key: tuple(registry.names())})
    train = _build(TrainConfig, table.get("train", {}), f"{source} [train]")
    if train.weights:
        train = dataclasses.replace(
            train, weights=str(((base or Path.cwd()) / Path(train.weights).expanduser()).resolve())
        )
    evaluation = _build(EvalConfig, table.get("eval", {}), f"{source} [eval]")
    _check_names(axes.datasets, DATASETS, source)
    if not axes.datasets:
        raise SpecError(f"{source}: [axes] datasets is empty")
    kinds = {DATASETS.get(d).kind: d for d in axes.datasets}
    if len(kinds) > 1:
        raise SpecError(f"{source}: one track cannot mix 2D and image datasets ({', '.join(kinds.values())}); "
                        "put them in separate [tracks.<name>] tables")  # fmt: skip
    (kind,) = kinds
    sizes = [DATASETS.get(d).reference_size for d in axes.datasets if DATASETS.get(d).reference_size]
    if "samples" not in table.get("eval", {}) and sizes:  # the default, capped by the reference images there are
        evaluation = dataclasses.replace(evaluation, samples=min(evaluation.samples, *sizes))
    if evaluation.metrics in ((), ("all",)):
        names = tuple(n for n, m in METRICS.items() if m.kind == kind and m.default)
        if evaluation.extractor == "inception":  # the classifier's view needs the classifier
            names = tuple(n for n in names if n not in CLASSIFIER_ONLY)
        evaluation = dataclasses.replace(evaluation, metrics=names)
    elif evaluation.extractor == "inception" and set(evaluation.metrics) & set(CLASSIFIER_ONLY):
        raise SpecError(f"{source}: {', '.join(CLASSIFIER_ONLY)} are the classifier's view of the samples; "
                        "with extractor = \"inception\" valid metrics are fd, kid, precision, recall")  # fmt: skip
    track = Track(name, axes, train, evaluation)
    _validate(track, source)
    return track


def _check_keys(table: dict, valid: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise SpecError(f"{where}: expected a table")
    unknown = sorted(set(table) - valid)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(valid))}")


def _build(cls: type, table: dict, where: str) -> Any:
    """Instantiate a config dataclass from a TOML table, checking keys and value types."""
    _check_keys(table, {f.name for f in fields(cls)}, where)
    values = {}
    defaults = cls.__dataclass_fields__
    for key, value in table.items():
        default = defaults[key].default
        expected = type(default) if default is not dataclasses.MISSING else tuple
        if expected is tuple:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise SpecError(f"{where}: {key!r} must be a list, got {value!r}")
            value = tuple(value)
        elif expected is bool:
            if not isinstance(value, bool):
                raise SpecError(f"{where}: {key!r} must be true or false, got {value!r}")
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or isinstance(value, bool):
            raise SpecError(f"{where}: {key!r} must be {expected.__name__}, got {value!r}")
        values[key] = value
    try:
        return cls(**values)
    except TypeError as err:  # a required key is missing
        raise SpecError(f"{where}: {err}") from None


def _validate(spec: Track, source: str) -> None:
    axes = spec.axes
    _check_names(axes.methods, METHODS, source)
    _check_names(axes.solvers, SOLVERS, source)
    _check_names(spec.eval.metrics, METRICS, source)
    if spec.train.weights:
        if not Path(spec.train.weights).is_file():
            raise SpecError(f"{source}: weights file {spec.train.weights} does not exist")
        closed = [m for m in axes.methods if hasattr(METHODS.get(m), "network")]
        if closed:
            raise SpecError(f"{source}: {closed[0]!r} integrates a closed-form field: it has no network to load "
                            "weights into; valid: a method that trains a network")  # fmt: skip
    if spec.train.net:
        _check_names((spec.train.net,), NETS, source)
        if spec.kind not in NETS.get(spec.train.net).kinds:
            valid = ", ".join(n for n, f in NETS.items() if spec.kind in f.kinds)
            raise SpecError(f"{source}: net {spec.train.net!r} does not build for {spec.kind} datasets; valid: {valid}")
    wrong = [m for m in spec.eval.metrics if METRICS.get(m).kind != spec.kind]
    if wrong:
        valid = ", ".join(n for n, m in METRICS.items() if m.kind == spec.kind)
        raise SpecError(f"{source}: metric {wrong[0]!r} does not apply to {spec.kind} datasets; valid: {valid}")
    if spec.eval.extractor not in EXTRACTORS:
        raise SpecError(f"{source}: unknown extractor {spec.eval.extractor!r}; valid: {', '.join(EXTRACTORS)}")
    if spec.eval.batch_size < 0:
        raise SpecError(f"{source}: batch_size must be 0 (all samples at once) or a positive integer, "
                        f"got {spec.eval.batch_size}")  # fmt: skip
    for dataset in axes.datasets:
        size = DATASETS.get(dataset).reference_size
        if size is not None and spec.eval.samples > size:
            what = "images" if spec.kind == "images" else "points"
            origin = DATASETS.origin(dataset)
            there = f" (read from {origin.removeprefix('file ')})" if origin.startswith("file ") else ""
            raise SpecError(f"{source}: samples = {spec.eval.samples} is more than the {size} reference {what} "
                            f"of {dataset}{there}; valid: 1 to {size}"
                            + (f", or a larger reference = N in [datasets.{dataset}]" if there else ""))  # fmt: skip
    for key in ("methods", "datasets", "solvers"):
        if not getattr(axes, key):
            raise SpecError(f"{source}: [axes] {key} is empty")
    for field in fields(Axes):
        values = getattr(axes, field.name)
        repeated = sorted({repr(v) for v in values if values.count(v) > 1})
        if repeated:
            raise SpecError(f"{source}: [axes] {field.name} lists {repeated[0]} more than once")
    for seed in axes.seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise SpecError(f"{source}: seeds must be non-negative integers, got {seed!r}")
    try:
        for steps in axes.steps:
            check_steps(steps)
        for tol in axes.tolerances:
            check_tolerance(tol)
    except SpecError as err:
        raise SpecError(f"{source}: [axes] {err}") from None
    kinds = {SOLVERS.get(s).kind for s in axes.solvers}
    if kinds - {"adaptive"} and not axes.steps:
        raise SpecError(f"{source}: fixed-step and native solvers need a non-empty [axes] steps")
    if "adaptive" in kinds and not axes.tolerances:
        raise SpecError(f"{source}: adaptive solvers need a non-empty [axes] tolerances")
    positive = {
        "steps": spec.train.steps,
        "batch_size": spec.train.batch_size,
        "width": spec.train.width,
        "depth": spec.train.depth,
        "log_every": spec.train.log_every,
        "patch": spec.train.patch,
        "samples": spec.eval.samples,
        "grid": spec.eval.grid,
    }
    for key, value in positive.items():
        if value <= 0:
            raise SpecError(f"{source}: {key} must be positive, got {value}")
    if spec.kind == "images" and spec.train.net in ("", "unet"):
        for dataset in axes.datasets:
            problem = shape_problem(DATASETS.get(dataset).dims, spec.train.patch, spec.train.depth)
            if problem:
                raise SpecError(f"{source}: [train] {problem} ({dataset})")
    if spec.kind == "images" and spec.eval.extractor == "classifier":
        unlabelled = [d for d in axes.datasets if not DATASETS.get(d).labelled]
        if unlabelled:
            raise SpecError(
                f"{source}: {unlabelled[0]} has no labels, and the classifier extractor trains on them; "
                'use extractor = "inception" with --inception-weights PATH, or give the set labels'
            )
    if not 0 <= spec.train.ema < 1:
        raise SpecError(f"{source}: ema must be in [0, 1), got {spec.train.ema}")
    if not spec.train.lr > 0:
        raise SpecError(f"{source}: lr must be positive, got {spec.train.lr}")


def validate_track(track: Track, source: str) -> Track:
    """`track` if it is valid (as a spec file's track would be checked), else SpecError."""
    _validate(track, source)
    return track


def train_config(base: TrainConfig, settings: dict, source: str) -> TrainConfig:
    """`base` with the fields of `settings` replaced, each checked as a spec file's [train] key."""
    merged = {**dataclasses.asdict(base), **settings}
    return _build(TrainConfig, merged, source)


def _check_names(names: tuple, registry: Registry, source: str) -> None:
    for name in names:
        try:
            registry.get(name)
        except UnknownNameError as err:
            raise SpecError(f"{source}: {err}") from None


def check_steps(steps: object) -> int:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        raise SpecError(f"steps must be a positive integer, got {steps!r}")
    return steps


def check_tolerance(tol: object) -> float:
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol > 0:
        raise SpecError(f"tolerance must be a positive number, got {tol!r}")
    return float(tol)
