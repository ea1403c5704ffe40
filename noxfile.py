"""Sessions: `nox -s bench` (quick profile: CSV, figures, report), `nox -s report`, `nox -s perf`,
`nox -s tests`, `nox -s lint`, `nox -s docs` (the generated docs), `nox -s regress` / `nox -s baseline`
(the ci profile against results/baseline/), `nox -s microbench`, `nox -s mutants` (mutation testing).

All sessions share one virtual environment, `.nox/blendbench`, built once with the
interpreter that runs nox (torch makes a fresh environment cost minutes and gigabytes) and
reinstalled only when pyproject.toml changes. Nox never downloads an interpreter.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.download_python = "never"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
VENV = ROOT / ".nox" / "blendbench"


def shared_python(session: nox.Session) -> str:
    """The shared environment's interpreter, creating or refreshing the environment if needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (nox may run on an older interpreter)
        session.error(f"blendbench needs Python >= 3.11; nox runs on {sys.version.split()[0]}")
    python = VENV / "bin" / "python"
    stamp = VENV / "blendbench-installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(VENV), external=True)
    if not stamp.exists() or stamp.read_text() != want:
        session.run(str(python), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test,lint]", external=True)
        stamp.write_text(want)
    return str(python)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the quick profile (or `-- --profile NAME`): results/<profile>/, then the report in
    reports/<profile>/index.html (the sweep ends by building it). With more than one core the
    quick profile runs on a pool of local processes, one per core and one torch thread each: the
    results of a serial run with one thread, sooner (docs/devices.md)."""
    python = shared_python(session)
    pool = ["--executor", "pool"] if (os.cpu_count() or 1) > 1 else []
    args = session.posargs or ["--profile", "quick", *pool]
    session.run(python, "-m", "bench", "sweep", *args, external=True)


@nox.session
def report(session: nox.Session) -> None:
    """Build reports/<profile>/index.html and report.md from the existing results/<profile>/
    (quick, or `-- --profile NAME`); runs nothing else."""
    python = shared_python(session)
    args = session.posargs or ["--profile", "quick"]
    session.run(python, "-m", "bench", "report", *args, external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """Rewrite docs/results.md and the README's pictures (docs/images/) from results/quick/ and its
    report (or `-- --profile NAME`); run `nox -s bench` first."""
    python = shared_python(session)
    session.run(python, "-m", "bench", "docs", *session.posargs, external=True)


@nox.session
def perf(session: nox.Session) -> None:
    """The harness's own cost: sampling and a training step vs bare PyTorch loops, its solvers vs
    torchdiffeq (results/perf/perf.csv); `-- --quality` for W2 vs floor per 2D method instead."""
    python = shared_python(session)
    session.run(python, "-m", "bench", "perf", *session.posargs, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest exits 5 when it collected no test: that fails the session)."""
    python = shared_python(session)
    session.run(python, "-m", "pytest", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    python = shared_python(session)
    session.run(python, "-m", "ruff", "check", ".", external=True)
    session.run(python, "-m", "ruff", "format", "--check", ".", external=True)


@nox.session
def regress(session: nox.Session) -> None:
    """Rerun the ci profile from nothing (results/regress/) and compare it with results/baseline/:
    one table, non-zero exit on any regression (`python -m bench regress -h` for options)."""
    python = shared_python(session)
    session.run(python, "-m", "bench", "regress", *session.posargs, external=True)


@nox.session
def baseline(session: nox.Session) -> None:
    """Rerun the ci profile from nothing, print its differences from results/baseline/, then make it
    the new baseline (commit results/baseline/ afterwards): how a deliberate change is accepted."""
    python = shared_python(session)
    session.run(python, "-m", "bench", "baseline", *session.posargs, external=True)


MICROBENCH_FAIL = "median:100%"
"""A micro-benchmark fails when its median doubles against the last saved run of this machine id: on the
shared 2-core development machine two unchanged runs a few minutes apart differed by up to +54% (median)."""


@nox.session
def microbench(session: nox.Session) -> None:
    """Time the micro-benchmarks (tests marked `microbench`), save the run under .benchmarks/<machine id>/,
    and compare it with the last saved run of the same machine id when there is one."""
    python = shared_python(session)
    machine = session.run(python, "-c", "from pytest_benchmark.utils import get_machine_id; print(get_machine_id())",
                          silent=True, external=True).strip()  # fmt: skip
    storage = ROOT / ".benchmarks"
    args = ["-m", "microbench", "--benchmark-enable", "--benchmark-only", "--benchmark-autosave",
            f"--benchmark-storage=file://{storage}", "--benchmark-columns=min,median,iqr,rounds"]  # fmt: skip
    if sorted((storage / machine).glob("*.json")):
        args += ["--benchmark-compare", f"--benchmark-compare-fail={MICROBENCH_FAIL}"]
    else:
        session.log(f"no saved run for {machine} under {storage}: this run becomes the first to compare with")
    session.run(python, "-m", "pytest", *args, "tests", *session.posargs, external=True)


MUTMUT = "mutmut==3.8.1"


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of the science core (docs/mutation.md): `mutmut run` over the files and tests
    of `[tool.mutmut]` in pyproject.toml, then the score per file against 90 % and the survivors
    against docs/mutation-survivors.toml (results/mutants/score.md). 46 minutes on two cores.
    `-- --resume` keeps mutants/ from the last run (only changed functions are retested)."""
    python = shared_python(session)
    session.run(python, "-m", "pip", "install", "--quiet", MUTMUT, external=True)
    resume = "--resume" in session.posargs
    if not resume and (ROOT / "mutants").exists():
        session.log("removing mutants/ from the last run (pass -- --resume to keep it)")
        shutil.rmtree(ROOT / "mutants")
    extractors = ROOT / "mutants" / "_extractors"  # the test classifier, trained once for every mutant
    # One thread per mutant: mutmut runs one per core, and two mutants of two threads each on two
    # cores spin in each other's way (a test file took 232 s instead of 24 s, measured side by side).
    env = {"BLENDBENCH_TEST_EXTRACTORS": str(extractors), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    session.run(str(VENV / "bin" / "mutmut"), "run", "--max-children", str(os.cpu_count() or 2), env=env, external=True)
    session.run(python, "-m", "bench.tools.mutants", external=True)
