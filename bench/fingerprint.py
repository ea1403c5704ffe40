"""Code fingerprints: a short hash of the source code a result depends on, for cache keys.

A sweep keys its checkpoints and cells by what they depend on; this module supplies the code
part, so an edit to a method's loss retrains that method, and an edit to a solver reruns that
solver's cells, while the rest of the results folder is reused.

What counts, for a *component* (a method, a solver, a dataset, a network factory, or a function
of the harness):

- a function: its source, parsed, so comments, docstrings, blank lines and where it sits in the
  file do not count; its default values and the variables it closes over; and, transitively,
  every function, class and module-level value it names (also through `module.attribute`) that
  belongs to a *followed* package. A module it imports inside its body counts by its whole
  source, read without importing it (so that planning a sweep never pays for an import that
  only measuring needs, and the key is the same whether or not the module was loaded). A module-level dict,
  list or set is state (a cache, a counter, a setting), not code: it counts only through the
  functions and classes it holds, so a constant table should be a tuple or a frozen dataclass;
  and a name the module's functions assign with `global` is state too, and does not count;
- a class: its source, the followed classes it derives from, and what its methods name;
- an object: its class, plus its fields (a dataclass's fields, else its attributes): plain
  values are hashed, tensors by their bytes, callables and objects of followed packages are
  fingerprinted in turn. A dataclass field with `metadata={"fingerprint": False}` (a
  description, say) does not count;
- a component that declares `version` (a str or int attribute, asv's convention): the version
  stands for its code and the code of its callables; its plain fields still count.

The followed packages are the harness (`bench`, `methods`), the top-level package of each
component fingerprinted, and the packages of the plugins loaded (`follow`: a plugin's package,
a plugin file's module and the modules beside it that it imports), so that a plugin's solver,
dataset or network factory, whose record is a harness class, counts by the plugin's code. Everything else
(torch, numpy, the standard library) counts by its qualified name only: library versions are
recorded in every row, not keyed. A `Registry` counts by its kind only: its contents are looked
up by name, and each component a result uses is fingerprinted where it is used, so registering
another method changes no key.
"""

from __future__ import annotations

import ast
import dataclasses
import dis
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import linecache
import os
import sys
import textwrap
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from methods.registry import Registry

__all__ = ["HARNESS", "PLUGIN_PACKAGES", "explain", "fingerprint", "follow", "normalized_source"]

HARNESS = ("bench", "methods")
"""Packages whose code every fingerprint follows."""
PLUGIN_PACKAGES: set[str] = set()
"""Top-level packages (or plugin files' modules) of the plugins loaded in this process
(`bench.plugins` adds them with `follow`): their code is followed wherever it is reached, so a
plugin solver's function counts although its `Solver` is a harness class."""


def follow(package: str) -> None:
    """Follow the code of `package` (a top-level package or module name) in every fingerprint."""
    PLUGIN_PACKAGES.add(package.split(".")[0])


LENGTH = 16
"""Hex digits of a fingerprint."""

_PLAIN = (type(None), bool, int, str)


def fingerprint(*components: object) -> str:
    """The fingerprint of the code and fields of `components` together (see the module docstring)."""
    return _Walker(components).digest()


def explain(*components: object) -> dict[str, str]:
    """What `fingerprint` hashed, as {qualified name: digest of its source and values}: to see
    which piece of code differs between two fingerprints."""
    walker = _Walker(components)
    walker.digest()
    return {name: _hash(entry) for name, entry in sorted(walker.code.items())}


def _hash(obj: object, length: int = LENGTH) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def top_package(obj: object) -> str | None:
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", None)
    return module.split(".")[0] if isinstance(module, str) else None


