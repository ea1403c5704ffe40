"""The suite's guard against state leaking from one test into the next (tests/conftest.py): each
kind of process state a test could leave changed is seen by `changed`, and `restore` puts it back.
A test that leaves torch's threads, the deterministic flag or the data settings changed fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import LEAKS_THAT_FAIL, changed, process_state, restore

from bench.data import images


@pytest.mark.parametrize(
    "leak, expected",
    [
        (lambda: torch.set_num_threads(max(1, torch.get_num_threads() % 2 + 1)), "torch threads"),
        (lambda: torch.use_deterministic_algorithms(False), "deterministic algorithms"),
        (lambda: torch.rand(1), "torch's global RNG"),
        (lambda: np.random.rand(), "numpy's global RNG"),
        (lambda: images.configure(data_root="elsewhere"), "data settings"),
        (lambda: images.configure(download=not images.SETTINGS.download), "data settings"),
    ],
    ids=["threads", "deterministic", "torch-rng", "numpy-rng", "data-root", "download"],
)
def test_each_leak_is_seen_and_restored(leak, expected):
    before = process_state()
    leak()
    assert changed(before, process_state()) == [expected]
    restore(before)
    assert changed(before, process_state()) == []


def test_the_leaks_that_fail_are_those_of_harness_settings():
    assert set(LEAKS_THAT_FAIL) == {"torch threads", "deterministic algorithms", "data settings"}


def test_the_cli_gives_its_caller_its_settings_back(tmp_path):
    """`--threads` and `--data-root` hold for one command (they used to stay set for the session)."""
    from bench.cli import main

    before = process_state()
    assert main(["--threads", "1", "--data-root", str(tmp_path), "list"]) == 0
    assert [key for key in changed(before, process_state()) if key in LEAKS_THAT_FAIL] == []


def test_under_mutmut_a_mutants_tests_run_fastest_first(tmp_path, monkeypatch):
    """tests/conftest.py orders a mutant's tests by the durations mutmut recorded (-x then stops at
    the first, cheapest failure); outside a mutant's run, and for mutmut's own clean and stats runs,
    the order is left alone."""
    import json
    from types import SimpleNamespace

    from conftest import pytest_collection_modifyitems

    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": {"a": 3.0, "b": 0.5, "c": 1.0}}))
    monkeypatch.chdir(tmp_path)
    collected = [SimpleNamespace(nodeid=name) for name in ("a", "unknown", "b", "c")]
    for mutant, order in (("", "a unknown b c"), ("stats", "a unknown b c"), ("m.x_f__mutmut_1", "b c a unknown")):
        monkeypatch.setenv("MUTANT_UNDER_TEST", mutant)
        items = list(collected)
        pytest_collection_modifyitems(None, items)
        assert " ".join(i.nodeid for i in items) == order, mutant
