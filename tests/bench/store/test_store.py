"""The store's incremental index of finished cells agrees with reading the whole file."""

from __future__ import annotations

from pathlib import Path

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
