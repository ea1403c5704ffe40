"""Plugins: methods, solvers, datasets and network factories from outside the package.

Two ways in, both into the one registry of each kind (`METHODS`, `SOLVERS`, `DATASETS`, `NETS`):

- an installed distribution declares entry points in the groups of `GROUPS`; the entry point's
  name is the registry key and it points at the object itself (a method instance, a
  `bench.solvers.Solver`, a `bench.data.Dataset`, a `bench.nets.NetFactory`), whose `name` must
  be the same. Its origin is the distribution and its version, e.g. `blendbench-example 0.1`;
- a local plugin, named by a sweep file's `plugins = [...]` (paths relative to the file) or by
  `--plugin`: a `.py` file (imported under its stem, its folder put on `sys.path` so it can
  import its neighbours) or a module name. It declares what it adds in module-level dicts
  `METHODS`, `SOLVERS`, `DATASETS` and `NETS` (name -> object). Its origin is `file <path>` or
  `module <name>`.

Loading is all or nothing and never silent: a plugin that fails to import, declares nothing,
registers a name that exists already (a built-in or another plugin's), or whose object breaks
its kind's contract (`protocol_problems`) raises `PluginError`, one line naming the plugin and
the reason, before any name of that load is registered; the CLI prints it and exits 2 before
anything is written. Setting `BLENDBENCH_NO_PLUGINS` (or `--no-plugins`) turns entry-point
discovery off; the regression baseline always runs with it off.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import fingerprint
from bench.data import DATASETS, Dataset
from bench.data import files as data_files
from bench.nets import NETS, NetFactory
from bench.solvers import SOLVERS, Solver
from methods import METHODS
from methods.registry import Registry

__all__ = ["ENV_NO_PLUGINS", "GROUPS", "KINDS", "PluginError", "isolated", "load", "load_entry_points",
           "protocol_problems", "restore_state", "state"]  # fmt: skip

GROUPS = {"blendbench.methods": "method", "blendbench.solvers": "solver", "blendbench.datasets": "dataset",
          "blendbench.nets": "net"}  # fmt: skip
"""Entry-point group -> the kind of what it registers."""
KINDS: dict[str, Registry] = {"method": METHODS, "solver": SOLVERS, "dataset": DATASETS, "net": NETS}
DECLARED = {"METHODS": "method", "SOLVERS": "solver", "DATASETS": "dataset", "NETS": "net"}
"""A local plugin's module-level dicts -> the kind of what they hold."""
ENV_NO_PLUGINS = "BLENDBENCH_NO_PLUGINS"
"""Set (to anything but "", "0") to turn entry-point discovery off."""
SOLVER_KINDS = ("fixed", "adaptive", "native")
DATASET_KINDS = ("points",)
"""Dataset kinds a plugin may add: image sets are read by name from their files (`bench.data.images`)."""


class PluginError(ValueError):
    """A plugin that cannot be used: the message names it and the reason."""


@dataclass
class _Loaded:
    entry_points: bool = False
    local: tuple[str, ...] = ()
    """The local plugins loaded, resolved (absolute paths, module names), in order."""


_LOADED = _Loaded()


def entry_points_disabled() -> bool:
    return os.environ.get(ENV_NO_PLUGINS, "") not in ("", "0")


def load_entry_points(lenient: bool = False) -> list[tuple[str, str, str]]:
    """Register every installed plugin of `GROUPS` (once per process; nothing when disabled).
    Returns (kind, name, origin) of what was added. lenient: register objects that break their
    kind's contract too (for `check`, which reports each problem); names are checked anyway."""
    if _LOADED.entry_points or entry_points_disabled():
        return []
    found, packages = [], []
    for group, kind in GROUPS.items():
        for point in sorted(importlib.metadata.entry_points(group=group), key=lambda p: p.name):
            dist = point.dist
            origin = f"{dist.name} {dist.version}" if dist is not None else f"entry point {point.value}"
            label = f"plugin {origin} (entry point {point.name!r} = {point.value!r} in {group})"
            modules = set(sys.modules)
            try:
                obj = point.load()
            except Exception as err:  # any failure of its import is the plugin's
                raise PluginError(f"{label}: cannot import it: {type(err).__name__}: {err}") from None
            found.append((kind, point.name, obj, origin, label))
            packages += [point.module, *_new_local_modules(modules)]
    added = _add_all(found, packages, lenient)
    _LOADED.entry_points = True
    return added