def qualified_name(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def normalized_source(obj: object) -> str | None:
    """The source of a function or class with comments, docstrings and positions removed (the
    dump of its syntax tree); a lambda's source line with its whitespace collapsed; None when
    the source cannot be read."""
    try:
        filename = inspect.getsourcefile(obj)  # type: ignore[arg-type]
        if filename:
            linecache.checkcache(filename)  # a file edited since this process read it
        text = inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError:  # a lambda inside a larger expression: its lines, as written
        return " ".join(text.split())
    return _normalized(tree)


def _normalized(tree: ast.AST) -> str:
    """A syntax tree's dump without docstrings and positions."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):  # fmt: skip
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _code_hash(code: types.CodeType) -> str:
    """A code object's instructions and names, for functions without readable source."""
    parts: list[object] = [code.co_code.hex(), list(code.co_names), list(code.co_varnames)]
    for const in code.co_consts:
        parts.append(_code_hash(const) if isinstance(const, types.CodeType) else repr(const))
    return _hash(parts)


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    """A code object and every code object nested in it (lambdas, comprehensions, inner functions)."""
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found += _code_objects(const)
    return found


def _imports(code: types.CodeType, package: str | None) -> list[tuple[str, list[str]]]:
    """(module, names) of each import statement inside a code object: `import a.b` gives
    ("a.b", []), `from a import b, c` gives ("a", ["b", "c"])."""
    found: list[tuple[str, list[str]]] = []
    level = 0
    for ins in dis.get_instructions(code):
        if ins.opname == "LOAD_CONST" and isinstance(ins.argval, int):
            level = ins.argval
        elif ins.opname == "IMPORT_NAME":
            name = ins.argval
            if level and package:
                name = importlib.util.resolve_name("." * level + name, package)
            found.append((name, []))
        elif ins.opname == "IMPORT_FROM" and found:
            found[-1][1].append(ins.argval)
    return found


class _Walker:
    """One fingerprint's traversal: `code` collects {qualified name: entry} of every followed
    function and class reached, each once (so recursion and cycles end)."""

    def __init__(self, roots: tuple[object, ...]) -> None:
        self.roots = roots
        self.followed = set(HARNESS) | PLUGIN_PACKAGES | {p for p in map(top_package, roots) if p}
        self.code: dict[str, object] = {}
        self._describing: set[int] = set()

    def digest(self) -> str:
        described = [self.describe(root) for root in self.roots]
        return _hash({"roots": described, "code": self.code})

    def is_followed(self, obj: object) -> bool:
        return top_package(obj) in self.followed

    # --- values ------------------------------------------------------------------------
    def describe(self, value: Any) -> object:
        """A JSON-able description of a value; followed code is added to `self.code`."""
        if isinstance(value, float):
            return {"float": repr(value)}
        if isinstance(value, _PLAIN):
            return value
        if isinstance(value, (tuple, list, frozenset, set)):
            items = [self.describe(v) for v in value]
            return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
        if isinstance(value, Mapping) and not isinstance(value, Registry):
            return {"map": sorted([[repr(k), self.describe(v)] for k, v in value.items()], key=lambda kv: kv[0])}
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu().contiguous()
            return {"tensor": [list(data.shape), str(data.dtype),
                               hashlib.sha256(data.view(-1).view(torch.uint8).numpy().tobytes()).hexdigest()[:LENGTH]
                               if data.numel() else ""]}  # fmt: skip
        if isinstance(value, np.ndarray):
            return {"array": [list(value.shape), str(value.dtype),
                              hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:LENGTH]]}  # fmt: skip
        if isinstance(value, Registry):
            return {"registry": value.kind}
        if isinstance(value, types.ModuleType):
            return {"module": value.__name__}
        if isinstance(value, functools.partial):
            return {"partial": [self.describe(value.func), self.describe(value.args), self.describe(value.keywords)]}
        if isinstance(value, types.MethodType):
            return {"bound": [self.describe(value.__self__), self.describe(value.__func__)]}
        if isinstance(value, (staticmethod, classmethod)):
            return self.describe(value.__func__)
        if isinstance(value, type):
            if not self.is_followed(value):
                return {"external": qualified_name(value)}
            return {"code": self.add_code(value)}
        if isinstance(value, types.FunctionType):
            return self.describe_function(value)
        if callable(value) and not self.is_followed(value) and not self.is_followed(type(value)):
            return {
                "external": qualified_name(value) if hasattr(value, "__qualname__") else qualified_name(type(value))
            }
        return self.describe_object(value)

    def describe_object(self, obj: Any) -> object:
        """An instance: its class's code (or declared version) and its fields."""
        cls = type(obj)
        if not self.is_followed(cls):
            return {"external": qualified_name(cls)}
        if id(obj) in self._describing:  # a field that leads back to the object (a bound method of itself)
            return {"self": qualified_name(cls)}
        self._describing.add(id(obj))
        try:
            version = getattr(obj, "version", None)
            versioned = isinstance(version, (str, int)) and not isinstance(version, bool)
            if versioned:
                head: object = {"version": version, "class": qualified_name(cls)}
            else:
                head = self.describe(cls)
            fields = {}
            for name, value in self.fields(obj):
                if versioned and (callable(value) or isinstance(value, Mapping)):
                    value = _names_of(value)  # the version stands for the code of its callables
                fields[name] = self.describe(value)
            return {"object": head, "fields": fields}
        finally:
            self._describing.discard(id(obj))

    @staticmethod
    def fields(obj: Any) -> list[tuple[str, Any]]:
        if dataclasses.is_dataclass(obj):
            return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)
                    if f.metadata.get("fingerprint", True) and hasattr(obj, f.name)]  # fmt: skip
        lazy = {name for name, attr in inspect.getmembers(type(obj)) if isinstance(attr, functools.cached_property)}
        return sorted((k, v) for k, v in getattr(obj, "__dict__", {}).items() if k not in lazy)

    # --- code --------------------------------------------------------------------------
    def describe_function(self, fn: types.FunctionType) -> object:
        """A function: its code (by name, in `self.code`) and what this function object adds to
        it: its default values and the variables it closes over (two closures of one `def` differ)."""
        if not self.is_followed(fn):
            return {"external": qualified_name(fn)}
        fn = inspect.unwrap(fn)  # a decorated function (`@torch.no_grad()`): the code it wraps
        if id(fn) in self._describing:  # a closure that refers to itself
            return {"self": qualified_name(fn)}
        self._describing.add(id(fn))
        try:
            cells = fn.__closure__ or ()
            return {
                "code": self.add_code(fn),
                "defaults": self.describe([fn.__defaults__ or (), sorted((fn.__kwdefaults__ or {}).items())]),
                "free": {var: self.describe(_cell_value(cell)) for var, cell in zip(fn.__code__.co_freevars, cells)},
            }
        finally:
            self._describing.discard(id(fn))

    def add_code(self, obj: types.FunctionType | type) -> str:
        """Add a followed function's or class's entry to `self.code` (once); return its name there:
        the qualified name, with the source's hash for a lambda or an inner function (whose
        qualified names are not unique in a module)."""
        source = _source_of(obj)
        name = qualified_name(obj)
        if "<" in name:
            name = f"{name}#{_hash(source, 8)}"
        if name in self.code:
            return name
        self.code[name] = None  # reserved: a reference back to it ends here
        entry: dict[str, object] = {"source": _hash(source) if source is not None else None}
        if isinstance(obj, type):
            entry["bases"] = [self.describe(base) for base in obj.__mro__[1:] if self.is_followed(base)]
            module = sys.modules.get(obj.__module__)
            filename = getattr(module, "__file__", None)
            functions = [f for f in map(_function_of, vars(obj).values())
                         if f is not None and (filename is None or f.__code__.co_filename == filename)]  # fmt: skip
        else:
            functions = [obj]
        entry["names"] = self.references(functions)
        self.code[name] = entry
        return name

    def references(self, functions: list[types.FunctionType]) -> dict[str, object]:
        """{name: description} of the followed globals, module attributes and imports the functions use."""
        found: dict[str, object] = {}
        for fn in functions:
            scope = fn.__globals__
            package = scope.get("__package__")
            for code in _code_objects(fn.__code__):
                names = set(code.co_names)
                modules = []
                for module_name, imported in _imports(code, package):
                    if module_name.split(".")[0] not in self.followed:
                        continue
                    # imported inside the body, so maybe never at all in this process: the whole
                    # source of the module (and of a submodule imported from a package), read, not imported
                    found.setdefault(f"import {module_name}", _module_source(module_name))
                    if _is_package(module_name):  # `from package import submodule`
                        for item in imported:
                            found.setdefault(f"import {module_name}.{item}", _module_source(f"{module_name}.{item}"))
                state = self.state_names(fn.__module__)
                for item in sorted(names - state):
                    if item in scope:
                        value = scope[item]
                        if isinstance(value, types.ModuleType):
                            modules.append(value)
                        found.setdefault(f"{fn.__module__}.{item}", self.describe_reference(value))
                for module in modules:
                    if module.__name__.split(".")[0] not in self.followed:
                        continue
                    for item in sorted(names - self.state_names(module.__name__)):
                        if hasattr(module, item) and not isinstance(getattr(module, item), types.ModuleType):
                            found.setdefault(
                                f"{module.__name__}.{item}", self.describe_reference(getattr(module, item))
                            )
        return found

    def state_names(self, module_name: str) -> set[str]:
        """The names a module's functions assign with `global`: state, not code (a probe's result)."""
        module = sys.modules.get(module_name)
        return _memo(module, _global_names) if module is not None else set()

    def describe_reference(self, value: Any) -> object:
        """A name a function uses: followed code and values in full, anything else by name. A
        module-level dict, list or set is taken for state (a cache, a counter) and counts only
        through the functions and classes it holds (a dispatch table's entries)."""
        if isinstance(value, types.ModuleType):
            return {"module": value.__name__}
        if isinstance(value, (dict, list, set)):
            held = value.values() if isinstance(value, dict) else value
            code = [self.describe(v) for v in held if isinstance(v, (types.FunctionType, type, types.MethodType))]
            return {"mutable": type(value).__name__, "code": sorted(code, key=repr)}
        if (
            isinstance(value, (types.FunctionType, type))
            or self.is_followed(type(value))
            or isinstance(value, (float, *_PLAIN, tuple, list, Mapping, torch.Tensor, np.ndarray, functools.partial))
        ):
            return self.describe(value)
        return {"external": qualified_name(type(value))}


