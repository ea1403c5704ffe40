"""Running one sweep on many processes: a local process pool, or submitit jobs (SLURM, or local).

Every worker runs `sweep.run(..., share_groups=True)` on the same spec and results folder.
The folder's locks give each group's training to one worker, then each chunk of sampling
cells (one group, one solver) to one worker at a time, and a cell already on disk is never
done again (`ResultStore.claim`, `ResultStore.add_cell`), so the workers need no
coordinator, a worker that dies loses only the chunk it held (a rerun finishes it), and the
CSV they append to holds the same rows, with the same values, as a serial run's with the
same threads per process. What all workers share (the image extractors, the floor cells) is
done once, first, by the calling process.

In the `pool`, the calling process is one of the workers: it spawns `workers - 1` processes,
which import torch while it does the shared step, and then works beside them, its torch
threads set to the workers' share for the time. With submitit the caller only waits (on a
cluster it runs on a login node).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import plugins
from bench.data import images
from bench.run import CPU, Spec, SpecError
from bench.sweep import runner as sweep

EXECUTORS = ("serial", "pool", "submitit-local", "slurm")


@dataclass(frozen=True)
class Parallel:
    """How to run a sweep: the executor, its number of workers, and each worker's torch threads.

    workers: default, the CPU cores (`pool`, `submitit-local`) or 4 jobs (`slurm`).
    threads: per worker; default cores // workers, at least 1, so workers do not oversubscribe
    the CPU. The `slurm_*` fields are passed to submitit for `slurm` only.
    """

    executor: str = "serial"
    workers: int | None = None
    threads: int | None = None
    slurm_partition: str | None = None
    slurm_time_min: int = 240
    slurm_gpus_per_job: int = 0
    slurm_cpus_per_job: int = 4
    slurm_mem_gb: int = 16

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise SpecError(f"unknown executor {self.executor!r}; valid executors: {', '.join(EXECUTORS)}")
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SpecError(f"--{name} must be a positive integer, got {value}")

    def worker_count(self) -> int:
        if self.workers:
            return self.workers
        return 4 if self.executor == "slurm" else os.cpu_count() or 1

    def worker_threads(self) -> int:
        if self.threads:
            return self.threads
        if self.executor == "slurm":
            return self.slurm_cpus_per_job
        return max(1, (os.cpu_count() or 1) // self.worker_count())


def run(spec: Spec, results_root: Path, parallel: Parallel = Parallel(), *, progress: bool | None = None,
        inception_weights: Path | None = None, device: torch.device = CPU,
        make_figures: bool = True) -> sweep.Summary:  # fmt: skip
    """Run every missing cell of `spec` with `parallel.executor`; the summaries of all workers, summed."""
    if parallel.executor == "serial":
        return sweep.run(spec, results_root, progress=progress, inception_weights=inception_weights, device=device,
                         make_figures=make_figures)  # fmt: skip
    start = time.perf_counter()
    data = (images.SETTINGS.data_root.resolve(), images.SETTINGS.download)
    job = (spec, Path(results_root).resolve(), parallel.worker_threads(), inception_weights, str(device), data,
           plugins.state())  # fmt: skip
    count = parallel.worker_count()
    if parallel.executor == "pool":
        # spawn, not fork: a forked child inherits torch's thread pools in an undefined state
        with ProcessPoolExecutor(max(1, count - 1), mp_context=multiprocessing.get_context("spawn")) as pool:
            warm = [pool.submit(_warm_up) for _ in range(count - 1)]  # start them: they import while we go on
            shared = sweep.run(spec, results_root, progress=False, inception_weights=inception_weights,
                               device=device, groups=False)  # fmt: skip
            for future in warm:  # every worker ready before any starts: else on a small sweep the
                future.result()  # caller claims every group while the others still import torch
            others = [pool.submit(_worker, *job) for _ in range(count - 1)]
            mine = _worker(*job)
            summaries = [mine, *(future.result() for future in others)]
    else:
        shared = sweep.run(spec, results_root, progress=False, inception_weights=inception_weights, device=device,
                           groups=False)  # fmt: skip
        summaries = _submitit(job, count, parallel, Path(results_root) / spec.name / "_submitit")
    # the report's figures need every network: computed once, here, after the workers
    finish = sweep.run(spec, results_root, progress=False, inception_weights=inception_weights, device=device,
                       make_figures=make_figures)  # fmt: skip
    total = _sum([shared, *summaries, finish])
    # each worker counts the cells the others did as "already done": count them once instead
    cells = sum(len(group.cells) for group in sweep.plan(spec))
    worked = sum(s.sampled + s.skipped + s.failed for s in summaries)
    total.already_done = shared.already_done + cells - worked - finish.sampled - finish.skipped - finish.failed
    total.seconds = time.perf_counter() - start
    return total


def _worker(spec: Spec, results_root: Path, threads: int, inception_weights: Path | None, device: str,
            data: tuple[Path, bool], loaded: tuple[bool, tuple[str, ...]] = (False, ())) -> sweep.Summary:  # fmt: skip
    """One worker: `sweep.run` sharing groups, with its share of the CPU threads (restored after,
    for the calling process), the caller's data settings and the plugins it had loaded."""
    plugins.restore_state(loaded)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    images.configure(*data)
    try:
        return sweep.run(spec, results_root, progress=False, inception_weights=inception_weights,
                         device=torch.device(device), make_figures=False, share_groups=True)  # fmt: skip
    finally:
        torch.set_num_threads(before)


def _warm_up() -> None:
    """In a new worker, while the caller does the shared step: what a worker's first training
    step and first W2 would import (torch.optim loads torch's compiler hooks on first use)."""
    import scipy.optimize  # noqa: F401

    weight = torch.zeros(1, requires_grad=True)
    torch.optim.Adam([weight]).step()


def _submitit(job: tuple, count: int, parallel: Parallel, folder: Path) -> list[sweep.Summary]:
    import submitit

    cluster = "local" if parallel.executor == "submitit-local" else "slurm"
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    options: dict = {"name": f"blendbench-{job[0].name}", "timeout_min": parallel.slurm_time_min,
                     "cpus_per_task": job[2]}  # fmt: skip
    if cluster == "slurm":
        options.update(gpus_per_node=parallel.slurm_gpus_per_job, mem_gb=parallel.slurm_mem_gb)
        if parallel.slurm_partition:
            options["slurm_partition"] = parallel.slurm_partition
    executor.update_parameters(**options)
    jobs = executor.map_array(_worker, *zip(*[job] * count))
    return [j.result() for j in jobs]


def _sum(summaries: list[sweep.Summary]) -> sweep.Summary:
    total = sweep.Summary()
    for summary in summaries:
        for field in dataclasses.fields(total):
            setattr(total, field.name, getattr(total, field.name) + getattr(summary, field.name))
    return total
