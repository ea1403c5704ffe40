"""Sweep specifications: TOML files declaring the axes of a sweep, parsed and validated.

A spec names its axes (method x dataset x seed x solver x steps-or-tolerance), the training
recipe and the evaluation. Every key is checked: an unknown key, an unknown name or a value
out of range raises `SpecError` with the problem and the valid choices, before any work.
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

from bench.data import DATASETS
from bench.metrics import METRICS
from bench.solvers import SOLVERS
from methods import METHODS
from methods.registry import Registry, UnknownNameError


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


@dataclass(frozen=True)
class EvalConfig:
    samples: int = 1000
    metrics: tuple[str, ...] = ("w2", "energy")


@dataclass(frozen=True)
class Axes:
    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    solvers: tuple[str, ...] = ("euler", "midpoint", "heun", "rk4")
    steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    tolerances: tuple[float, ...] = ()


@dataclass(frozen=True)
class Spec:
    name: str
    axes: Axes
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def config_hash(self) -> str:
        return stable_hash(dataclasses.asdict(self))


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short hex digest of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


PROFILES = ("smoke", "quick")


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
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "spec") -> Spec:
    """Parse and validate a TOML spec (parsed with tomllib, never executed)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{source}: malformed TOML: {err}") from None
    _check_keys(raw, {"name", "axes", "train", "eval"}, source)
    name = raw.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise SpecError(f"{source}: 'name' must be a non-empty string of letters, digits, '-' or '_'")
    if "axes" not in raw:
        raise SpecError(f"{source}: missing [axes] table")
    axes = _build(Axes, raw["axes"], f"{source} [axes]")
    for key, registry in (("methods", METHODS), ("datasets", DATASETS), ("solvers", SOLVERS)):
        if getattr(axes, key) == ("all",):  # `methods = "all"` means every registered name
            axes = dataclasses.replace(axes, **{key: tuple(registry.names())})
    train = _build(TrainConfig, raw.get("train", {}), f"{source} [train]")
    evaluation = _build(EvalConfig, raw.get("eval", {}), f"{source} [eval]")
    spec = Spec(name, axes, train, evaluation)
    _validate(spec, source)
    return spec


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
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or isinstance(value, bool):
            raise SpecError(f"{where}: {key!r} must be {expected.__name__}, got {value!r}")
        values[key] = value
    try:
        return cls(**values)
    except TypeError as err:  # a required key is missing
        raise SpecError(f"{where}: {err}") from None


def _validate(spec: Spec, source: str) -> None:
    axes = spec.axes
    _check_names(axes.methods, METHODS, source)
    _check_names(axes.datasets, DATASETS, source)
    _check_names(axes.solvers, SOLVERS, source)
    _check_names(spec.eval.metrics, METRICS, source)
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
        "samples": spec.eval.samples,
    }
    for key, value in positive.items():
        if value <= 0:
            raise SpecError(f"{source}: {key} must be positive, got {value}")
    if not spec.train.lr > 0:
        raise SpecError(f"{source}: lr must be positive, got {spec.train.lr}")


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
