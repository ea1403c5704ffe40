"""The report's "Regression status" block (reports/regression.py), from a regression.json written here
by hand in the format `bench.tools.regress.write_status` writes (tests/bench/tools/test_regress.py
checks the two agree): the values outside their band, PASS or REGRESSION, and no block without it."""

from __future__ import annotations

import json
from pathlib import Path

from reports import regression, stamp
from reports.report import Document

WORSE = {"name": "iadb gauss-moons euler K=4", "metric": "w2", "baseline": "0.625 ± 0.01 (K=3)",
         "new": "0.6875 ± 0.011 (K=3)", "band": "±0.0313", "change": "+0.0625 (+10.0%)",
         "verdict": "WORSE"}  # fmt: skip


def status(outside: list[dict], compared: int = 40, not_compared: int = 0, notes: tuple[str, ...] = ()) -> dict:
    return {"baseline": "results/baseline", "compared": compared, "outside": outside, "not_compared": not_compared,
            "notes": list(notes), "inputs": "0" * 64, "revision": "abc123def456",
            "created": "2025-01-02T03:04:05Z"}  # fmt: skip


def block(tmp_path: Path, record: dict | None) -> Document:
    """A Document with only the block, for a sweep folder holding `record` as regression.json (None: no file)."""
    results = tmp_path / "results" / "ci"
    results.mkdir(parents=True)
    if record is not None:
        (results / stamp.REGRESSION_FILE).write_text(json.dumps(record))
    doc = Document(tmp_path / "report")
    regression.add_block(doc, results)
    return doc


def test_a_value_outside_its_band_is_listed_and_the_verdict_is_regression(tmp_path):
    doc = block(tmp_path, status([WORSE], compared=40, not_compared=6, notes=("the spec differs",)))
    assert [b[0] for b in doc.blocks] == ["h", "p", "table", "p"]
    assert doc.blocks[0] == ("h", 2, "Regression status")
    assert doc.blocks[1][1].startswith(
        "REGRESSION against results/baseline: 40 compared values, 1 outside their band (6 not compared)."
    )
    assert "revision abc123def456, 2025-01-02T03:04:05Z" in doc.blocks[1][1]
    table = doc.blocks[2][1]
    assert list(table.columns) == ["compared", "metric", "baseline", "new", "band", "change", "verdict"]
    assert table.values.tolist() == [[WORSE[key] for key in regression.COLUMNS]]
    assert doc.blocks[3] == ("p", "Note: the spec differs")
    md, page = doc.markdown(), doc.html("r")
    for text in ("## Regression status", "iadb gauss-moons euler K=4", "+0.0625 (+10.0%)", "WORSE"):
        assert text in md, text
    assert "<h2>Regression status</h2>" in page and "<td>WORSE</td>" in page and "<td>±0.0313</td>" in page


def test_all_values_within_their_band_say_pass_and_list_no_rows(tmp_path):
    doc = block(tmp_path, status([], compared=228))
    assert doc.blocks == [("h", 2, "Regression status"),
                          ("p", "PASS against results/baseline: 228 compared values, 0 outside their band. "
                                "Compared at revision abc123def456, 2025-01-02T03:04:05Z.")]  # fmt: skip
    assert "REGRESSION" not in doc.markdown() and "<table" not in doc.html("r")


def test_a_long_list_is_cut_short_and_says_where_the_rest_is(tmp_path):
    outside = [dict(WORSE, name=f"cell {i}") for i in range(regression.MAX_ROWS + 5)]
    doc = block(tmp_path, status(outside))
    assert [b[0] for b in doc.blocks] == ["h", "p", "table", "p"]
    assert list(doc.blocks[2][1].compared) == [f"cell {i}" for i in range(regression.MAX_ROWS)]
    path = tmp_path / "results" / "ci" / "regression.json"
    assert doc.blocks[3][1] == (f"The first {regression.MAX_ROWS} of the {regression.MAX_ROWS + 5} values outside "
                                f"their band; all of them are in {path}.")  # fmt: skip
    assert block(tmp_path / "exactly", status(outside[: regression.MAX_ROWS])).blocks[-1][0] == "table"


def test_no_regression_file_no_block(tmp_path):
    assert block(tmp_path, None).blocks == []


def test_an_unreadable_file_says_so_instead_of_a_verdict(tmp_path):
    results = tmp_path / "ci"
    results.mkdir()
    (results / stamp.REGRESSION_FILE).write_text("{not json")
    doc = Document(tmp_path / "report")
    regression.add_block(doc, results)
    assert doc.blocks[0] == ("h", 2, "Regression status") and len(doc.blocks) == 2
    assert "could not be read" in doc.blocks[1][1] and "PASS" not in doc.markdown()


def test_a_changed_verdict_makes_the_report_stale(tmp_path):
    """regression.json is one of the report's inputs: writing, changing or removing it rebuilds the report."""
    results, out = tmp_path / "ci", tmp_path / "report"
    results.mkdir()
    out.mkdir()
    (results / "cells.csv").write_text("key,value\na,1\n")
    (out / "index.html").write_text("<html></html>")

    def built_now() -> None:
        (out / "report.sha256").write_text(stamp.inputs_digest(results))
        assert stamp.is_current(results, out)

    built_now()
    (results / stamp.REGRESSION_FILE).write_text(json.dumps(status([])))
    assert not stamp.is_current(results, out)
    built_now()
    (results / stamp.REGRESSION_FILE).write_text(json.dumps(status([WORSE])))
    assert not stamp.is_current(results, out)
    built_now()
    (results / stamp.REGRESSION_FILE).unlink()
    assert not stamp.is_current(results, out)
