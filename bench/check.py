"""`python -m bench check NAME...`: does a method, solver, dataset or network factory keep the
contract of its kind? Run it on a plugin before sweeping it; `assert_conforms` is the same check
for a plugin author's own tests.

Each name is checked in every registry that has it, one `CheckResult` per check:

- method: the protocol (attributes and signatures, `bench.plugins.protocol_problems`); its
  velocity on a tiny MLP has the data's shape and is finite across its time range; its loss is a
  finite scalar that 60 Adam steps on one fixed batch of `gauss-moons` lower to below 0.9 x its
  start; each native sampler returns finite samples of the data's shape (a closed-form
  pseudo-method, `methods.exact`, is checked with its own field on `gauss-gmm8`, untrained);
- solver: the protocol; a fixed-step solver reaches its declared order (observed within +-0.5)
  on dx/dt = x cos t, whose solution x(1) = x(0) e^(sin 1) is known, in float64 at K = 8..64
  steps; an adaptive one stays within 100 x its tolerance of that solution at each tolerance;
  a native one is the method's own sampler and is checked with the method (SKIP);
- dataset: the protocol; each sampler returns [n, *dims], finite values, within `data_range`;
  the same generator seed gives the same samples, another seed others, and torch's global RNG is
  left alone; a source declared standard normal has mean 0 and variance 1 (within 5 standard
  errors on 20,000 draws);
- net: the protocol; for each kind it builds for, outputs of shape [n, dims[0] * outputs, ...]
  for outputs 1 and 2, finite; the same seed gives the same weights and another seed others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from bench.data import DATASETS, Dataset
from bench.nets import MLP
from bench.plugins import KINDS, protocol_problems
from bench.rng import generator
from bench.run import TrainConfig, build_net
from bench.solvers import Solver
from methods.base import net_outputs
from methods.registry import UnknownNameError

__all__ = ["CheckResult", "assert_conforms", "check", "observed_order"]

PROBE_DATASET = "gauss-moons"
"""The 2D dataset a method's velocity and loss are checked on (a standard normal source, so
every method applies)."""
MIXTURE_DATASET = "gauss-gmm8"
"""The dataset a closed-form pseudo-method (`methods.exact`) is checked on: its target is a mixture."""
ORDER_STEPS = (8, 16, 32, 64)
ORDER_SLACK = 0.5
TOLERANCES = (1e-3, 1e-6)


@dataclass(frozen=True)
class CheckResult:
    status: str  # "PASS", "FAIL" or "SKIP"
    kind: str
    name: str
    check: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def line(self) -> str:
        return f"{self.status} {self.kind} {self.name}: {self.check}: {self.detail}"


def check(names: Iterable[str]) -> list[CheckResult]:
    """Every check of every name (a name in several registries is checked as each kind)."""
    results = []
    for name in names:
        kinds = [kind for kind, registry in KINDS.items() if name in registry]
        if not kinds:
            valid = sorted({n for registry in KINDS.values() for n in registry.names()})
            raise UnknownNameError("name", name, valid)
        for kind in kinds:
            results += CHECKS[kind](name, KINDS[kind].get(name))
    return results


def assert_conforms(*names: str) -> None:
    """For a plugin's own tests: raise AssertionError listing every failed check of `names`."""
    failed = [r.line() for r in check(names) if r.failed]
    if failed:
        raise AssertionError("\n".join(failed))