def load(refs: Sequence[str | Path], base: Path | None = None, lenient: bool = False) -> list[tuple[str, str, str]]:
    """Register the local plugins `refs` (files, relative to `base` or the working folder, or
    module names); one already loaded in this process is not loaded again. Returns (kind, name,
    origin) of what was added. lenient: as for `load_entry_points`."""
    added = []
    for ref in refs:
        resolved = _resolve(ref, base)
        if resolved in _LOADED.local:
            continue
        modules = set(sys.modules)
        module = _import(ref, resolved)
        packages = [module.__name__, *_new_local_modules(modules)]
        try:
            added += _add_all(_declared(module, resolved), packages, lenient)
        except PluginError:
            if resolved.endswith(".py"):  # refused: as if never imported (a corrected file loads afresh)
                sys.modules.pop(module.__name__, None)
            raise
        _LOADED.local += (resolved,)
    return added


def _declared(module: object, resolved: str) -> list[tuple[str, str, object, str, str]]:
    """(kind, name, object, origin, label) of what a local plugin module declares."""
    origin = f"file {resolved}" if resolved.endswith(".py") else f"module {resolved}"
    label = f"plugin {resolved}"
    found = []
    for attr, kind in DECLARED.items():
        table = getattr(module, attr, None)
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise PluginError(f"{label}: {attr} must be a dict of name -> {kind}, got {type(table).__name__}")
        found += [(kind, name, obj, origin, label) for name, obj in table.items()]
    if not found:
        raise PluginError(f"{label}: declares nothing; a plugin module defines one or more of the dicts "
                          f"{', '.join(DECLARED)} (name -> object)")  # fmt: skip
    return found