_MEMO: dict[tuple[str, int], tuple[object, object]] = {}


def _memo(obj: object, compute: Callable[[Any], Any]) -> Any:
    """`compute(obj)`, once per process for one function, class or module object (an edited
    and re-imported module makes new objects, so a new process or a re-import sees the edit)."""
    key = (compute.__name__, id(obj))
    found = _MEMO.get(key)
    if found is None or found[0] is not obj:
        found = _MEMO[key] = (obj, compute(obj))
    return found[1]


def _source_of(obj: types.FunctionType | type) -> str | None:
    """The normalized source of a function or class (its instructions when it has no source), memoized."""

    def source(obj: types.FunctionType | type) -> str | None:
        text = normalized_source(obj)
        if text is None and isinstance(obj, types.FunctionType):
            return _code_hash(obj.__code__)
        return text

    return _memo(obj, source)


def _module_source(name: str) -> str | None:
    """The hash of a module's normalized source, found without importing it (None: not a module,
    e.g. a function imported from a package, which the package's own source covers)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    path = spec.origin
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _FILES:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            _FILES[key] = _hash(_normalized(ast.parse(text)))
        except SyntaxError:
            _FILES[key] = _hash(text)
    return _FILES[key]


_FILES: dict[tuple[str, int, int], str] = {}


def _is_package(name: str) -> bool:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.submodule_search_locations is not None


def _global_names(module: types.ModuleType) -> set[str]:
    """The names a module's functions assign with `global`."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return set()
    return {name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names}


def _function_of(attr: object) -> types.FunctionType | None:
    """The function behind a class attribute (a method, property, static or class method)."""
    if isinstance(attr, (staticmethod, classmethod)):
        attr = attr.__func__
    elif isinstance(attr, property):
        attr = attr.fget
    elif isinstance(attr, functools.cached_property):
        attr = attr.func
    if isinstance(attr, types.FunctionType):
        attr = inspect.unwrap(attr)
    return attr if isinstance(attr, types.FunctionType) else None


def _cell_value(cell: types.CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a variable not yet assigned)
        return None


def _names_of(value: Any) -> object:
    if isinstance(value, Mapping):
        return {str(k): _names_of(v) for k, v in value.items()}
    return qualified_name(value.__func__ if isinstance(value, types.MethodType) else value)
