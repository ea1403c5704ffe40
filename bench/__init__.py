"""blendbench's harness, by package (lowest first; imports only go down, see docs/architecture.md):

- `bench.rng`: seeds and per-sample random streams; `bench.profiles`: the built-in sweep files;
  `bench.fingerprint`: code fingerprints, the code part of every result's key.
- `bench.store`: results folders, atomic writes, crash points, provenance.
- `bench.data` (datasets), `bench.nets` (networks), `bench.solvers` (ODE solvers).
- `bench.plugins`: methods, solvers, datasets and networks from entry points and plugin files.
- `bench.evaluate`: metrics on points and images, the classifier extractor, likelihoods.
- `bench.run`: one cell's work: the sweep file (spec), training, sampling, device.
- `bench.studies`: the background post's experiments; `bench.check`: a plugin's conformance check.
- `bench.sweep`: the sweep runner, its keys (configuration and code) and its executors (pool, SLURM).
- `bench.tools`: perf and regress, about the harness itself.
- `bench.cli`: `python -m bench COMMAND`.

What each package makes public is its `__all__`; the rest is internal.
"""
