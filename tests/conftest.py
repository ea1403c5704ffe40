import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch


def process_state() -> dict[str, object]:
    """What a test must leave as it found it: torch's threads and deterministic-algorithms flag,
    torch's and numpy's global RNG states, and the data settings (`--data-root`, `--download`)."""
    from bench.data import images

    return {
        "torch threads": torch.get_num_threads(),
        "deterministic algorithms": torch.are_deterministic_algorithms_enabled(),
        "torch's global RNG": torch.get_rng_state(),
        "numpy's global RNG": np.random.get_state(),
        "data settings": dataclasses.replace(images.SETTINGS),
    }


LEAKS_THAT_FAIL = ("torch threads", "deterministic algorithms", "data settings")
"""Changed by harness code that must restore them (a test failing here found a leak); the RNG
states are only restored, since tests draw from them."""


def changed(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """The names of the state that differs between two `process_state` snapshots."""

    def same(a, b):
        if isinstance(a, torch.Tensor):
            return torch.equal(a, b)
        if isinstance(a, tuple):  # numpy's state: (name, keys array, pos, has_gauss, cached)
            return all(np.array_equal(x, y) for x, y in zip(a, b))
        return a == b

    return [key for key in before if not same(before[key], after[key])]


def restore(state: dict[str, object]) -> None:
    from bench.data import images

    torch.set_num_threads(state["torch threads"])
    torch.use_deterministic_algorithms(state["deterministic algorithms"])
    torch.set_rng_state(state["torch's global RNG"])
    np.random.set_state(state["numpy's global RNG"])
    images.configure(data_root=state["data settings"].data_root, download=state["data settings"].download)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.use_deterministic_algorithms(True)
    yield


@pytest.fixture(autouse=True)
def _no_leaked_state(_deterministic):
    """Every test starts from the same process state and leaves it so: the RNG states are put
    back; a test that leaves the threads, the deterministic flag or the data settings changed fails."""
    before = process_state()
    yield
    after = process_state()
    leaks = [key for key in changed(before, after) if key in LEAKS_THAT_FAIL]
    restore(before)
    if leaks:
        pytest.fail(
            f"the test left {', '.join(leaks)} changed: "
            + "; ".join(f"{key} {after[key]!r} (was {before[key]!r})" for key in leaks),
            pytrace=False,
        )


def pytest_collection_modifyitems(config, items):
    """Under `nox -s mutants`, run a mutant's tests fastest first: mutmut stops at the first failure
    (-x), so a mutant that a quick test kills costs that test only. The durations are mutmut's own,
    from its clean run (mutants/mutmut-stats.json; pytest runs in mutants/). Outside a mutant's run,
    the order is the files' own."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    stats = Path("mutmut-stats.json")
    if mutant in ("", "stats", "fail", "list_all_tests") or not stats.is_file():
        return
    duration = json.loads(stats.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: duration.get(item.nodeid, float("inf")))


@pytest.fixture(scope="session")
def mnist():
    """The mnist5k splits."""
    from bench.data.images import load_splits

    return load_splits("mnist5k")


@pytest.fixture(scope="session")
def extractors_folder(extractor):
    """The folder holding the session's trained classifier."""
    return extractor.path.parent


@pytest.fixture(scope="session")
def extractor(mnist, tmp_path_factory):
    """The mnist5k classifier, trained once per test session (the harness's fixed recipe), or once
    for many sessions in the folder `BLENDBENCH_TEST_EXTRACTORS` names (`nox -s mutants` sets it:
    each mutant is a test session of its own, and the classifier's code is not mutated)."""
    from bench.evaluate.classifier import obtain_classifier

    shared = os.environ.get("BLENDBENCH_TEST_EXTRACTORS")
    return obtain_classifier(mnist, Path(shared) if shared else tmp_path_factory.mktemp("shared") / "_extractors")


@pytest.fixture(scope="session")
def with_extractors(extractors_folder):
    """`with_extractors(root)`: make `root` a results root whose `_extractors` folder is the
    session's trained classifier, so image sweeps under it do not train their own."""
    from bench.evaluate.judge import EXTRACTORS_FOLDER

    def link(root):
        root.mkdir(parents=True, exist_ok=True)
        os.symlink(extractors_folder, root / EXTRACTORS_FOLDER)
        return root

    return link


@pytest.fixture
def results_root(tmp_path, with_extractors):
    return with_extractors(tmp_path / "results")


@pytest.fixture(scope="session")
def sweep_2d(tmp_path_factory):
    """A small 2D-only sweep with two seeds on triangle-square and gauss-moons, its figures
    computed: (results root, spec)."""
    import dataclasses

    from bench.run.spec import load_profile
    from bench.sweep import runner as sweep

    smoke = load_profile("smoke")
    spec = smoke.with_axes(methods=("iadb", "si-linear-simple", "si-linear-complex", "ddpm"),
                           datasets=("triangle-square", "gauss-moons"), seeds=(0, 1),
                           solvers=("euler", "rk4", "rk45", "ddim"), steps=(1, 2, 4))  # fmt: skip
    spec = dataclasses.replace(spec, name="small2d")
    root = tmp_path_factory.mktemp("sweep2d") / "results"
    sweep.run(spec, root, progress=False)
    return root, spec


@pytest.fixture(scope="session")
def sweep_images(tmp_path_factory, with_extractors):
    """A small image-only sweep (mnist5k, one seed), its figures computed: (results root, spec)."""
    import dataclasses

    from bench.run.spec import load_profile
    from bench.sweep import runner as sweep

    smoke = load_profile("smoke")
    spec = smoke.with_axes("mnist", methods=("iadb", "si-trig-simple", "si-trig-complex"),
                           solvers=("euler", "heun"), steps=(1, 2))  # fmt: skip
    spec = dataclasses.replace(spec, name="smallimages")
    root = with_extractors(tmp_path_factory.mktemp("sweepimages") / "results")
    sweep.run(spec, root, progress=False)
    return root, spec
