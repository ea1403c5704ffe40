"""The report's "Regression status" block, from results/<sweep>/regression.json alone.

The file is written by the harness (`python -m bench report --against FOLDER`, or a report of a sweep
whose results root holds a baseline of the same spec, or `python -m bench regress`): the baseline it
was compared with, how many values were compared, and the rows outside their band. Without the file
there is no block. See docs/regression.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from reports.stamp import REGRESSION_FILE

if TYPE_CHECKING:
    from reports.report import Document

COLUMNS = ("name", "metric", "baseline", "new", "band", "change", "verdict")
"""The fields of each row outside its band, as `python -m bench regress` prints them."""
HEADERS = ("compared", "metric", "baseline", "new", "band", "change", "verdict")
MAX_ROWS = 20
"""The block stays short: a comparison with a folder of another recipe can put every value outside its
band, and the rest are in the file."""


def add_block(doc: Document, results: Path) -> None:
    """Add the section to `doc` when `results` (a sweep folder) holds regression.json: a verdict line,
    a table of the values outside their band (none when all are within), and the comparison's notes."""
    path = Path(results) / REGRESSION_FILE
    if not path.exists():
        return
    doc.h(2, "Regression status")
    try:
        status = json.loads(path.read_text())
        outside = [{key: str(row.get(key, "")) for key in COLUMNS} for row in status.get("outside", [])]
    except (OSError, ValueError, AttributeError, TypeError) as err:
        doc.p(f"{path} could not be read ({err}); `python -m bench report` writes it again.")
        return
    compared, skipped = int(status.get("compared", 0)), int(status.get("not_compared", 0))
    verdict = "REGRESSION" if outside else "PASS"
    line = (f"{verdict} against {status.get('baseline', '?')}: {compared} compared values, {len(outside)} outside "
            f"their band")  # fmt: skip
    line += f" ({skipped} not compared)." if skipped else "."
    if "revision" in status or "created" in status:
        line += f" Compared at revision {status.get('revision', '?')}, {status.get('created', '?')}."
    doc.p(line)
    if outside:
        shown = outside[:MAX_ROWS]
        doc.table(pd.DataFrame([[row[key] for key in COLUMNS] for row in shown], columns=list(HEADERS)))
        if len(outside) > len(shown):
            doc.p(f"The first {len(shown)} of the {len(outside)} values outside their band; all of them are in {path}.")
    for note in status.get("notes", []):
        doc.p(f"Note: {note}")
