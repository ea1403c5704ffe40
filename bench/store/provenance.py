"""Where a run's numbers came from: code revision, library versions, device and threads."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy
import torch


def git_revision(cwd: Path | None = None) -> str:
    """The commit of the working tree, '+dirty' when it has changes; 'unknown' outside git."""
    cwd = cwd or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout

    try:
        rev = git("rev-parse", "--short=12", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def device_name() -> str:
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def collect(config_hash: str) -> dict[str, str | int]:
    """The provenance fields written beside every result row."""
    return {
        "git_rev": git_revision(),
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "device": device_name(),
        "threads": torch.get_num_threads(),
        "config_hash": config_hash,
    }
