"""Plugins (bench.plugins): files, modules and entry points join the one registry per kind with
their origin; a plugin that fails to import, declares nothing, takes an existing name or breaks
its kind's contract stops the command with one line naming it, exit 2, nothing registered and
nothing written; entry-point discovery can be turned off, and the regression baseline never uses it.

Entry points are found through real metadata: a `*.dist-info` folder the test writes on
`sys.path`, as pip would, never a mock of importlib.metadata.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from bench import plugins
from bench.cli import main
from bench.data import DATASETS
from bench.nets import NETS
from bench.run import parse_spec
from bench.run.spec import load_spec
from bench.solvers import SOLVERS
from methods import METHODS

GOOD = """
from dataclasses import dataclass, field
from bench.solvers import Solver, euler
from methods import expand_time


@dataclass(frozen=True)
class Doubled:
    name: str = "{name}"
    needs_gaussian_source: bool = False
    time_range: tuple = (0.0, 1.0)
    native_samplers: dict = field(default_factory=dict)

    def loss(self, net, x0, x1, t):
        x = (1 - t[:, None]) * x0 + t[:, None] * x1
        return (net(x, t) - 2 * (x1 - x0)).square().mean()

    def velocity(self, net, x, t):
        return net(x, expand_time(t, x)) / 2


