"""`python -m bench check` (bench.check): the built-ins pass every check, and each check fails on
the broken component it is there to catch: a solver whose declared order is wrong, a dataset that
is not deterministic or leaves its range, a method whose loss does not train or whose velocity
has the wrong shape, a network factory that ignores `outputs` or its seed.

The oracle of the solver order is the closed form of dx/dt = x cos t, x(1) = x(0) e^(sin 1),
and the orders the textbook gives each built-in scheme.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap

import pytest
import torch

from bench import plugins
from bench.check import EXACT, X0, assert_conforms, check, observed_order
from bench.cli import main
from bench.data import DATASETS, Dataset
from bench.nets import MLP, NETS, NetFactory
from bench.solvers import SOLVERS, Solver, euler, rk4
from methods import METHODS


@pytest.fixture(autouse=True)
def isolated():
    with plugins.isolated():
        yield


def register(kind: str, obj) -> None:
    """Put a deliberately broken component in its registry (the test's isolation removes it)."""
    plugins.KINDS[kind].add(obj.name, obj, origin="test")


def statuses(name: str) -> dict[str, str]:
    return {r.check: r.status for r in check([name])}


def details(name: str, which: str) -> str:
    return next(r.detail for r in check([name]) if r.check == which)


def test_the_closed_form_is_the_solution():
    """x(1) = x(0) e^(sin 1) solves dx/dt = x cos t: RK4 at 1,000 steps agrees to 1e-12."""
    grid = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64)
    assert torch.allclose(rk4(lambda x, t: x * math.cos(t), X0.clone(), grid), EXACT, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name, order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("rk4", 4)])
def test_the_built_in_solvers_show_their_textbook_order(name, order):
    slope, errors = observed_order(SOLVERS.get(name))
    assert abs(slope - order) < 0.2 and errors == sorted(errors, reverse=True)


def test_every_built_in_passes_or_skips():
    names = [
        *METHODS.names(),
        *SOLVERS.names(),
        *NETS.names(),
        *(n for n, d in DATASETS.items() if d.kind == "points"),
        "mnist5k",
    ]
    results = check(names)
    assert [r.line() for r in results if r.failed] == []
    skipped = {(r.name, r.check) for r in results if r.status == "SKIP"}
    assert skipped == {
        *((n, "order") for n, s in SOLVERS.items() if s.kind == "native"),
        *((n, "training") for n in METHODS.names() if n.startswith("exact")),
    }


def test_a_solver_declaring_the_wrong_order_fails_either_way():
    register("solver", Solver("euler-as-2", "fixed", 2, euler, "Euler claiming order 2"))
    register("solver", Solver("rk4-as-2", "fixed", 2, rk4, "RK4 claiming order 2"))
    assert statuses("euler-as-2") == {"protocol": "PASS", "order": "FAIL"}
    assert details("euler-as-2", "order").startswith("observed 1.01, declared 2 (within +-0.5: no)")
    assert statuses("rk4-as-2")["order"] == "FAIL"
    assert details("rk4-as-2", "order").startswith("observed 4.01, declared 2")


def test_a_solver_with_a_wrong_coefficient_fails():
    """Heun with its second slope weighted 0.6 instead of 0.5 is only first order."""

    def bad_heun(velocity, x, grid):
        for t, t_next in zip(grid.tolist()[:-1], grid.tolist()[1:]):
            h = t_next - t
            k1 = velocity(x, t)
            x = x + h * (0.4 * k1 + 0.6 * velocity(x + h * k1, t_next))
        return x

    register("solver", Solver("bad-heun", "fixed", 2, bad_heun, ""))
    assert statuses("bad-heun")["order"] == "FAIL"


def test_an_inaccurate_adaptive_solver_fails():
    register(
        "solver",
        dataclasses.replace(
            SOLVERS.get("rk45"),
            name="sloppy",
            fn=lambda v, x, grid, tol: euler(v, x, torch.linspace(0.0, 1.0, 5, dtype=torch.float64)),
        ),
    )
    assert statuses("sloppy") == {"protocol": "PASS", "accuracy": "FAIL"}


def moons_with(**changes) -> Dataset:
    return dataclasses.replace(DATASETS.get("gauss-moons"), **changes)


def test_a_dataset_drawing_from_the_global_rng_fails_determinism():
    register("dataset", moons_with(name="global-rng", target=lambda n, g: torch.randn(n, 2)))
    assert statuses("global-rng") == {
        "protocol": "PASS",
        "source shape": "PASS",
        "source determinism": "PASS",
        "target shape": "PASS",
        "target determinism": "FAIL",
        "gaussian source": "PASS",
    }
    assert details("global-rng", "target determinism") == (
        "it changed torch's global RNG: draw from the generator it is given"
    )


def test_a_dataset_ignoring_its_generator_or_its_seed_fails():
    fixed = torch.randn(300, 2)
    register("dataset", moons_with(name="one-sample", target=lambda n, g: fixed[:n].clone()))
    assert details("one-sample", "target determinism") == "generators of different seeds give the same samples"
    state = {"calls": 0}

    def drifting(n, g):  # deterministic in g, but also in how often it was called
        state["calls"] += 1
        return torch.randn(n, 2, generator=g) + state["calls"]

    register("dataset", moons_with(name="drifting", target=drifting))
    assert details("drifting", "target determinism") == "two draws from generators of the same seed differ"


