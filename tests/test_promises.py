"""A test per promise of README.md and docs/: docs/promises.md lists each behavioural promise with
the tests that guard it. The first tests keep that table from rotting (every quote still in its
page, every test still there); the rest guard promises no other test file checks."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "promises.md"
NODE = re.compile(r"tests/[\w/]+\.py::\w+(?:::\w+)?")


def normalised(text: str) -> str:
    return " ".join(text.split())


def table_rows(text: str) -> list[dict[str, str]]:
    """Every row of every table in the page, as {column: cell}, with the section it sits under."""
    rows, header, section = [], None, ""
    for line in text.splitlines():
        if line.startswith("#"):
            section, header = line.lstrip("#").strip(), None
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
        elif not set("".join(cells)) <= set("-: "):
            rows.append({"section": section, **dict(zip(header, cells))})
    return rows


def functions_in(path: Path) -> set[str]:
    """`name` and `Class::name` of every test function defined in a test file (read, not imported)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)}
    return names


def table_problems(text: str, root: Path = ROOT) -> list[str]:
    """What in a promises table no longer holds: a quote gone from its page, a test that is not there."""
    problems = []
    rows = table_rows(text)
    if not rows:
        return ["no table rows"]
    for row in rows:
        where, quote = row.get("where", ""), row.get("quote", "").strip().strip("`")
        page = root / where.split(",")[0].strip().strip("`")
        if not page.is_file():
            problems.append(f"{where}: no such page")
        elif not quote or normalised(quote) not in normalised(page.read_text()):
            problems.append(f"{where}: quote not in the page: {quote!r}")
        if row["section"].lower().startswith("untested"):
            if not row.get("why not here", "").strip():
                problems.append(f"{where}: an untested promise says why not")
            continue
        nodes = NODE.findall(row.get("tests", ""))
        if not nodes:
            problems.append(f"{where}: {quote!r} names no test")
        for node in nodes:
            file, _, name = node.partition("::")
            if not (root / file).is_file():
                problems.append(f"{node}: no such file")
            elif name not in functions_in(root / file):
                problems.append(f"{node}: no such test")
    return problems


def test_every_quote_is_still_in_its_page_and_every_test_exists():
    rows = table_rows(TABLE.read_text())
    assert {row["section"] for row in rows} >= {"Tested", "Untested here"}
    assert table_problems(TABLE.read_text()) == []


def test_the_table_check_sees_a_lost_quote_and_a_missing_test(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("A rerun skips\nfinished cells.\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_here():\n    pass\n")
    table = (
        "## Tested\n\n| where | promise | quote | tests |\n|---|---|---|---|\n"
        "| docs/page.md, A | reruns | `rerun skips finished` | `tests/test_x.py::test_here` |\n"
        "| docs/page.md, A | gone | `a sentence that is not there` | `tests/test_x.py::test_here` |\n"
        "| docs/page.md, A | reruns | `finished cells` | `tests/test_x.py::test_gone`, `tests/test_y.py::test_a` |\n"
        "| docs/page.md, A | reruns | `finished cells` | none |\n"
        "\n## Untested here\n\n| where | promise | quote | why not here |\n|---|---|---|---|\n"
        "| docs/nopage.md, B | cuda | `cuda` | no GPU |\n"
    )
    problems = table_problems(table, tmp_path)
    assert len(problems) == 5, problems
    assert "quote not in the page" in problems[0] and "test_gone: no such test" in problems[1]
    assert "test_y.py::test_a: no such file" in problems[2] and "names no test" in problems[3]
    assert "no such page" in problems[4]


# --- promises no other test checks ---------------------------------------------------------------


def test_the_columns_of_cells_csv_and_training_csv_are_those_output_md_lists():
    """docs/output.md lists every column of cells.csv, and training.csv's, by name."""
    from bench.store import CELL_COLUMNS, TRAIN_COLUMNS

    text = (ROOT / "docs" / "output.md").read_text()
    table = text[text.index("## Columns of `cells.csv`") :]
    documented = set()
    for row in table_rows(table):
        documented |= set(re.findall(r"`(\w+)`", row["column"]))
    assert documented == set(CELL_COLUMNS)
    line = next(line for line in text.splitlines() if line.strip().startswith("training.csv"))
    assert line.split("loss curves:")[1].replace(" ", "").split(",") == TRAIN_COLUMNS


def test_list_names_every_profile_too(capsys):
    """README.md: `python -m bench list` prints every method, solver, dataset, metric and profile."""
    from bench.cli import main
    from bench.run import PROFILES

    assert main(["list"]) == 0
    listed = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.split()[0] == "profile"]
    assert listed == list(PROFILES) == ["smoke", "quick", "full", "ci"]


