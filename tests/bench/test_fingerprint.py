"""Code fingerprints (bench.fingerprint): what changes one, and what must not.

Each test writes a small module to a temporary folder, imports it, fingerprints a component,
edits the file, imports it again under a new name and compares. The module's top-level package
is itself, so its code is followed like a plugin file's.
"""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.fingerprint import fingerprint, normalized_source
from methods.registry import Registry

_names = itertools.count()

BASE = '''
"""A module of components."""
from dataclasses import dataclass, field

SCALE = 2.0


def helper(x):
    return x * SCALE


def unrelated(x):
    return x - 1


def loss(x):
    """The loss."""
    # the target
    return helper(x) + 1


@dataclass(frozen=True)
class Method:
    name: str
    weight: float = 1.0
    description: str = field(default="a method", metadata={"fingerprint": False})

    def loss(self, x):
        return loss(x) * self.weight

    def velocity(self, x):
        return x
'''


def load(tmp_path: Path, source: str, name: str = "fpmod"):
    """Import `source` as module `name`, from a file of its own: a second load under the same name
    replaces the first, as an edit between two runs does (the qualified names stay the same)."""
    path = tmp_path / str(next(_names)) / f"{name}.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def edited(old: str, new: str, source: str = BASE) -> str:
    assert old in source
    return source.replace(old, new)


def same_code(tmp_path: Path, edited_source: str, base: str = BASE, pick=lambda m: m.Method("m")) -> bool:
    """Whether the picked component has one fingerprint before and after the edit."""
    before = fingerprint(pick(load(tmp_path, base)))
    return before == fingerprint(pick(load(tmp_path, edited_source)))


@pytest.mark.parametrize(
    "old, new",
    [
        ("    # the target\n", "    # the target, as in eq. (2)\n"),  # a comment
        ('    """The loss."""\n', '    """The loss, rewritten."""\n'),  # a docstring
        ("return helper(x) + 1", "return helper(x)   +   1"),  # spacing
        ("def unrelated(x):\n    return x - 1", "def unrelated(x):\n    return x - 2"),  # code the method never uses
        ('metadata={"fingerprint": False})', 'metadata={"fingerprint": False})  # described elsewhere'),
        ("SCALE = 2.0\n", "SCALE = 2.0\n\n\n# a note far from the code\n"),  # lines moved down
    ],
)
def test_edits_that_do_not_change_the_code_keep_the_fingerprint(tmp_path, old, new):
    assert same_code(tmp_path, edited(old, new))


@pytest.mark.parametrize(
    "old, new",
    [
        ("return helper(x) + 1", "return helper(x) + 2"),  # the function itself
        ("    return x * SCALE", "    return x * SCALE * SCALE"),  # a helper it calls
        ("SCALE = 2.0", "SCALE = 3.0"),  # a module-level value the helper uses
        ("return loss(x) * self.weight", "return loss(x) / self.weight"),  # the class's own method
        ("    def velocity(self, x):\n        return x", "    def velocity(self, x):\n        return -x"),
    ],
)
def test_edits_to_code_the_component_uses_change_the_fingerprint(tmp_path, old, new):
    assert not same_code(tmp_path, edited(old, new))


def test_fields_count_and_a_description_does_not(tmp_path):
    module = load(tmp_path, BASE)
    base = fingerprint(module.Method("m"))
    assert fingerprint(module.Method("m")) == base  # deterministic
    assert fingerprint(module.Method("m", weight=2.0)) != base
    assert fingerprint(module.Method("m", description="another text")) == base


def test_two_closures_of_one_def_and_two_lambdas_differ(tmp_path):
    module = load(
        tmp_path,
        """
        from dataclasses import dataclass

        def make(k):
            def scaled(x):
                return k * x
            return scaled

        @dataclass
        class Pair:
            a: object
            b: object

        ONE = Pair(lambda t: 1 - t, lambda t: t)
        TWO = Pair(lambda t: 1 - t, lambda t: 2 * t)
    """,
    )
    assert fingerprint(module.make(1)) != fingerprint(module.make(2))
    assert fingerprint(module.make(1)) == fingerprint(module.make(1))
    assert fingerprint(module.ONE) != fingerprint(module.TWO)


def test_a_declared_version_stands_for_the_code(tmp_path):
    source = BASE.replace("    name: str\n", "    name: str\n    version: str = '1'\n")
    assert same_code(tmp_path, edited("return loss(x) * self.weight", "return loss(x) / self.weight", source), source)
    module = load(tmp_path, source)
    assert fingerprint(module.Method("m", version="2")) != fingerprint(module.Method("m"))
    assert fingerprint(module.Method("m", weight=3.0)) != fingerprint(module.Method("m"))  # fields still count