def state() -> tuple[bool, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """What this process has loaded (plugins, and datasets read from files), for a worker process
    to load the same (`restore_state`)."""
    return _LOADED.entry_points, _LOADED.local, data_files.state()


def restore_state(loaded: tuple) -> None:
    """In a worker: load what `state()` returned in the process that started it."""
    entry_points, local, *rest = loaded
    if entry_points:
        load_entry_points()
    load(local)
    data_files.restore(rest[0] if rest else ())


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Within the block, plugins load as in a new process; after it the registries, `sys.path`
    and `sys.modules` are as before (for tests)."""
    snapshots = {kind: registry.snapshot() for kind, registry in KINDS.items()}
    followed = set(fingerprint.PLUGIN_PACKAGES)
    before = _Loaded(_LOADED.entry_points, _LOADED.local)
    files_before = set(dict(data_files.state()))
    path, modules = list(sys.path), set(sys.modules)
    _LOADED.entry_points, _LOADED.local = False, ()
    try:
        yield
    finally:
        data_files.forget(set(dict(data_files.state())) - files_before)
        for kind, registry in KINDS.items():
            registry.restore(snapshots[kind])
        fingerprint.PLUGIN_PACKAGES.clear()
        fingerprint.PLUGIN_PACKAGES.update(followed)
        _LOADED.entry_points, _LOADED.local = before.entry_points, before.local
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if _outside_installs(sys.modules[name]):  # a plugin's, not a library imported meanwhile
                del sys.modules[name]
        importlib.invalidate_caches()


def _outside_installs(module: object) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    here = Path(__file__).resolve().parents[1]  # the harness's own packages stay
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots |= {here / package for package in ("bench", "methods", "reports")}
    return not any(Path(file).resolve().is_relative_to(root) for root in roots)


def _is_path(ref: str | Path) -> bool:
    text = str(ref)
    return isinstance(ref, Path) or text.endswith(".py") or "/" in text or os.sep in text


def _resolve(ref: str | Path, base: Path | None) -> str:
    if not _is_path(ref):
        return str(ref)
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise PluginError(f"plugin {ref}: no such file {path}")
    if path.suffix != ".py":
        raise PluginError(f"plugin {ref}: a plugin file is a Python file (.py), got {path.name}")
    return str(path)


def _import(ref: str | Path, resolved: str):
    if not resolved.endswith(".py"):
        try:
            return importlib.import_module(resolved)
        except Exception as err:
            raise PluginError(f"plugin {resolved}: cannot import it: {type(err).__name__}: {err}") from None
    path = Path(resolved)
    name = path.stem
    if not name.isidentifier():
        raise PluginError(f"plugin {resolved}: its file name must be a Python module name, got {path.name}")
    taken = sys.modules.get(name)
    if taken is None:
        with contextlib.suppress(ImportError, ValueError):
            found = importlib.util.find_spec(name)
            taken = found if found is not None and found.origin != resolved else None
    if taken is not None:
        where = getattr(taken, "__file__", None) or getattr(taken, "origin", None) or "a loaded module"
        raise PluginError(f"plugin {resolved}: the module name {name!r} is already taken by {where}; rename the file")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # so that it can import the files beside it
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise PluginError(f"plugin {resolved}: cannot import it: {type(err).__name__}: {err}") from None
    return module


def _new_local_modules(before: set[str]) -> list[str]:
    """The modules imported since `before` that are not installed libraries (a plugin file's
    neighbours, an editable install's package): their code counts in the plugin's fingerprints."""
    return [name for name in set(sys.modules) - before if _outside_installs(sys.modules[name])]


def _add_all(found: list[tuple[str, str, object, str, str]], packages: list[str],
             lenient: bool = False) -> list[tuple[str, str, str]]:  # fmt: skip
    """Check every (kind, name, object, origin, label), then register them all (or none), and
    follow the code of `packages` (the plugin's) in fingerprints. lenient: an object that breaks
    its kind's contract is registered too (`check` then reports what it lacks)."""
    seen: dict[tuple[str, str], str] = {}
    for kind, name, obj, _origin, label in found:
        registry = KINDS[kind]
        if not isinstance(name, str) or not name or name != name.lower() or " " in name:
            raise PluginError(f"{label}: {kind} names are lowercase without spaces, got {name!r}")
        if name in registry:
            raise PluginError(f"{label}: {kind} {name!r} already exists ({registry.origin(name)})")
        if (kind, name) in seen:
            raise PluginError(f"{label}: {kind} {name!r} is registered twice (also by {seen[kind, name]})")
        seen[kind, name] = label
        problems = [] if lenient else protocol_problems(kind, obj)
        if kind == "dataset" and isinstance(obj, Dataset) and obj.kind not in DATASET_KINDS:
            problems = [f"a plugin dataset's kind is one of {', '.join(DATASET_KINDS)}, got {obj.kind!r} (image sets "
                        "are read by name from their files, bench.data.images)"]  # fmt: skip
        if problems:
            raise PluginError(f"{label}: {kind} {name!r} breaks the {kind} contract: {'; '.join(problems)}")
        if getattr(obj, "name", None) != name and not (lenient and protocol_problems(kind, obj)):
            raise PluginError(f"{label}: {kind} registered as {name!r} is named {getattr(obj, 'name', None)!r}; "
                              "the registry key and the object's name must be the same")  # fmt: skip
    for kind, name, obj, origin, _label in found:
        KINDS[kind].add(name, obj, origin=origin)
    for package in packages:
        fingerprint.follow(package)
    return [(kind, name, origin) for kind, name, _obj, origin, _label in found]


# --- the contracts, checked on the objects (`python -m bench check` runs these too) ---


def _binds(fn: object, *args: str) -> str | None:
    """None when `fn` can be called with the positional parameters `args`, else the problem."""
    if not callable(fn):
        return "is not callable"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: trust it
    try:
        signature.bind(*args)
    except TypeError:
        return f"cannot be called as ({', '.join(args)}): its signature is {signature}"
    return None


def protocol_problems(kind: str, obj: object) -> list[str]:
    """What `obj` lacks to be a `kind` ("method", "solver", "dataset", "net"); empty: none."""
    return {"method": _method_problems, "solver": _solver_problems, "dataset": _dataset_problems,
            "net": _net_problems}[kind](obj)  # fmt: skip


def _method_problems(method: object) -> list[str]:
    """The protocol of `methods.base.Method`."""
    if isinstance(method, type):
        return [f"{method.__name__} is a class; register an instance of it"]
    problems = []
    if not isinstance(getattr(method, "name", None), str):
        problems.append("name must be a str")
    if not isinstance(getattr(method, "needs_gaussian_source", None), bool):
        problems.append("needs_gaussian_source must be a bool")
    time_range = getattr(method, "time_range", None)
    if not (isinstance(time_range, tuple) and len(time_range) == 2
            and all(isinstance(v, (int, float)) for v in time_range)):  # fmt: skip
        problems.append(f"time_range must be a tuple (t0, t1) of two numbers, got {time_range!r}")
    natives = getattr(method, "native_samplers", None)
    if not isinstance(natives, Mapping):
        problems.append("native_samplers must be a mapping of solver name -> sampler (empty if none)")
    else:
        problems += [f"native sampler {n!r} is not callable" for n, fn in natives.items() if not callable(fn)]
    outputs = getattr(method, "outputs", 1)
    if not isinstance(outputs, int) or isinstance(outputs, bool) or outputs < 1:
        problems.append(f"outputs (the fields its network returns) must be a positive int, got {outputs!r}")
    for attr, args in (("loss", ("net", "x0", "x1", "t")), ("velocity", ("net", "x", "t"))):
        fn = getattr(method, attr, None)
        problem = "is missing" if fn is None else _binds(fn, *args)
        if problem:
            problems.append(f"{attr} {problem}")
    return problems


def _solver_problems(solver: object) -> list[str]:
    if not isinstance(solver, Solver):
        return [f"a solver is a bench.solvers.Solver, got {type(solver).__name__}"]
    problems = []
    if solver.kind not in SOLVER_KINDS:
        problems.append(f"kind must be one of {', '.join(SOLVER_KINDS)}, got {solver.kind!r}")
    if solver.order is not None and (not isinstance(solver.order, int) or solver.order < 1):
        problems.append(f"order must be a positive int or None, got {solver.order!r}")
    if solver.kind == "fixed":
        if not isinstance(solver.order, int):
            problems.append("a fixed-step solver declares its order (an int), which `check` verifies")
        problem = _binds(solver.fn, "velocity", "x", "grid")
        if problem:
            problems.append(f"fn {problem}")
    elif solver.kind == "adaptive":
        problem = _binds(solver.fn, "velocity", "x", "grid", "tol")
        if problem:
            problems.append(f"fn {problem}")
    elif solver.kind == "native" and solver.fn is not None:
        problems.append("a native solver has fn None: the method's native_samplers supply it")
    return problems


def _dataset_problems(dataset: object) -> list[str]:
    if not isinstance(dataset, Dataset):
        return [f"a dataset is a bench.data.Dataset, got {type(dataset).__name__}"]
    problems = []
    if dataset.kind not in ("points", "images"):
        problems.append(f"kind must be 'points' or 'images', got {dataset.kind!r}")
    if not (isinstance(dataset.dims, tuple) and dataset.dims and all(isinstance(d, int) and d > 0
                                                                     for d in dataset.dims)):  # fmt: skip
        problems.append(f"dims must be a tuple of positive ints (one sample's shape), got {dataset.dims!r}")
    for attr in ("source", "target"):
        problem = _binds(getattr(dataset, attr), "n", "generator")
        if problem:
            problems.append(f"{attr} {problem}")
    if dataset.data_range is not None and not (len(dataset.data_range) == 2
                                               and dataset.data_range[0] < dataset.data_range[1]):  # fmt: skip
        problems.append(f"data_range must be None or (lo, hi) with lo < hi, got {dataset.data_range!r}")
    return problems


def _net_problems(factory: object) -> list[str]:
    if not isinstance(factory, NetFactory):
        return [f"a network factory is a bench.nets.NetFactory, got {type(factory).__name__}"]
    problems = []
    if not factory.kinds or set(factory.kinds) - {"points", "images"}:
        problems.append(f"kinds must name 'points' and/or 'images', got {factory.kinds!r}")
    problem = _binds(factory.build, "dataset", "train_config", "seed", "outputs")
    if problem:
        problems.append(f"build {problem}")
    return problems