def test_the_profiles_run_what_the_docs_say():
    """docs/images.md (quick's MNIST track, full) and docs/regression.md (ci) describe the profiles."""
    from bench.run import load_profile
    from methods import METHODS

    quick = {t.name: t for t in load_profile("quick").tracks}
    assert {kind_of(t) for t in quick.values()} == {"points", "images"}  # README: 2D and MNIST
    mnist = next(t for t in quick.values() if kind_of(t) == "images")
    assert mnist.axes.datasets == ("mnist5k",)
    assert mnist.axes.methods == ("iadb", "ddpm") and mnist.axes.seeds == (0, 1)  # issue 18: two seeds
    points = next(t for t in quick.values() if kind_of(t) == "points")
    assert len(points.axes.seeds) == 3 and len(points.axes.methods) == 6
    assert set(mnist.axes.solvers) == {"euler", "heun", "ancestral", "ddim"} and mnist.axes.steps == (8, 16, 32)
    assert mnist.eval.samples == 500

    (full,) = load_profile("full").tracks
    assert full.axes.datasets == ("mnist",) and full.eval.samples == 10000
    assert min(full.axes.steps) == 8 and max(full.axes.steps) == 128

    ci = {kind_of(t): t for t in load_profile("ci").tracks}
    points, images = ci["points"], ci["images"]
    trainable = [n for n, m in METHODS.items() if not hasattr(m, "network")]  # the exact fields train nothing
    assert set(points.axes.methods) == set(trainable)  # every trainable method
    assert points.axes.datasets == ("gauss-moons", "gauss-8gaussians") and points.axes.steps == (4, 16)
    assert set(points.axes.solvers) == {"euler", "heun", "ancestral", "em-eps1"}
    assert (points.train.width, points.train.steps, points.eval.samples) == (64, 300, 500)
    assert set(points.eval.metrics) == {"w2", "energy"}
    assert images.axes.methods == ("iadb", "ddpm") and images.axes.datasets == ("mnist5k",)
    assert (images.train.width, images.train.steps, images.eval.samples) == (8, 150, 200)
    assert set(images.eval.metrics) == {"fd", "kid", "precision", "recall", "confidence", "class_entropy"}
    assert points.axes.seeds == images.axes.seeds == (0, 1, 2)


def kind_of(track) -> str:
    from bench.data import DATASETS

    return DATASETS.get(track.axes.datasets[0]).kind


def test_the_default_metrics_leave_the_likelihoods_out_and_samples_are_capped():
    """docs/methods.md: a track measures nll / bpd only when its [eval] metrics names them;
    docs/sweeps.md: the default metrics are every metric of the track's kind, and the default
    sample count is capped at the dataset's reference images."""
    from bench.run import parse_spec

    points = parse_spec("name = 'x'\n[axes]\nmethods = ['iadb']\ndatasets = ['gauss-moons']\n").tracks[0]
    assert points.eval.metrics == ("w2", "energy")
    images = parse_spec("name = 'x'\n[axes]\nmethods = ['iadb']\ndatasets = ['mnist5k']\n").tracks[0]
    assert images.eval.metrics == ("fd", "kid", "precision", "recall", "confidence", "class_entropy")
    assert images.eval.samples == 500  # mnist5k's reference images
    asked = parse_spec("name = 'x'\n[axes]\nmethods = ['iadb']\ndatasets = ['gauss-moons']\n"
                       "[eval]\nmetrics = ['w2', 'nll']\n").tracks[0]  # fmt: skip
    assert asked.eval.metrics == ("w2", "nll")


