"""Whether a sweep's report is current: the digest of everything the report is made from.

Kept apart from `reports.report` so that checking costs no import of pandas or matplotlib
(seconds on a loaded 2-core machine): a rerun of a sweep with nothing changed must be quick.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).parent
CODE = sorted(HERE.glob("*.py"))
"""The report's code, every module of `reports` (this one decides which runs it shows): a change
to any of them rebuilds the report."""

REGRESSION_FILE = "regression.json"
"""The sweep's comparison with a baseline (written by `bench`; shown by `reports/regression.py`)."""

WORK = ("trained", "loaded", "sampled", "skipped", "failed", "references", "figures")
"""The counts of a run's provenance summary that say it computed something."""


def records(results: Path) -> list[dict]:
    """Every record of `results/provenance.jsonl`, runs and commands, oldest first ([] without the file)."""
    path = results / "provenance.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def working_runs(results: Path) -> list[dict]:
    """The provenance records of the runs that computed something (trained, sampled, a floor, a
    figure...): a rerun that found everything done, and the records of the commands around a
    run (`"record": "command"`), change nothing the report shows, so they are left out of it."""
    return [r for r in records(results) if "record" not in r and any(r.get("summary", {}).get(k, 1) for k in WORK)]


def inputs_digest(results: Path) -> str:
    digest = hashlib.sha256()
    files = [results / "cells.csv", results / "training.csv", results / REGRESSION_FILE]
    files += sorted((results / "figures").glob("*.json")) + CODE
    for path in files:
        if path.exists():
            digest.update(path.name.encode() + path.read_bytes())
    digest.update(json.dumps(working_runs(results), sort_keys=True).encode())
    return digest.hexdigest()


def is_current(results: Path, out_dir: Path) -> bool:
    """True when out_dir's report was built from these results by this code (building it again would
    write the same files)."""
    stamp = Path(out_dir) / "report.sha256"
    return (Path(out_dir) / "index.html").exists() and stamp.exists() and stamp.read_text() == inputs_digest(
        Path(results))  # fmt: skip
