"""Crash points: the places where the crash-safety tests kill a sweep with SIGKILL.

`BLENDBENCH_CRASH_AT="<point>:<n>"` kills the process the n-th time it reaches `<point>`
(a partial write first, where the point is a write). Outside those tests the variable is
unset and a crash point costs one dictionary lookup. The points:

- `train-step`: after a training step;
- `checkpoint-tmp`: a checkpoint written to its temporary file, not yet renamed;
- `sample-batch`: after one batch of a sampling cell;
- `measure`: samples drawn, metrics not yet computed;
- `cells-write`, `training-write`, `provenance-write`: half of an append written;
- `cell-added`: a cell's rows appended, the next cell not begun;
- `grid-tmp`: an image cell's grid written to its temporary file, not yet renamed;
- `features-tmp`: reference features written to their cache's temporary file, not yet renamed.
"""

from __future__ import annotations

import os
import signal

ENV = "BLENDBENCH_CRASH_AT"
POINTS = ("train-step", "checkpoint-tmp", "sample-batch", "measure", "cells-write", "training-write",
          "provenance-write", "cell-added", "grid-tmp", "features-tmp")  # fmt: skip
_reached: dict[str, int] = {}


def due(point: str) -> bool:
    """True when this arrival at `point` is the one the environment asks to crash at."""
    target = os.environ.get(ENV)
    if not target:
        return False
    name, _, count = target.rpartition(":")
    if name != point:
        return False
    _reached[point] = _reached.get(point, 0) + 1
    return _reached[point] == int(count)


def die() -> None:
    """End the process as a power cut or `kill -9` would: no cleanup, no flush, no handlers."""
    os.kill(os.getpid(), signal.SIGKILL)


def crash_point(point: str) -> None:
    """Die here if this arrival at `point` is the one asked for."""
    if due(point):
        die()