METHODS = {{"{name}": Doubled()}}
SOLVERS = {{"euler-again": Solver("euler-again", "fixed", 1, euler, "Euler, registered by a plugin")}}
"""


@pytest.fixture(autouse=True)
def isolated():
    """Each test loads plugins as a new process would, and leaves the registries as they were."""
    with plugins.isolated():
        yield


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def dist_info(folder: Path, name: str, version: str, entry_points: dict[str, dict[str, str]]) -> Path:
    """A distribution's metadata as pip installs it: `<name>-<version>.dist-info/` with METADATA
    and entry_points.txt, in `folder` (put on sys.path by the caller)."""
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in entry_points.items():
        lines += [f"[{group}]", *(f"{key} = {value}" for key, value in points.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))
    return info


def test_a_plugin_file_registers_its_names_with_its_origin(tmp_path):
    path = write(tmp_path, "doubled.py", GOOD.format(name="doubled"))
    added = plugins.load([str(path)])
    assert added == [("method", "doubled", f"file {path}"), ("solver", "euler-again", f"file {path}")]
    assert METHODS.origin("doubled") == f"file {path}" and SOLVERS.get("euler-again").order == 1
    assert plugins.load([str(path)]) == []  # loaded once per process
    assert plugins.state() == (False, (str(path),), ())


def test_a_module_plugin_and_the_listing_show_their_origins(tmp_path, capsys):
    write(tmp_path, "my_solvers.py", GOOD.format(name="doubled-mod"))
    sys.path.insert(0, str(tmp_path))
    assert main(["list", "--no-plugins", "--plugin", "my_solvers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mine = [line.split() for line in lines if "doubled-mod" in line or "euler-again" in line]
    assert [words[:4] for words in mine] == [
        ["method", "doubled-mod", "module", "my_solvers"],
        ["solver", "euler-again", "module", "my_solvers"],
    ]
    iadb = next(line.split() for line in lines if line.split()[:2] == ["method", "iadb"])
    assert iadb[2] == "built-in"
    assert {line.split()[0] for line in lines} >= {"method", "solver", "dataset", "net", "metric", "profile"}


def test_names_from_a_spec_file_resolve_relative_to_it(tmp_path, monkeypatch):
    folder = tmp_path / "study"
    folder.mkdir()
    write(folder, "doubled.py", GOOD.format(name="doubled"))
    spec = write(
        folder,
        "sweep.toml",
        """
        name = "s"
        plugins = ["doubled.py"]
        [axes]
        methods = ["iadb", "doubled"]
        datasets = ["gauss-moons"]
        solvers = ["euler-again"]
        steps = [2]
    """,
    )
    monkeypatch.chdir(tmp_path)  # not the spec's folder
    assert load_spec(spec).tracks[0].axes.methods == ("iadb", "doubled")
    assert METHODS.origin("doubled") == f"file {folder / 'doubled.py'}"


def cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI expecting exit 2 and one line on stderr; that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: plugin "), err
    return err[0]


def test_a_plugin_that_fails_to_import_stops_the_command_and_nothing_is_written(tmp_path, capsys):
    path = write(
        tmp_path,
        "broken.py",
        "from bench.solvers import Solver, euler\n"
        "SOLVERS = {'early': Solver('early', 'fixed', 1, euler, '')}\nimport scipyy\n",
    )
    spec = write(
        tmp_path,
        "sweep.toml",
        """
        name = "broken"
        plugins = ["broken.py"]
        [axes]
        methods = ["iadb"]
        datasets = ["gauss-moons"]
        solvers = ["euler"]
        steps = [2]
    """,
    )
    results = tmp_path / "results"
    line = cli_error(capsys, ["sweep", "--spec", str(spec), "--results", str(results), "--reports", str(results)])
    assert line == f"error: plugin {path}: cannot import it: ModuleNotFoundError: No module named 'scipyy'"
    assert not results.exists() and "early" not in SOLVERS and "broken" not in sys.modules
    line = cli_error(
        capsys,
        [
            "train",
            "--method",
            "iadb",
            "--dataset",
            "gauss-moons",
            "--profile",
            "smoke",
            "--results",
            str(results),
            "--plugin",
            str(tmp_path / "missing.py"),
        ],
    )
    assert line == f"error: plugin {tmp_path / 'missing.py'}: no such file {tmp_path / 'missing.py'}"
    assert not results.exists()


@pytest.mark.parametrize(
    "body, reason",
    [
        (
            "from methods import METHODS as M\nMETHODS = {'iadb': M.get('iadb')}\n",
            "method 'iadb' already exists (built-in)",
        ),
        (
            "from bench.data import DATASETS as D\nDATASETS = {'gauss-moons': D.get('gauss-moons')}\n",
            "dataset 'gauss-moons' already exists (built-in)",
        ),
        ("from bench.nets import NETS as N\nNETS = {'mlp': N.get('mlp')}\n", "net 'mlp' already exists (built-in)"),
        (
            "X = 1\n",
            "declares nothing; a plugin module defines one or more of the dicts METHODS, SOLVERS, DATASETS, "
            "NETS (name -> object)",
        ),
        (
            "from bench.solvers import Solver, euler\nSOLVERS = {'ab3': Solver('ab3', 'fixed', None, euler, '')}\n",
            "solver 'ab3' breaks the solver contract: a fixed-step solver declares its order (an int), which `check` "
            "verifies",
        ),
        (
            "from bench.solvers import Solver\nSOLVERS = {'odd': Solver('odd', 'fixed', 2, lambda f, x: x, '')}\n",
            "solver 'odd' breaks the solver contract: fn cannot be called as (velocity, x, grid): "
            "its signature is (f, x)",
        ),
        (
            "class M:\n    name = 'half'\n    needs_gaussian_source = False\n    time_range = (0.0, 1.0)\n"
            "    native_samplers = {}\n    def loss(self, net, x0, x1, t): ...\nMETHODS = {'half': M()}\n",
            "method 'half' breaks the method contract: velocity is missing",
        ),
        (
            "class M:\n    name = 'cls'\nMETHODS = {'cls': M}\n",
            "method 'cls' breaks the method contract: M is a class; register an instance of it",
        ),
        (
            "from methods import METHODS as M\nimport dataclasses\n"
            "METHODS = {'renamed': dataclasses.replace(M.get('iadb'))}\n",
            "method registered as 'renamed' is named 'iadb'; the registry key and the object's name must be the same",
        ),
        (
            "from bench.data import DATASETS as D\nimport dataclasses\n"
            "DATASETS = {'pics': dataclasses.replace(D.get('mnist5k'), name='pics')}\n",
            "dataset 'pics' breaks the dataset contract: a plugin dataset's kind is one of points, got 'images' "
            "(image sets are read by name from their files, bench.data.images)",
        ),
        ("METHODS = ['x']\n", "METHODS must be a dict of name -> method, got list"),
        ("METHODS = {'Bad Name': object()}\n", "method names are lowercase without spaces, got 'Bad Name'"),
    ],
    ids=[
        "dup-method",
        "dup-dataset",
        "dup-net",
        "nothing",
        "no-order",
        "signature",
        "protocol",
        "class",
        "key-name",
        "image-dataset",
        "not-a-dict",
        "bad-name",
    ],
)
def test_a_bad_plugin_is_refused_with_its_reason(tmp_path, capsys, body, reason):
    path = write(tmp_path, "bad.py", body)
    before = {kind: registry.names() for kind, registry in plugins.KINDS.items()}
    assert cli_error(capsys, ["list", "--plugin", str(path)]) == f"error: plugin {path}: {reason}"
    assert {kind: registry.names() for kind, registry in plugins.KINDS.items()} == before


def test_loading_is_all_or_nothing(tmp_path):
    """A plugin whose second name is bad registers neither; nor does its good first name."""
    path = write(tmp_path, "half.py", GOOD.format(name="doubled") + "NETS = {'n': 1}\n")
    with pytest.raises(plugins.PluginError, match="a network factory is a bench.nets.NetFactory, got int"):
        plugins.load([str(path)])
    assert "doubled" not in METHODS and "euler-again" not in SOLVERS and plugins.state() == (False, (), ())


def test_two_plugins_with_one_name_name_the_first(tmp_path):
    first = write(tmp_path, "first.py", GOOD.format(name="doubled"))
    second = write(tmp_path, "second.py", GOOD.format(name="other"))
    plugins.load([str(first)])
    with pytest.raises(plugins.PluginError) as err:
        plugins.load([str(second)])
    assert str(err.value) == f"plugin {second}: solver 'euler-again' already exists (file {first})"


def test_a_file_whose_module_name_is_taken_is_refused(tmp_path):
    path = write(tmp_path, "json.py", GOOD.format(name="doubled"))
    with pytest.raises(
        plugins.PluginError, match=r"the module name 'json' is already taken by .*json.*; rename the file"
    ):
        plugins.load([str(path)])


ENTRY_POINTS = {
    "blendbench.methods": {"doubled": "toy_plugin.parts:DOUBLED"},
    "blendbench.solvers": {"euler-again": "toy_plugin.parts:EULER"},
    "blendbench.datasets": {"toy-ring": "toy_plugin.parts:RING"},
    "blendbench.nets": {"tiny": "toy_plugin.parts:TINY"},
}
PARTS = (
    GOOD.format(name="doubled")
    + """
