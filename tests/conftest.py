import os

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.use_deterministic_algorithms(True)
    yield


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
    """The mnist5k classifier, trained once per test session (the harness's fixed recipe)."""
    from bench.evaluate.classifier import obtain_classifier

    return obtain_classifier(mnist, tmp_path_factory.mktemp("shared") / "_extractors")


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
