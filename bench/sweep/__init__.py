"""The sweep: plan a spec's cells, train once per group, sample and measure every cell, record
it (`runner`), in one process or shared by a pool of processes or SLURM jobs (`executors`).

`run` is one process's sweep; `executors.run(spec, root, Parallel(...))` is the same sweep
with the work shared (the CLI's `--executor`)."""

from bench.sweep import executors
from bench.sweep.executors import EXECUTORS, Parallel
from bench.sweep.runner import Cell, Group, Summary, build_judges, extractor_ids, plan, run, train_all, trained_model

__all__ = ["EXECUTORS", "Cell", "Group", "Parallel", "Summary", "build_judges", "executors", "extractor_ids", "plan",
           "run", "train_all", "trained_model"]  # fmt: skip