def test_the_time_ranges_of_ddpm_and_the_latent_noise_interpolant():
    """docs/methods.md: DDPM's ODE stops at t = 1 - 1/T; the si-gamma-* methods run over
    [1e-3, 1 - 1e-3]; every other method over [0, 1]."""
    from methods import METHODS

    ddpm = METHODS.get("ddpm")
    assert ddpm.time_range == (0.0, 1 - 1 / ddpm.num_steps) and ddpm.num_steps == 1000
    assert METHODS.get("si-gamma-linear").time_range == (1e-3, 1 - 1e-3)
    for name in ("iadb", "si-linear-simple", "si-linear-complex", "si-trig-simple", "si-trig-complex"):
        assert METHODS.get(name).time_range == (0.0, 1.0), name


def test_the_data_root_defaults_to_data_or_the_environment(tmp_path):
    """docs/images.md: `--data-root` defaults to ./data (or $BLENDBENCH_DATA_ROOT)."""
    code = "from bench.data.images import SETTINGS; print(SETTINGS.data_root)"
    env = {k: v for k, v in os.environ.items() if k != "BLENDBENCH_DATA_ROOT"}
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert Path(plain.stdout.strip()) == Path("data")
    env["BLENDBENCH_DATA_ROOT"] = str(tmp_path)
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert Path(chosen.stdout.strip()) == tmp_path


def test_the_batch_size_is_part_of_a_cells_key():
    """docs/reliability.md: an adaptive solver chooses its steps per batch, so there `[eval]
    batch_size` is part of the result: cells sampled in other batches are other cells."""
    from bench.run import load_profile
    from bench.sweep import runner

    spec = load_profile("smoke").with_axes(methods=("iadb",), datasets=("gauss-moons",), solvers=("rk45",))
    (track,) = spec.tracks
    batched = dataclasses.replace(spec, tracks=(dataclasses.replace(track, eval=dataclasses.replace(
        track.eval, batch_size=16)),))  # fmt: skip
    (whole,), (in_batches,) = runner.plan(spec), runner.plan(batched)
    assert whole.train_key == in_batches.train_key  # the same network
    assert {c.key for c in whole.cells}.isdisjoint(c.key for c in in_batches.cells)


def tiny_recipe(**changes):
    from bench.run import TrainConfig

    return TrainConfig(steps=5, batch_size=32, width=8, depth=1, log_every=5, **changes)


def test_the_reference_is_drawn_apart_from_the_training_batches():
    """docs/sweeps.md and docs/reliability.md: the held-out reference samples a cell is measured
    against come from a stream separate from training: no generator training draws its batches
    from is the reference's, and no training point is a reference point."""
    from bench.data import DATASETS
    from bench.run import draw_heldout, train
    from methods import METHODS

    dataset = DATASETS.get("gauss-moons")

    def spy(into):
        def target(n, g):
            into.append((g.initial_seed(), dataset.target(n, g)))
            return into[-1][1]

        return dataclasses.replace(dataset, target=target)

    training, held_out = [], []
    train(METHODS.get("iadb"), spy(training), tiny_recipe(), seed=0)
    seen = torch.cat([x for _, x in training])
    assert len(seen) == 5 * 32
    for seed in (0, 1):
        reference = draw_heldout(spy(held_out), seed, 64)
        assert torch.cdist(reference.double(), seen.double()).min() > 0
    assert held_out and {s for s, _ in training}.isdisjoint(s for s, _ in held_out)


def test_bf16_is_ignored_on_a_cpu():
    """docs/sweeps.md and docs/devices.md: `[train] bf16 = true` trains under bf16 autocast on
    CUDA only; on a CPU it trains the same network, bitwise."""
    from bench.data import DATASETS
    from bench.run import train
    from methods import METHODS

    dataset, method = DATASETS.get("gauss-moons"), METHODS.get("iadb")
    plain = train(method, dataset, tiny_recipe(), seed=0).net.state_dict()
    bf16 = train(method, dataset, tiny_recipe(bf16=True), seed=0).net.state_dict()
    assert plain.keys() == bf16.keys() and all(torch.equal(plain[k], bf16[k]) for k in plain)


def test_the_readme_lists_what_is_untested_here():
    """README.md names the promises no test here can check, and links to the table."""
    text = (ROOT / "README.md").read_text()
    assert "## Untested here" in text and "docs/promises.md" in text
    untested = [row for row in table_rows(TABLE.read_text()) if row["section"] == "Untested here"]
    assert untested
