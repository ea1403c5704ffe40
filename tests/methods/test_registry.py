"""What each built-in method name stands for, built afresh (not the import-time registry), and the
registry's own contract: duplicates and bad names refused, unknown names answered with the valid ones.

The table below is written from the papers' names, not from the code: `si-<interpolant>-<objective>`
is the stochastic interpolant with that interpolant and objective, `exact-*` integrates the closed-form
field of its base method, DDPM has its ancestral and DDIM samplers, the noisy interpolant one
Euler-Maruyama sampler per diffusion coefficient."""

from __future__ import annotations

import pytest
import torch

from methods import ddpm, exact, expand_time, interpolants, stochastic
from methods.ddpm import DDPM
from methods.exact import Exact
from methods.interpolants import IADB, LINEAR, TRIG, StochasticInterpolant
from methods.registry import BUILT_IN, Registry, UnknownNameError
from methods.stochastic import NoisyInterpolant, em_sample

EXPECTED = {
    "iadb": (IADB, None, None),
    "si-linear-simple": (StochasticInterpolant, LINEAR, "simple"),
    "si-linear-complex": (StochasticInterpolant, LINEAR, "complex"),
    "si-trig-simple": (StochasticInterpolant, TRIG, "simple"),
    "si-trig-complex": (StochasticInterpolant, TRIG, "complex"),
    "ddpm": (DDPM, None, None),
    "si-gamma-linear": (NoisyInterpolant, LINEAR, None),
}
EXACT_BASES = {
    "exact": "iadb",
    "exact-trig": "si-trig-simple",
    "exact-ddpm": "ddpm",
    "exact-si-gamma": "si-gamma-linear",
}


@pytest.fixture
def fresh() -> Registry:
    registry = Registry("method")
    for module in (interpolants, ddpm, stochastic, exact):  # exact looks its bases up
        module.register(registry)
    return registry


def test_every_built_in_name_is_the_method_it_names(fresh):
    assert fresh.names() == [*EXPECTED, *EXACT_BASES]
    for name, (kind, interpolant, objective) in EXPECTED.items():
        method = fresh.get(name)
        assert type(method) is kind and method.name == name, name
        assert fresh.origin(name) == BUILT_IN
        if interpolant is not None:
            assert method.interpolant is interpolant, name
        if objective is not None:
            assert method.objective == objective, name
    for name, base in EXACT_BASES.items():
        method = fresh.get(name)
        assert type(method) is Exact and method.name == name and method.base is fresh.get(base)
        assert method.native_samplers == fresh.get(base).native_samplers
        assert method.time_range == fresh.get(base).time_range
    iadb_like = [fresh.get(n) for n in ("iadb", "si-linear-simple", "si-trig-simple")]
    assert all(m.time_range == (0.0, 1.0) and not m.needs_gaussian_source for m in iadb_like)


def test_ddpm_and_the_noisy_interpolant_carry_their_own_samplers():
    d = DDPM()
    assert d.needs_gaussian_source and d.num_steps == 1000
    assert (d.beta_min, d.beta_max) == (1e-4, 0.02)  # Ho et al. 2020, sec. 4
    assert d.native_samplers == {"ancestral": d.sample_ancestral, "ddim": d.sample_ddim}
    noisy = NoisyInterpolant("n", LINEAR)
    assert list(noisy.native_samplers) == ["em-eps0", "em-eps0.5", "em-eps1", "em-eps2"]
    for (name, sampler), eps0 in zip(noisy.native_samplers.items(), (0.0, 0.5, 1.0, 2.0)):
        assert sampler.func is em_sample and sampler.args == (noisy, eps0), name
    # the eps0 = 0 sampler is Euler on the probability-flow ODE over the method's time range
    net = torch.nn.Linear(2, 4)

    def two_heads(x, t):
        return net(x) * t[:, None]

    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = noisy.native_samplers["em-eps0"](two_heads, x, 3, noise)
        t0, t1 = noisy.time_range
        want = x.clone()
        for k in range(3):
            t = t0 + (t1 - t0) * k / 3
            want = want + (t1 - t0) / 3 * noisy.velocity(two_heads, want, t)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_an_unknown_objective_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown objective 'slow'; valid: simple, complex"):
        StochasticInterpolant("x", LINEAR, "slow")
    for objective in ("simple", "complex"):
        assert StochasticInterpolant("x", LINEAR, objective).objective == objective


