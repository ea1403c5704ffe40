"""docs/images.md and README.md: every FD is read against its floor, the FD between the first n
held-out real images and the first n reference images, computed once per (dataset, n,
extractor) whatever the seeds (see docs/promises.md)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from bench.evaluate.fidelity import image_metrics
from bench.run.spec import load_profile
from bench.sweep import runner as sweep

SMOKE = load_profile("smoke")


def floors_only(n: int, seeds: tuple[int, ...]):
    spec = SMOKE.with_axes("mnist", methods=("iadb",), seeds=seeds, solvers=("euler",), steps=(1,))
    (track,) = spec.tracks
    track = dataclasses.replace(track, eval=dataclasses.replace(track.eval, samples=n))
    return dataclasses.replace(spec, name="imagefloor", tracks=(track,))


def test_an_image_floor_is_heldout_against_reference_once_per_dataset_and_count(
    results_root, mnist, extractor, tmp_path
):
    for n in (40, 60):
        summary = sweep.run(floors_only(n, (0, 1)), results_root, progress=False, groups=False)
        assert summary.references == 1  # one floor for both seeds
    again = sweep.run(floors_only(40, (0, 1, 2)), results_root, progress=False, groups=False)
    assert (again.references, again.already_done) == (0, 1)  # another seed: the same floor
    cells = pd.read_csv(results_root / "imagefloor" / "cells.csv", keep_default_na=False, dtype=str)
    fd = cells[(cells.method == sweep.FLOOR_METHOD) & (cells.metric == "fd")]
    assert sorted(fd.n_samples.astype(int)) == [40, 60] and (fd.seed == "").all()
    assert (fd.extractor == f"classifier-{extractor.weights_hash[:12]}").all()
    for n in (40, 60):
        direct = image_metrics(mnist.heldout[:n], mnist.reference[:n], extractor, reference_name=f"direct-{n}",
                               cache_root=tmp_path)  # fmt: skip
        (value,) = fd[fd.n_samples == str(n)].value.astype(float)
        assert value > 0 and value == pytest.approx(direct["fd"][0], rel=1e-9)