class _Checks:
    """Collects the results of one name's checks; a check that raises fails with the exception."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name, self.results = kind, name, []

    def run(self, check: str, body: Callable[[], str | tuple[bool, str] | None]) -> bool:
        try:
            outcome = body()
        except Exception as err:  # a check's failure, whatever the plugin raised
            self.results.append(CheckResult("FAIL", self.kind, self.name, check, f"{type(err).__name__}: {err}"))
            return False
        if outcome is None:
            return True
        ok, detail = outcome if isinstance(outcome, tuple) else (True, outcome)
        self.results.append(CheckResult("PASS" if ok else "FAIL", self.kind, self.name, check, detail))
        return ok

    def skip(self, check: str, detail: str) -> None:
        self.results.append(CheckResult("SKIP", self.kind, self.name, check, detail))

    def protocol(self, obj: object) -> bool:
        problems = protocol_problems(self.kind, obj)
        detail = "; ".join(problems) if problems else "attributes and signatures as the contract says"
        return self.run("protocol", lambda: (not problems, detail))


def _shape(x: Tensor) -> str:
    return "[" + ", ".join(map(str, x.shape)) + "]"


# --- methods ---


def _probe_net(method: object, dim: int = 2) -> MLP:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MLP(dim=dim, width=32, depth=2, time_freqs=4, outputs=net_outputs(method))


def check_method(name: str, method: object) -> list[CheckResult]:
    checks = _Checks("method", name)
    if not checks.protocol(method):
        return checks.results
    closed_form = callable(getattr(method, "network", None)) and getattr(method, "needs_mixture", False)
    data = DATASETS.get(MIXTURE_DATASET if closed_form else PROBE_DATASET)
    probe = (lambda: method.network(data.mixture)) if closed_form else (lambda: _probe_net(method))
    g = generator("check", name)
    x0, x1 = data.source(256, g), data.target(256, g)
    t = torch.rand(256, generator=g)
    extra = {"z": torch.randn(x0.shape, generator=g)} if getattr(method, "latent_noise", False) else {}
    t0, t1 = method.time_range

    def velocity() -> tuple[bool, str]:
        net = probe()
        times = [t0 + (t1 - t0) * f for f in (0.0, 0.5, 0.9)]
        with torch.no_grad():
            for time in times:
                v = method.velocity(net, x0, time)
                if not isinstance(v, Tensor) or v.shape != x0.shape:
                    got = _shape(v) if isinstance(v, Tensor) else type(v).__name__
                    return False, f"at t = {time:g} it is {got}, the data is {_shape(x0)}"
                if not torch.isfinite(v).all():
                    return False, f"not finite at t = {time:g}"
        return True, f"shape {_shape(x0)}, finite at t = {', '.join(f'{s:g}' for s in times)}"

    def training() -> tuple[bool, str]:
        net = _probe_net(method)
        with torch.no_grad():
            before = method.loss(net, x0, x1, t, **extra)
        if not isinstance(before, Tensor) or before.ndim != 0:
            got = _shape(before) if isinstance(before, Tensor) else type(before).__name__
            return False, f"the loss must be a scalar tensor, got {got}"
        if not torch.isfinite(before):
            return False, f"the loss is {before.item()} before training"
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(60):
            opt.zero_grad()
            method.loss(net, x0, x1, t, **extra).backward()
            opt.step()
        with torch.no_grad():
            after = method.loss(net, x0, x1, t, **extra)
        ok = bool(torch.isfinite(after)) and after.item() < 0.9 * before.item()
        return ok, f"loss {before.item():.4g} -> {after.item():.4g} after 60 Adam steps on one batch " + (
            "(lowered)" if ok else "(must fall below 0.9 x its start)"
        )

    checks.run("velocity", velocity)
    if closed_form:
        checks.skip("training", f"its field is closed-form (on {data.name}): nothing to train")
    else:
        checks.run("training", training)
    for solver, sampler in method.native_samplers.items():

        def native(sampler=sampler) -> tuple[bool, str]:
            net, steps = probe(), 4
            noise = torch.randn(steps, *x0.shape, generator=generator("check", name, "noise"))
            with torch.no_grad():
                x = sampler(net, x0, steps, noise)
            ok = isinstance(x, Tensor) and x.shape == x0.shape and bool(torch.isfinite(x).all())
            return ok, f"{steps} steps: {_shape(x) if isinstance(x, Tensor) else type(x).__name__}, " + (
                "finite" if ok else f"the data is {_shape(x0)}, finite"
            )

        checks.run(f"native sampler {solver}", native)
    return checks.results


# --- solvers ---


def _test_velocity(x: Tensor, t: float) -> Tensor:
    return x * math.cos(t)


X0 = torch.tensor([[1.0, -0.5], [0.25, 2.0]], dtype=torch.float64)
EXACT = X0 * math.exp(math.sin(1.0))
"""dx/dt = x cos t from x(0) = X0: x(1) = X0 e^(sin 1)."""


def observed_order(solver: Solver, steps: Iterable[int] = ORDER_STEPS) -> tuple[float, list[float]]:
    """The order a fixed-step solver shows on dx/dt = x cos t over [0, 1] (the slope of log error
    against log step size, least squares), and its errors at each K."""
    ks = list(steps)
    errors = []
    for k in ks:
        grid = torch.linspace(0.0, 1.0, k + 1, dtype=torch.float64)
        errors.append((solver.fn(_test_velocity, X0.clone(), grid) - EXACT).abs().max().item())
    logs_h = [math.log(1 / k) for k in ks]
    logs_e = [math.log(max(e, 1e-300)) for e in errors]
    mh, me = sum(logs_h) / len(ks), sum(logs_e) / len(ks)
    slope = sum((a - mh) * (b - me) for a, b in zip(logs_h, logs_e)) / sum((a - mh) ** 2 for a in logs_h)
    return slope, errors


def check_solver(name: str, solver: object) -> list[CheckResult]:
    checks = _Checks("solver", name)
    if not checks.protocol(solver):
        return checks.results
    if solver.kind == "native":
        checks.skip("order", "a native solver is a method's own sampler: check the method that supplies it")
        return checks.results
    if solver.kind == "fixed":

        def order() -> tuple[bool, str]:
            slope, errors = observed_order(solver)
            ok = abs(slope - solver.order) <= ORDER_SLACK
            errs = ", ".join(f"{e:.2e}" for e in errors)
            return ok, (f"observed {slope:.2f}, declared {solver.order} (within +-{ORDER_SLACK}: "
                        f"{'yes' if ok else 'no'}); dx/dt = x cos t, max error at K = "
                        f"{', '.join(map(str, ORDER_STEPS))}: {errs}")  # fmt: skip

        checks.run("order", order)
    else:

        def accuracy() -> tuple[bool, str]:
            grid = torch.linspace(0.0, 1.0, 2, dtype=torch.float64)
            errors = [
                (solver.fn(_test_velocity, X0.clone(), grid, tol) - EXACT).abs().max().item() for tol in TOLERANCES
            ]
            ok = all(e <= 100 * tol for e, tol in zip(errors, TOLERANCES))
            pairs = ", ".join(f"tol {tol:g}: {e:.2e}" for tol, e in zip(TOLERANCES, errors))
            return ok, f"dx/dt = x cos t, error {pairs} (each must be at most 100 x tol)"

        checks.run("accuracy", accuracy)
    return checks.results


# --- datasets ---


def check_dataset(name: str, dataset: object) -> list[CheckResult]:
    checks = _Checks("dataset", name)
    if not checks.protocol(dataset):
        return checks.results
    n = 257
    for side in ("source", "target"):
        draw = getattr(dataset, side)

        def shape_range(draw=draw, side=side) -> tuple[bool, str]:
            x = draw(n, generator("check", name, 0))
            expected = (n, *dataset.dims)
            if not isinstance(x, Tensor) or tuple(x.shape) != expected:
                got = _shape(x) if isinstance(x, Tensor) else type(x).__name__
                return False, f"{n} draws are {got}, dims {dataset.dims} need [{', '.join(map(str, expected))}]"
            if not torch.isfinite(x).all():
                return False, "not finite"
            detail = f"[{', '.join(map(str, expected))}], finite"
            if side == "target" and dataset.data_range is not None:
                lo, hi = dataset.data_range
                if x.min() < lo or x.max() > hi:
                    return False, f"values in [{x.min():.3g}, {x.max():.3g}], outside data_range {dataset.data_range}"
                detail += f", within data_range {dataset.data_range}"
            return True, detail

        def determinism(draw=draw) -> tuple[bool, str]:
            state = torch.get_rng_state()
            a, b = draw(n, generator("check", name, 0)), draw(n, generator("check", name, 0))
            other = draw(n, generator("check", name, 1))
            if not torch.equal(torch.get_rng_state(), state):
                return False, "it changed torch's global RNG: draw from the generator it is given"
            if not torch.equal(a, b):
                return False, "two draws from generators of the same seed differ"
            if torch.equal(a, other):
                return False, "generators of different seeds give the same samples"
            return True, "the same seed gives the same samples, another seed others; the global RNG is untouched"

        if checks.run(f"{side} shape", shape_range):
            checks.run(f"{side} determinism", determinism)

    if dataset.gaussian_source:

        def gaussian() -> tuple[bool, str]:
            draws = 20000
            x = dataset.source(draws, generator("check", name, "gaussian")).double().reshape(draws, -1)
            mean, var = x.mean(0), x.var(0)
            bound_mean, bound_var = 5 / math.sqrt(draws), 5 * math.sqrt(2 / draws)
            ok = bool((mean.abs() <= bound_mean).all() and ((var - 1).abs() <= bound_var).all())
            return ok, (f"declared standard normal: |mean| <= {mean.abs().max():.3f} (bound {bound_mean:.3f}), "
                        f"|var - 1| <= {(var - 1).abs().max():.3f} (bound {bound_var:.3f})")  # fmt: skip

        checks.run("gaussian source", gaussian)
    return checks.results


# --- network factories ---


def _probe_dataset(kind: str) -> Dataset:
    if kind == "points":
        return DATASETS.get(PROBE_DATASET)
    zeros = lambda n, g: torch.zeros(n, 1, 28, 28)  # noqa: E731 (never drawn: a shape for the factory)
    return Dataset("check-images", zeros, zeros, True, "1 x 28 x 28 images", dims=(1, 28, 28), kind="images",
                   data_range=(-1.0, 1.0))  # fmt: skip


PROBE_CONFIG = {"points": TrainConfig(width=32, depth=2, time_freqs=4),
                "images": TrainConfig(width=8, depth=2, time_freqs=4)}  # fmt: skip


def check_net(name: str, factory: object) -> list[CheckResult]:
    checks = _Checks("net", name)
    if not checks.protocol(factory):
        return checks.results
    for kind in factory.kinds:
        dataset, cfg = _probe_dataset(kind), replace(PROBE_CONFIG[kind], net=name)
        x = torch.randn(3, *dataset.dims, generator=generator("check", name, kind))
        t = torch.tensor([0.0, 0.5, 1.0])

        def outputs(dataset=dataset, cfg=cfg, x=x, t=t) -> tuple[bool, str]:
            shapes = []
            for count in (1, 2):
                net = build_net(dataset, cfg, 0, count)
                with torch.no_grad():
                    y = net(x, t)
                expected = (x.shape[0], dataset.dims[0] * count, *dataset.dims[1:])
                if not isinstance(y, Tensor) or tuple(y.shape) != expected:
                    got = _shape(y) if isinstance(y, Tensor) else type(y).__name__
                    return False, f"outputs = {count}: net(x {_shape(x)}, t [3]) is {got}, expected {list(expected)}"
                if not torch.isfinite(y).all():
                    return False, f"outputs = {count}: not finite"
                shapes.append(_shape(y))
            return True, f"net(x {_shape(x)}, t [3]) -> {' and '.join(shapes)} for outputs 1 and 2, finite"

        def seeded(dataset=dataset, cfg=cfg) -> tuple[bool, str]:
            a, b, c = (build_net(dataset, cfg, seed).state_dict() for seed in (0, 0, 1))
            if not all(torch.equal(a[k], b[k]) for k in a):
                return False, "two builds with the same seed have different weights"
            if a and all(torch.equal(a[k], c[k]) for k in a):
                return False, "builds with different seeds have the same weights"
            return True, "the same seed gives the same weights, another seed others"

        if checks.run(f"{kind} outputs", outputs):
            checks.run(f"{kind} initialisation", seeded)
    return checks.results


CHECKS = {"method": check_method, "solver": check_solver, "dataset": check_dataset, "net": check_net}