def test_the_registry_refuses_duplicates_and_bad_names_and_lists_the_valid_ones():
    r: Registry[int] = Registry("widget")
    assert r.kind == "widget" and len(r) == 0 and r.names() == []
    assert r.add("one", 1) == 1
    assert r.register("two")(2) == 2
    r.add("three", 3, origin="file /x.py")
    assert r.names() == ["one", "two", "three"] and list(r.items()) == [("one", 1), ("two", 2), ("three", 3)]
    assert len(r) == 3 and "two" in r and "four" not in r
    assert (r.origin("one"), r.origin("two"), r.origin("three")) == (BUILT_IN, BUILT_IN, "file /x.py")
    with pytest.raises(ValueError, match=r"^widget 'one' is already registered \(built-in\)$"):
        r.add("one", 10)
    assert r.get("one") == 1
    for bad in ("One", "o ne"):
        with pytest.raises(ValueError, match=rf"^widget names are lowercase without spaces, got '{bad}'$"):
            r.add(bad, 0)
    assert bad not in r and len(r) == 3
    for unknown in ("four", ["not", "hashable"]):
        with pytest.raises(UnknownNameError) as err:
            r.get(unknown)
        assert str(err.value) == f"unknown widget {unknown!r}; valid widgets: one, two, three"
        assert (err.value.kind, err.value.name, err.value.valid) == ("widget", unknown, ["one", "two", "three"])
    with pytest.raises(UnknownNameError):
        r.origin("four")
    saved = r.snapshot()
    r.add("four", 4, origin="plugin")
    assert saved == ({"one": 1, "two": 2, "three": 3}, {"one": BUILT_IN, "two": BUILT_IN, "three": "file /x.py"})
    r.restore(saved)
    assert r.names() == ["one", "two", "three"] and "four" not in r
    assert [r.get(n) for n in r.names()] == [1, 2, 3] and r.origin("three") == "file /x.py"
    r.add("four", 5)  # restore copied: the snapshot itself is not the registry's storage
    assert saved[0] == {"one": 1, "two": 2, "three": 3} and r.origin("four") == BUILT_IN


def test_velocities_call_the_network_at_the_time_given_and_exact_methods_use_their_bases_field(fresh):
    """An interpolant's velocity is the network at (x, t), t broadcast per sample; an `exact-*`
    method's velocity is its base's, and its network the base's ideal network on the mixture."""
    from bench.data.datasets import DATASETS
    from methods.exact import ideal_network

    def net(x, t):
        return x * t[:, None] + 2 * t[:, None] ** 2

    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for name in ("iadb", "si-linear-simple", "si-trig-complex"):
        got = fresh.get(name).velocity(net, x, 0.3)
        torch.testing.assert_close(got, x * 0.3 + 2 * 0.09), name
    mixture = DATASETS.get("gauss-gmm8").mixture
    for name, base in EXACT_BASES.items():
        method, base = fresh.get(name), fresh.get(base)
        ideal, mine = ideal_network(base, mixture), method.network(mixture)
        t = torch.full((6,), 0.4, dtype=torch.float64)
        torch.testing.assert_close(mine(x, t), ideal(x, t))
        torch.testing.assert_close(method.velocity(ideal, x, 0.4), base.velocity(ideal, x, 0.4))


def test_a_methods_network_returns_as_many_fields_as_its_outputs_say():
    """net_outputs: a method's `outputs` attribute, and 1 (a velocity alone) for a method, such as a
    plugin's, that has none."""
    from methods.base import net_outputs

    class Plain:
        pass

    class Two:
        outputs = 2

    assert (net_outputs(Plain()), net_outputs(Two()), net_outputs(NoisyInterpolant("n", LINEAR))) == (1, 2, 2)


def test_expand_time_gives_a_per_sample_vector_in_the_datas_dtype():
    """A float or a 0-d tensor is repeated once per sample; a vector [n] is kept, cast to x's dtype."""
    x = torch.zeros(4, 2, dtype=torch.float64)
    for t in (0.25, torch.tensor(0.25)):
        got = expand_time(t, x)
        assert got.dtype == torch.float64 and torch.equal(got, torch.full((4,), 0.25, dtype=torch.float64))
    t = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float32)
    got = expand_time(t, x)
    assert got.dtype == torch.float64 and torch.equal(got, t.double())
