"""docs/report.md and docs/performance.md: the report is not rebuilt when neither the results nor
the report's code changed, a change to either rebuilds it, and checking this imports neither
pandas nor matplotlib (see docs/promises.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from reports import stamp

REPORTS = Path(stamp.__file__).parent


def built_report(tmp_path: Path) -> tuple[Path, Path]:
    """A results folder and a report folder stamped as built from it."""
    results, out = tmp_path / "results", tmp_path / "report"
    results.mkdir()
    out.mkdir()
    (results / "cells.csv").write_text("key,value\na,1\n")
    (out / "index.html").write_text("<html></html>")
    (out / "report.sha256").write_text(stamp.inputs_digest(results))
    return results, out


def test_a_change_to_the_results_or_to_the_reports_code_makes_the_report_stale(tmp_path, monkeypatch):
    code = []
    for path in stamp.CODE:  # copies of the report's code, to edit
        copy = tmp_path / "code" / path.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(path.read_bytes())
        code.append(copy)
    monkeypatch.setattr(stamp, "CODE", code)
    results, out = built_report(tmp_path)
    assert stamp.is_current(results, out)
    for copy in code:
        original = copy.read_bytes()
        copy.write_bytes(original + b"\nEDITED = 1\n")
        assert not stamp.is_current(results, out), copy.name
        copy.write_bytes(original)
        assert stamp.is_current(results, out)
    (results / "cells.csv").write_text("key,value\na,2\n")
    assert not stamp.is_current(results, out)


def report_modules() -> set[str]:
    """The modules of `reports` that `reports.report` is built from: itself and what it imports
    from the package, transitively (read from the source)."""
    found, todo = set(), ["report"]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for node in ast.walk(ast.parse((REPORTS / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "reports":
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reports."):
                todo.append(node.module.split(".")[1])
    return found


def test_every_module_the_report_is_built_from_counts_as_its_code():
    """grids.py and groundtruth.py were once left out: editing them left a stale report current."""
    assert report_modules() | {"stamp"} <= {path.stem for path in stamp.CODE}


def test_checking_the_stamp_imports_neither_pandas_nor_matplotlib(tmp_path):
    results, out = built_report(tmp_path)
    code = (
        "import sys; from pathlib import Path; from reports.stamp import is_current; "
        f"assert is_current(Path({str(results)!r}), Path({str(out)!r})); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'matplotlib', 'torch'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