def test_a_dataset_with_the_wrong_shape_range_or_source_fails():
    register("dataset", moons_with(name="flat", target=lambda n, g: torch.randn(n, generator=g)))
    assert statuses("flat")["target shape"] == "FAIL" and "target determinism" not in statuses("flat")
    register("dataset", moons_with(name="bounded", data_range=(-1.0, 1.0)))
    assert statuses("bounded")["target shape"] == "FAIL"  # the moons reach beyond 1
    assert "outside data_range (-1.0, 1.0)" in details("bounded", "target shape")
    register("dataset", moons_with(name="wide", source=lambda n, g: 1.2 * torch.randn(n, 2, generator=g)))
    assert statuses("wide")["gaussian source"] == "FAIL"


def method_file(tmp_path, loss: str, velocity: str) -> str:
    path = tmp_path / "candidate.py"
    path.write_text(
        textwrap.dedent(f"""
        from dataclasses import dataclass, field
        import torch
        from methods import expand_time

        @dataclass(frozen=True)
        class Candidate:
            name: str = "candidate"
            needs_gaussian_source: bool = False
            time_range: tuple = (0.0, 1.0)
            native_samplers: dict = field(default_factory=dict)

            def loss(self, net, x0, x1, t):
                x = (1 - t[:, None]) * x0 + t[:, None] * x1
                return {loss}

            def velocity(self, net, x, t):
                return {velocity}

        METHODS = {{"candidate": Candidate()}}
    """)
    )
    return str(path)


@pytest.mark.parametrize(
    "loss, velocity, failed",
    [
        ("(net(x, t) - (x1 - x0)).square().mean()", "net(x, expand_time(t, x))", None),
        (
            "(x1 - x0).square().mean() + 0 * sum(p.sum() for p in net.body.parameters())",
            "net(x, expand_time(t, x))",
            "training",
        ),
        ("(net(x, t) - (x1 - x0)).square()", "net(x, expand_time(t, x))", "training"),
        ("(net(x, t) - (x1 - x0)).square().mean()", "net(x, expand_time(t, x))[:, :1]", "velocity"),
    ],
    ids=["conforming", "loss-ignores-net", "loss-not-scalar", "velocity-shape"],
)
def test_a_method_check_fails_exactly_where_the_method_is_broken(tmp_path, loss, velocity, failed, capsys):
    path = method_file(tmp_path, loss, velocity)
    code = main(["check", "candidate", "--no-plugins", "--plugin", path])
    lines = capsys.readouterr().out.splitlines()
    fails = [line.split(":")[1].strip() for line in lines if line.startswith("FAIL")]
    assert fails == ([] if failed is None else [failed]) and code == (0 if failed is None else 1)
    assert lines[-1].startswith("check: ")


def test_the_velocity_check_reaches_the_end_of_the_time_range(tmp_path, capsys):
    """The velocity is checked at t = 0, 0.5 and 0.9 of its range (not at the end, where a schedule may be
    singular): one that is infinite at 0.9 fails."""
    path = method_file(tmp_path, "(net(x, t) - (x1 - x0)).square().mean()", "net(x, expand_time(t, x)) / (t - 0.9)")
    assert main(["check", "candidate", "--plugin", path]) == 1
    assert "FAIL method candidate: velocity: not finite at t = 0.9" in capsys.readouterr().out


def test_a_network_factory_ignoring_outputs_or_its_seed_fails():
    register("net", NetFactory("no-outputs", ("points",), lambda d, c, s, o=1: MLP(d.dims[0], 8, 1, 2), ""))
    assert statuses("no-outputs") == {"protocol": "PASS", "points outputs": "FAIL"}
    assert "outputs = 2: net(x [3, 2], t [3]) is [3, 2], expected [3, 4]" in details("no-outputs", "points outputs")

    def reseeding(d, c, s, o=1):
        torch.manual_seed(0)
        return MLP(d.dims[0], 8, 1, 2, o)

    register("net", NetFactory("reseeding", ("points",), reseeding, ""))
    assert statuses("reseeding")["points initialisation"] == "FAIL"


def test_unknown_names_and_the_pytest_helper():
    with pytest.raises(KeyError, match="unknown name 'nope'; valid names: .*euler"):
        check(["nope"])
    assert main(["check", "nope"]) == 2
    assert_conforms("euler", "iadb", "gauss-moons", "mlp")
    register("solver", Solver("euler-as-2", "fixed", 2, euler, ""))
    with pytest.raises(AssertionError, match=r"^FAIL solver euler-as-2: order: observed 1.01, declared 2"):
        assert_conforms("euler", "euler-as-2")


def test_check_loads_a_plugin_that_breaks_its_contract_and_names_what_it_lacks(tmp_path, capsys):
    """Where every other command refuses such a plugin (exit 2), check lists its protocol failures."""
    path = tmp_path / "broken_parts.py"
    path.write_text(
        textwrap.dedent("""
        from bench.solvers import Solver, euler

        class Half:
            name = "half"
            needs_gaussian_source = "no"
            time_range = (0.0, 1.0)
            native_samplers = {}

            def loss(self, net, x0, x1, t):
                return 0.0

        METHODS = {"half": Half()}
        SOLVERS = {"ab3": Solver("ab3", "fixed", None, euler, "")}
    """)
    )
    assert main(["list", "--plugin", str(path)]) == 2
    assert "breaks the method contract" in capsys.readouterr().err
    assert main(["check", "half", "ab3", "euler", "--plugin", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        "FAIL method half: protocol: needs_gaussian_source must be a bool; velocity is missing",
        "FAIL solver ab3: protocol: a fixed-step solver declares its order (an int), which `check` verifies",
    ]
    assert lines[2].startswith("PASS solver euler: protocol") and lines[-1] == "check: 2 passed, 2 failed, 0 skipped"