def test_a_registry_counts_by_its_kind_only(tmp_path):
    module = load(
        tmp_path,
        """
        from methods.registry import Registry
        THINGS = Registry("thing")
        THINGS.add("a", 1)

        def lookup(name):
            return THINGS.get(name)
    """,
    )
    before = fingerprint(module.lookup)
    module.THINGS.add("b", 2)  # a plugin registering another name changes no key
    assert fingerprint(module.lookup) == before
    assert isinstance(module.THINGS, Registry)


def test_imports_inside_a_function_are_followed(tmp_path, monkeypatch):
    """A function of a package that imports a sibling module inside its body (as a plugin package may)."""

    def outer_fingerprint(inner: str) -> str:
        root = tmp_path / str(next(_names))
        (root / "fppkg").mkdir(parents=True)
        (root / "fppkg" / "__init__.py").write_text("")
        (root / "fppkg" / "helper.py").write_text(inner)
        outer = "def outer(x):\n    from fppkg.helper import inner\n    return inner(x)\n"
        (root / "fppkg" / "main.py").write_text(outer)
        for name in ("fppkg", "fppkg.helper", "fppkg.main"):
            sys.modules.pop(name, None)
        monkeypatch.syspath_prepend(str(root))
        return fingerprint(importlib.import_module("fppkg.main").outer)

    first = outer_fingerprint("def inner(x):\n    return x + 1\n")
    assert outer_fingerprint("def inner(x):\n    return x + 1  # a comment\n") == first
    assert outer_fingerprint("def inner(x):\n    return x + 2\n") != first


def test_state_does_not_count_and_a_dispatch_table_does(tmp_path):
    """A module's cache, counter or probed value changes as it runs: two processes that did
    different work must key the same code alike. A dict of functions counts through them."""
    source = """
        _CACHE = {}
        _probe = None
        EVENTS = {"computed": 0}

        def double(x):
            return 2 * x

        TABLE = {"double": double}

        def load(name):
            global _probe
            if _probe is None:
                _probe = (True, 1.5)
            EVENTS["computed"] += 1
            if name not in _CACHE:
                _CACHE[name] = TABLE[name](len(name))
            return _CACHE[name]
    """
    module = load(tmp_path, source)
    before = fingerprint(module.load)
    module.load("double")
    assert module.EVENTS == {"computed": 1} and module._probe is not None
    assert fingerprint(module.load) == before
    assert not same_code(tmp_path, source.replace("return 2 * x", "return 3 * x"), source, pick=lambda m: m.load)


def test_a_decorated_function_counts_by_the_code_it_wraps(tmp_path):
    """`@torch.no_grad()` replaces a function by torch's wrapper: what counts is the wrapped code."""
    source = """
        import torch

        def helper(x):
            return x + 1

        @torch.no_grad()
        def run(x):
            return helper(x)

        class Holder:
            @torch.no_grad()
            def run(self, x):
                return helper(x)
    """
    edit = source.replace("return x + 1", "return x + 2")
    assert not same_code(tmp_path, edit, source, pick=lambda m: m.run)
    assert not same_code(tmp_path, edit, source, pick=lambda m: m.Holder())


def test_cycles_end(tmp_path):
    module = load(
        tmp_path,
        """
        class Sampler:
            def __init__(self):
                self.samplers = {"own": self.run}  # a field that is a bound method of the object

            def run(self, n):
                return even(n)

        def even(n):
            return n == 0 or odd(n - 1)

        def odd(n):
            return n != 0 and even(n - 1)
    """,
    )
    assert fingerprint(module.Sampler()) == fingerprint(module.Sampler())
    assert len(fingerprint(module.even)) == 16


def test_built_in_components_have_stable_distinct_fingerprints():
    """The built-ins: distinct code gives distinct fingerprints, and another process computes the same."""
    from bench.solvers import SOLVERS
    from methods import METHODS

    solvers = {name: fingerprint(SOLVERS.get(name)) for name in ("euler", "midpoint", "heun", "rk4")}
    assert len(set(solvers.values())) == 4
    methods = {name: fingerprint(METHODS.get(name)) for name in ("iadb", "si-linear-simple", "si-trig-simple", "ddpm")}
    assert len(set(methods.values())) == 4
    code = ("from bench.fingerprint import fingerprint; from methods import METHODS; "
            "print(fingerprint(METHODS.get('iadb')))")  # fmt: skip
    code = code.replace("; ", "\n")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == methods["iadb"]


def test_normalized_source_ignores_comments_but_not_code(tmp_path):
    a = load(tmp_path, "def f(x):\n    # note\n    return x + 1\n").f
    b = load(tmp_path, "def f(x):\n    return x + 1  # another note\n").f
    c = load(tmp_path, "def f(x):\n    return x - 1\n").f
    assert normalized_source(a) == normalized_source(b) != normalized_source(c)
