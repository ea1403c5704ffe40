"""The tree shows the architecture, and the imports keep it: they only go down the layers of
docs/architecture.md, and across a package boundary only to names the package makes public.

The check reads the source (ast), so a lazy import inside a function counts as much as one at
the top; an import under `if TYPE_CHECKING:` is a type annotation, not a dependency, and is
left out.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = [
    ["methods"],
    ["bench.rng", "bench.profiles", "bench.fingerprint"],
    ["bench.store"],
    ["bench.data", "bench.nets", "bench.solvers"],
    ["bench.plugins"],
    ["bench.evaluate"],
    ["bench.run"],
    ["bench.studies", "bench.check"],
    ["bench.sweep"],
    ["bench.tools"],
    ["reports"],
    ["bench.cli"],
    ["bench.__main__", "bench"],
]
"""Lowest first. A unit imports only from itself and from units of lower layers; units of one
layer do not import each other. `reports` reads results folders only, so it imports nothing of
`bench` or `methods`; the CLI is the one place above it."""
READS_RESULTS_ONLY = ("reports",)
"""Units that import nothing of `bench` or `methods`, whatever their layer."""
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}
PACKAGES = ("methods", "bench", "reports")


def unit_of(module: str) -> str:
    """The layer unit a dotted module belongs to: `bench.<package>` or `bench.<module>`, else its top package."""
    parts = module.split(".")
    if parts[0] == "bench" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def is_module(dotted: str, root: Path) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(path: Path, root: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for each import of `path` outside TYPE_CHECKING blocks: name is None when
    a module itself is imported (`import a.b`, or `from a import b` where a.b is a module)."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or ""), None))
                continue
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                found.append((node.lineno, dotted, None) if is_module(dotted, root) else
                             (node.lineno, node.module, alias.name))  # fmt: skip
    return found


def public_names(module: str, root: Path) -> set[str]:
    """The names in `module`'s `__all__`, read from its source (empty when it has none)."""
    path = root.joinpath(*module.split("."))
    path = path / "__init__.py" if (path / "__init__.py").exists() else path.with_suffix(".py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def violations(root: Path) -> list[str]:
    """Every import of the packages under `root` that goes up a layer, sideways, or past a public surface."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(path, root)
            here = unit_of(module)
            if here not in LEVEL:
                found.append(f"{path.relative_to(root)}: {here} has no layer in tests/test_layout.py LAYERS")
                continue
            for line, target, name in imports(path, root):
                where = f"{path.relative_to(root)}:{line}: {module} imports {target}" + (f".{name}" if name else "")
                if target.startswith("."):
                    found.append(f"{where}: a relative import (write it absolute)")
                    continue
                if target.split(".")[0] not in PACKAGES or (there := unit_of(target)) == here:
                    continue
                parent, _, last = target.rpartition(".")
                if there not in LEVEL:
                    found.append(f"{where}, which has no layer")
                elif here in READS_RESULTS_ONLY:
                    found.append(f"{where}: {here} reads results folders, it imports nothing of bench or methods")
                elif LEVEL[there] >= LEVEL[here]:
                    found.append(f"{where}: {there} is not below {here}")
                elif not target.startswith("bench.") or target == there and name is None:
                    continue
                elif name is None and last not in public_names(parent, root):
                    found.append(f"{where}: {last} not in {parent}.__all__")
                elif name is not None and target != there:
                    found.append(f"{where}: import from the package, {there}, not from its module")
                elif name is not None and name not in public_names(target, root):
                    found.append(f"{where}: {name} not in {target}.__all__")
    return found


def test_imports_only_go_down_the_layers_and_through_public_names():
    assert violations(ROOT) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("bench/store/results.py", "from bench.sweep import run\n", "bench.sweep is not below bench.store"),
        ("bench/data/datasets.py", "def f():\n    from bench.nets import MLP\n", "bench.nets is not below bench.data"),
        ("methods/base.py", "import bench.rng\n", "bench.rng is not below methods"),
        ("reports/tables.py", "from bench.run import Spec\n", "reports reads results folders"),
        ("bench/sweep/runner.py", "from bench.run.training import train\n", "not from its module"),
        ("bench/sweep/runner.py", "from bench.run import _secret\n", "_secret not in bench.run.__all__"),
        ("bench/extra/thing.py", "x = 1\n", "bench.extra has no layer"),
    ],
)
def test_the_check_fails_on_an_upward_sideways_or_private_import(tmp_path, module, source, expected):
    """A copy of the tree with one bad import planted: the check names it."""
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(path.read_text())
    planted = tmp_path / module
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text((planted.read_text() if planted.exists() else "") + source)
    assert violations(ROOT) == []
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0], found


def test_a_type_checking_import_is_not_a_dependency(tmp_path):
    path = tmp_path / "bench" / "store" / "x.py"
    path.parent.mkdir(parents=True)
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench.sweep import run\n")
    assert violations(tmp_path) == []


def packages() -> list[str]:
    return sorted(module_name(p, ROOT) for p in (ROOT / "bench").rglob("__init__.py"))


@pytest.mark.parametrize("package", [*packages(), "bench.solvers", "bench.rng", "bench.fingerprint", "methods"])
def test_every_package_names_its_public_surface_and_every_name_resolves(package):
    module = importlib.import_module(package)
    assert module.__doc__ and module.__doc__.strip(), f"{package} has no docstring saying what it holds"
    if package in ("bench", "bench.profiles"):
        return  # the root names its packages in its docstring; profiles are TOML files
    assert isinstance(getattr(module, "__all__", None), list) and module.__all__, f"{package} has no __all__"
    assert module.__all__ == sorted(set(module.__all__), key=module.__all__.index), "duplicates in __all__"
    for name in module.__all__:
        assert getattr(module, name, None) is not None or importlib.import_module(f"{package}.{name}"), name


def test_the_tests_mirror_the_packages():
    """A folder tests/bench/<package>/ exists only for a package bench/<package>/."""
    test_dirs = {p.name for p in (ROOT / "tests" / "bench").iterdir() if p.is_dir() and p.name != "__pycache__"}
    package_dirs = {p.parent.name for p in (ROOT / "bench").glob("*/__init__.py")} - {"profiles"}
    assert test_dirs <= package_dirs, f"tests for no package: {sorted(test_dirs - package_dirs)}"
