"""The store's incremental index of finished cells agrees with reading the whole file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.store.results import CELL_COLUMNS, ResultStore, complete_keys


def _cell(key: str, metrics: tuple[str, ...] = ("w2", "energy")) -> list[dict]:
    return [{**dict.fromkeys(CELL_COLUMNS, ""), "key": key, "metric": m, "value": "1.0", "reason": "a,b\nc"}
            for m in metrics]  # fmt: skip


def _on_disk(store: ResultStore) -> set[str]:
    return complete_keys(store.cells.rows())


def test_index_follows_appends_from_this_and_other_processes(tmp_path: Path) -> None:
    mine, other = ResultStore(tmp_path), ResultStore(tmp_path)  # two processes on one folder
    for i in range(5):
        assert mine.add_cell(_cell(f"a{i}"))
        assert other.add_cell(_cell(f"b{i}", ("w2",)))
    assert not mine.add_cell(_cell("b3"))  # the other process wrote it: not appended twice
    mine.refresh()
    assert mine.done == _on_disk(mine) == {f"{p}{i}" for p in "ab" for i in range(5)}
    assert len(mine.cells.rows()) == 15


def test_a_cell_torn_by_another_process_is_dropped_and_the_index_rebuilt(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.add_cell(_cell("kept"))
    # another process died after writing one of its cell's two rows (a whole line, so no partial line)
    torn = _cell("torn")[:1]
    torn[0]["cell_rows"] = 2
    ResultStore(tmp_path).cells.append(torn)
    store.add_cell(_cell("next"))
    assert store.done == _on_disk(store) == {"kept", "next"}
    assert "torn" not in {row["key"] for row in store.cells.rows()}


def test_index_survives_the_file_being_replaced(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    for key in ("x", "y", "z"):
        store.add_cell(_cell(key))
    other = ResultStore(tmp_path)
    other.cells.rewrite([row for row in other.cells.rows() if row["key"] != "y"])  # a new inode, fewer rows
    store.refresh()
    assert store.done == {"x", "z"}
    assert store.add_cell(_cell("y"))
    assert store.done == _on_disk(store) == {"x", "y", "z"}


def test_deterministic_algorithms_turns_on_atens_flag() -> None:
    import torch

    from bench.rng import deterministic_algorithms

    torch.use_deterministic_algorithms(False)
    try:
        deterministic_algorithms()
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(True)


def _versioned(key: str, config: str) -> list[dict]:
    return [{**row, "config_key": config} for row in _cell(key)]


def _keys(rows: list[dict]) -> list[str]:
    return sorted(row["key"] for row in rows)


def test_supersede_moves_the_rows_of_other_code_aside_and_back(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.add_cell(_versioned("old-a", "a"))
    store.add_cell(_versioned("b", "b"))
    store.add_cell(_cell("legacy-c"))  # written before config_key existed: its key is its configuration
    store.supersede({"a": "new-a", "b": "b", "legacy-c": "new-c", "d": "new-d"})
    assert _keys(store.cells.rows()) == ["b", "b"] and store.done == {"b"}
    assert _keys(store.superseded.rows()) == ["legacy-c"] * 2 + ["old-a"] * 2
    store.add_cell(_versioned("new-a", "a"))
    store.supersede({"a": "old-a"})  # the code was changed back: its rows return, the newer ones go aside
    assert store.done == {"old-a", "b"}
    assert _keys(store.superseded.rows()) == ["legacy-c"] * 2 + ["new-a"] * 2
    store.supersede({"a": "old-a"})  # nothing to do: nothing changes
    assert _keys(store.cells.rows()) == ["b"] * 2 + ["old-a"] * 2


def test_supersede_finishes_a_move_a_crash_interrupted(tmp_path: Path) -> None:
    """A move writes superseded.csv (with the leaving rows), cells.csv, then superseded.csv again
    (without the returning rows): whichever write a crash stops before, no row is lost, and the
    next call leaves each row in exactly one file."""
    store = ResultStore(tmp_path)
    store.add_cell(_versioned("old-a", "a"))
    store.add_cell(_versioned("back-b", "b"))
    store.superseded.rewrite(store.cells.rows()[2:])  # back-b is aside, its code changed earlier
    store.cells.rewrite(store.cells.rows()[:2])
    store.refresh()
    # died after the first write: old-a's rows are in both files
    store.superseded.rewrite(store.superseded.rows() + store.cells.rows())
    store.supersede({"a": "new-a", "b": "back-b"})
    assert _keys(store.cells.rows()) == ["back-b"] * 2
    assert _keys(store.superseded.rows()) == ["old-a"] * 2
    # died after the second write of a return: back-b is in both files
    store.superseded.rewrite(store.superseded.rows() + store.cells.rows())
    store.supersede({"a": "new-a", "b": "back-b"})
    assert _keys(store.cells.rows()) == ["back-b"] * 2 and _keys(store.superseded.rows()) == ["old-a"] * 2


@pytest.mark.parametrize("layout", ["before-code", "before-weights"])
def test_a_cells_file_of_an_earlier_layout_is_rewritten_and_an_unknown_one_refused(tmp_path: Path, layout) -> None:
    import csv

    from bench.store.results import CODE_COLUMNS, ResultsMismatch

    dropped = {"before-code": [*CODE_COLUMNS, "weights", "net", "net_origin"],
               "before-weights": ["weights", "net", "net_origin"]}[layout]  # fmt: skip
    earlier = [c for c in CELL_COLUMNS if c not in dropped]
    for name in ("cells.csv", "superseded.csv"):
        with open(tmp_path / name, "w", newline="") as f:
            writer = csv.DictWriter(f, earlier, lineterminator="\n")
            writer.writeheader()
            writer.writerows([{**{c: row[c] for c in earlier}, "cell_rows": "2"} for row in _cell("k")])
    store = ResultStore(tmp_path)
    assert list(store.superseded.rows()[0]) == CELL_COLUMNS and store.superseded.rows()[0]["weights"] == ""
    assert store.done == {"k"} and list(store.cells.rows()[0]) == CELL_COLUMNS
    assert store.cells.rows()[0]["reason"] == "a,b\nc" and store.cells.rows()[0]["config_key"] == ""
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "cells.csv").write_text(",".join([*earlier[:-1], "extra", "cell_rows"]) + "\n")
    with pytest.raises(ResultsMismatch):
        ResultStore(tmp_path / "other")