import torch
from bench.data import Dataset
from bench.nets import MLP, NetFactory

DOUBLED = METHODS["doubled"]
EULER = SOLVERS["euler-again"]


def ring(n, g):
    angle = 2 * torch.pi * torch.rand(n, generator=g)
    return torch.stack([angle.cos(), angle.sin()], 1)


RING = Dataset("toy-ring", lambda n, g: torch.randn(n, 2, generator=g), ring, True, "normal -> unit circle")
TINY = NetFactory("tiny", ("points",), lambda d, c, s, o=1: MLP(d.dims[0], 8, 1, 2, o), "a tiny MLP")
"""
)


@pytest.fixture
def installed(tmp_path):
    """A distribution `toy-plugin 1.2` installed in a folder on sys.path: its package and its metadata."""
    site = tmp_path / "site"
    (site / "toy_plugin").mkdir(parents=True)
    (site / "toy_plugin" / "__init__.py").write_text("")
    (site / "toy_plugin" / "parts.py").write_text(PARTS)
    dist_info(site, "toy-plugin", "1.2", ENTRY_POINTS)
    sys.path.insert(0, str(site))
    return site


def test_entry_points_register_with_the_distribution_and_its_version(installed):
    added = plugins.load_entry_points()
    assert sorted(added) == [
        ("dataset", "toy-ring", "toy-plugin 1.2"),
        ("method", "doubled", "toy-plugin 1.2"),
        ("net", "tiny", "toy-plugin 1.2"),
        ("solver", "euler-again", "toy-plugin 1.2"),
    ]
    assert DATASETS.origin("toy-ring") == NETS.origin("tiny") == "toy-plugin 1.2"
    assert plugins.load_entry_points() == []  # once per process
    spec = parse_spec(
        'name = "s"\n[axes]\nmethods = ["doubled"]\ndatasets = ["toy-ring"]\nsolvers = ["euler-again"]\n'
        'steps = [2]\n[train]\nnet = "tiny"\n'
    )
    assert spec.tracks[0].train.net == "tiny"


def test_discovery_can_be_turned_off(installed, capsys, monkeypatch):
    assert main(["list", "--no-plugins"]) == 0
    assert "toy-plugin" not in capsys.readouterr().out and "doubled" not in METHODS
    monkeypatch.setenv(plugins.ENV_NO_PLUGINS, "1")
    assert main(["list"]) == 0
    assert "toy-plugin" not in capsys.readouterr().out
    monkeypatch.delenv(plugins.ENV_NO_PLUGINS)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "method   doubled" in out and "toy-plugin 1.2" in out


def test_a_broken_entry_point_stops_every_command_that_discovers_but_not_the_baseline(installed, tmp_path, capsys):
    dist_info(installed, "broken-plugin", "0.3", {"blendbench.solvers": {"gone": "no_such_module:SOLVER"}})
    line = cli_error(capsys, ["list"])
    assert line == (
        "error: plugin broken-plugin 0.3 (entry point 'gone' = 'no_such_module:SOLVER' in "
        "blendbench.solvers): cannot import it: ModuleNotFoundError: No module named 'no_such_module'"
    )
    assert "doubled" not in METHODS  # the good distribution's names are not registered either
    cli_error(capsys, ["check", "euler"])
    # the regression commands never discover plugins: the broken one does not stop them
    assert main(["regress", "--baseline", str(tmp_path / "none")]) == 2
    assert "no baseline in" in capsys.readouterr().err
    assert "gone" not in SOLVERS


def test_a_wrong_or_unknown_net_in_a_spec_is_refused():
    base = 'name = "s"\n[axes]\nmethods = ["iadb"]\ndatasets = ["{d}"]\nsolvers = ["euler"]\nsteps = [2]\n[train]\n'
    with pytest.raises(ValueError, match="net 'unet' does not build for points datasets; valid: mlp"):
        parse_spec(base.format(d="gauss-moons") + 'net = "unet"\n')
    with pytest.raises(ValueError, match="unknown net 'resnet'; valid nets: mlp, unet"):
        parse_spec(base.format(d="gauss-moons") + 'net = "resnet"\n')
    with pytest.raises(ValueError, match="plugins must be a list of plugin files or module names"):
        parse_spec('plugins = "x.py"\n' + base.format(d="gauss-moons"))
