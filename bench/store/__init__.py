"""Where results live and how they survive a crash: the results folder of a sweep
(`results`: cells.csv, training.csv, checkpoints, claims and locks), atomic writes and content
hashes (`files`), the named crash points the reliability tests kill a run at (`faults`), and
the provenance recorded with every row (`provenance`)."""

from bench.store import faults, provenance
from bench.store.files import (
    TMP_SUFFIX,
    remove_stale_temporaries,
    save_torch_atomically,
    tensors_hash,
    write_atomically,
)
from bench.store.results import CELL_COLUMNS, FLOOR_METHOD, TRAIN_COLUMNS, ResultsMismatch, ResultStore, complete_keys

__all__ = ["CELL_COLUMNS", "FLOOR_METHOD", "TMP_SUFFIX", "TRAIN_COLUMNS", "ResultStore", "ResultsMismatch",
           "complete_keys", "faults", "provenance", "remove_stale_temporaries", "save_torch_atomically",
           "tensors_hash", "write_atomically"]  # fmt: skip
