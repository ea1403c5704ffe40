"""Regression tracking: a sweep's results against a committed baseline, aware of noise.

Quality. Rows are aggregated over seeds per (method, dataset, solver, steps, tol, metric): the
mean, the sd over the K seeds, and for KID the subset sd torch-fidelity reports. A metric fails
when its new mean moves from the baseline's by more than

    band = max(abs_tol, rel_tol * |baseline mean|, 3 * sqrt(sd_b^2 + sd_n^2) / sqrt(K))

in either direction: an improvement fails too, until `python -m bench baseline` accepts it.
The sd of a metric is its spread over independent seeds (never a bootstrap of one sample set:
duplicated samples inflate FD); for KID it is at least the rms of its subset sd. NFE must match
exactly. A cell missing on either side, or whose seeds no longer all finish, fails.

Timing. Training and sampling wall seconds are summed per track (so that the many short parts do
not each carry their own noise) and divided by a calibration workload (`calibration_workload`: a
fixed MLP training loop, one thread) timed at the start and the end of the same run; the sweep's
CPU seconds (all its processes) are divided by the calibration's CPU seconds. Each ratio must not
exceed TIMING_FACTOR times the baseline's (a slowdown fails; a speedup is shown, and
`python -m bench baseline` makes it the new reference).

Instruction set. A cold rerun is compared across machines, and PyTorch, oneDNN and MKL pick their
kernels by the CPU's instruction set, so an AVX-512 machine trains other networks (another
classifier, so another feature space) than an AVX2 one from the same seeds. The rerun therefore
runs with the kernels capped at AVX2 (`CPU_PIN`) wherever the CPU has AVX2: the CLI starts it in a
child process with that environment, since the caps are read when torch loads.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import shutil
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from bench.data import DATASETS
from bench.run import SpecError
from bench.store import provenance, write_atomically

QUALITY_KEYS = ["method", "dataset", "solver", "steps", "tol", "metric"]
NOISE_SIGMAS = 3.0
TIMING_FACTOR = 2.0
"""A normalised timing fails when it is more than 2x the baseline's (more than 2x faster is shown as
'ok: faster'): the calibration removes the machine's speed, not other processes' load, and on a
shared 2-core machine the same run's timings moved by up to 2.4x between a loaded and a quieter
moment (the tests check that +-30% passes). Record baselines on an otherwise idle machine."""
CALIBRATION_FILE = "calibration.json"
MARKER = ".regress-run"
"""Marks a results root a regress run made: only such a root is emptied by the next run."""
CPU_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
"""The kernels of a cold rerun, capped at AVX2 for PyTorch's own kernels, oneDNN and MKL: measured on an
AVX-512 machine (AMD EPYC, revision 892359b), the unpinned ci rerun trained the mnist5k classifier to
weights b2dc8ea6f4f0 and failed 3 of 228 values against a baseline recorded on an AVX2 machine
(classifier 0151c3fb1253); pinned, it trained 0151c3fb1253 again, 583 of 603 values were bitwise the
baseline's, and all 228 compared values passed."""
BASELINE_FILES = ("cells.csv", "provenance.jsonl", "training.csv", CALIBRATION_FILE)
"""What a baseline folder holds (no checkpoints or grids)."""


@dataclass(frozen=True)
class Tolerance:
    abs: float
    rel: float
    lower_is_better: bool | None = True
    """Which direction is 'worse' (None: neither, e.g. NFE; any change fails)."""


TOLERANCES = {
    "w2": Tolerance(2e-3, 0.05),
    "energy": Tolerance(2e-3, 0.05),
    "nll": Tolerance(2e-3, 0.05),
    "bpd": Tolerance(2e-3, 0.05),
    "fd": Tolerance(0.05, 0.05),
    "kid": Tolerance(2e-3, 0.05),
    "precision": Tolerance(0.01, 0.05, lower_is_better=False),
    "recall": Tolerance(0.01, 0.05, lower_is_better=False),
    "confidence": Tolerance(0.005, 0.05, lower_is_better=False),
    "class_entropy": Tolerance(0.01, 0.05, lower_is_better=False),
    "nfe": Tolerance(0.0, 0.0, lower_is_better=None),
}
"""Per metric: abs_tol absorbs float rounding between machines (a bitwise rerun moves nothing);
rel_tol = 5% so that a 10% shift fails wherever the seed noise allows (the band column shows
what it allows: the detection limit of each row)."""


@dataclass(frozen=True)
class Comparison:
    """One row of the table: a compared quantity, its two values, the band and the verdict."""

    name: str
    metric: str
    baseline: str
    new: str
    band: str
    change: str
    verdict: str

    @property
    def failed(self) -> bool:
        return not self.verdict.startswith(("ok", NOT_COMPARED))

    @property
    def compared(self) -> bool:
        return not self.verdict.startswith(NOT_COMPARED)


NOT_COMPARED = "not compared"
"""The verdict of an image metric measured through another feature extractor than the baseline's."""


def extractors(cells: pd.DataFrame) -> dict[str, set[str]]:
    """{dataset: the feature extractors (weights hashes) its image rows were measured with}."""
    rows = cells[cells.extractor != ""] if "extractor" in cells else cells.iloc[:0]
    return {dataset: set(group.extractor) for dataset, group in rows.groupby("dataset")}


def other_feature_spaces(baseline: pd.DataFrame, new: pd.DataFrame) -> dict[str, tuple[set[str], set[str]]]:
    """The image datasets whose classifier trained to other weights in the new run than in the
    baseline: {dataset: (baseline's extractors, new's)}. Their FD, KID, precision, recall and the
    classifier's confidence are distances in another feature space, not comparable with the
    baseline's. (The classifier is trained afresh by each cold run; on a CPU whose kernels sum in
    another order it trains to other weights.)"""
    before, after = extractors(baseline), extractors(new)
    return {d: (before[d], after[d]) for d in sorted(before.keys() & after.keys()) if before[d] != after[d]}


def load_run(folder: Path) -> tuple[pd.DataFrame, dict]:
    """A results folder's cells.csv (as strings) and its calibration record."""
    folder = Path(folder)
    cells = pd.read_csv(folder / "cells.csv", dtype=str, keep_default_na=False)
    calibration = json.loads((folder / CALIBRATION_FILE).read_text())
    return cells, calibration


def aggregate(cells: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and K over seeds per QUALITY_KEYS, NFE included as a metric (one value per cell).

    cells: cells.csv rows as strings. Returns columns QUALITY_KEYS + [mean, sd, k, seeds], where
    `seeds` counts the cells (finished or not) and `k` the finished values.
    """
    rows = cells[cells.metric != ""].copy()  # skipped cells carry no metric
    nfe = rows[rows.method != "floor"].drop_duplicates("key").assign(metric="nfe")
    nfe["value"], nfe["value_sd"] = nfe["nfe"], ""
    rows = pd.concat([rows, nfe])
    rows["ok"] = rows.status == "ok"
    rows["x"] = pd.to_numeric(rows.value.where(rows.ok), errors="coerce")
    rows["subset_sd"] = pd.to_numeric(rows.value_sd.where(rows.ok), errors="coerce")
    out = []
    for key, group in rows.groupby(QUALITY_KEYS, sort=True):
        values = group.x.dropna().tolist()
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        subset = group.subset_sd.dropna()
        if len(subset):  # KID: its subset spread, rms over seeds, bounds the noise from below
            sd = max(sd, math.sqrt(float((subset**2).mean())))
        mean = statistics.fmean(values) if values else math.nan
        out.append({**dict(zip(QUALITY_KEYS, key)), "mean": mean, "sd": sd, "k": len(values), "seeds": len(group)})
    return pd.DataFrame(out, columns=[*QUALITY_KEYS, "mean", "sd", "k", "seeds"])


def band(metric: str, base_mean: float, base_sd: float, new_sd: float, k: int) -> float:
    """How far the new mean may move from the baseline's (module docstring)."""
    tol = TOLERANCES.get(metric, Tolerance(2e-3, 0.05))
    noise = NOISE_SIGMAS * math.sqrt(base_sd**2 + new_sd**2) / math.sqrt(max(k, 1))
    return max(tol.abs, tol.rel * abs(base_mean), noise)


def _cell_name(row: pd.Series) -> str:
    where = f"{row.method} {row.dataset}"
    if row.solver:
        where += f" {row.solver} " + (f"K={row.steps}" if row.steps else f"tol={row.tol}")
    return where


def _fmt(mean: float, sd: float, k: int) -> str:
    return f"{mean:.4g} ± {sd:.2g} (K={k})" if k > 1 else f"{mean:.4g}"


def compare_quality(baseline: pd.DataFrame, new: pd.DataFrame) -> list[Comparison]:
    """Compare two cells.csv tables (strings) metric by metric. An image dataset measured through
    other extractor weights than the baseline's (`other_feature_spaces`) has its metrics listed as
    not compared (its NFE still is)."""
    elsewhere = other_feature_spaces(baseline, new)
    merged = aggregate(baseline).merge(aggregate(new), on=QUALITY_KEYS, how="outer", suffixes=("_b", "_n"),
                                       indicator="side")  # fmt: skip
    rows = []
    for row in merged.itertuples(index=False):
        name = _cell_name(row)
        if row.side == "left_only":
            rows.append(Comparison(name, row.metric, _fmt(row.mean_b, row.sd_b, int(row.k_b)), "–", "–", "–",
                                   "MISSING"))  # fmt: skip
            continue
        if row.side == "right_only":
            rows.append(Comparison(name, row.metric, "–", _fmt(row.mean_n, row.sd_n, int(row.k_n)), "–", "–",
                                   "NEW: accept with `nox -s baseline`"))  # fmt: skip
            continue
        base_txt = _fmt(row.mean_b, row.sd_b, int(row.k_b))
        new_txt = _fmt(row.mean_n, row.sd_n, int(row.k_n))
        if row.dataset in elsewhere and row.metric != "nfe":
            rows.append(Comparison(name, row.metric, base_txt, new_txt, "–", "–",
                                   f"{NOT_COMPARED}: other extractor weights"))  # fmt: skip
            continue
        if row.k_n < row.k_b or row.k_n < row.seeds_n:
            rows.append(Comparison(name, row.metric, base_txt, new_txt, "–", "–",
                                   f"failed: {int(row.k_n)} of {int(row.seeds_n)} seeds finished"))  # fmt: skip
            continue
        width = band(row.metric, row.mean_b, row.sd_b, row.sd_n, int(min(row.k_b, row.k_n)))
        delta = row.mean_n - row.mean_b
        change = f"{delta:+.3g}" + (f" ({delta / abs(row.mean_b):+.1%})" if row.mean_b else "")
        verdict = "ok"
        if not abs(delta) <= width:  # NaN fails too
            lower = TOLERANCES.get(row.metric, Tolerance(0, 0)).lower_is_better
            worse = None if lower is None or math.isnan(delta) else (delta > 0) == lower
            verdict = {True: "WORSE", False: "BETTER: accept with `nox -s baseline`", None: "CHANGED"}[worse]
        rows.append(Comparison(name, row.metric, base_txt, new_txt, f"±{width:.3g}", change, verdict))
    return rows


def timings(cells: pd.DataFrame) -> dict[str, float]:
    """Wall seconds of the run's parts, summed per track kind: training (once per training group)
    and sampling (once per cell). Per method they are a few seconds each and, on a shared machine,
    moved by 2.4x between two unchanged runs: summed, the load averages out."""
    rows = cells[(cells.status == "ok") & (cells.method != "floor")].copy()
    rows["kind"] = rows.dataset.map(lambda d: "2d" if DATASETS.get(d).kind == "points" else "images")
    out: dict[str, float] = {}
    for kind, group in rows.drop_duplicates("train_key").groupby("kind"):
        out[f"train {kind} (all methods)"] = float(pd.to_numeric(group.train_seconds).sum())
    for kind, group in rows.drop_duplicates("key").groupby("kind"):
        out[f"sample {kind} (all cells)"] = float(pd.to_numeric(group.sample_seconds).sum())
    return out


def compare_timings(baseline: pd.DataFrame, base_cal: dict, new: pd.DataFrame, new_cal: dict) -> list[Comparison]:
    """Each timing over its run's calibration; fails when more than TIMING_FACTOR times the baseline's.

    base_cal, new_cal: calibration records ({"seconds": wall, "cpu_seconds": CPU, "sweep_cpu_seconds": ...}).
    Wall timings are divided by the calibration's wall seconds; the sweep's CPU seconds (all its
    processes, which other processes' load hardly changes) by the calibration's CPU seconds.
    """
    before = {name: (t, base_cal["seconds"]) for name, t in timings(baseline).items()}
    after = {name: (t, new_cal["seconds"]) for name, t in timings(new).items()}
    if "sweep_cpu_seconds" in base_cal and "sweep_cpu_seconds" in new_cal:
        before["sweep CPU time (all processes)"] = (base_cal["sweep_cpu_seconds"], base_cal["cpu_seconds"])
        after["sweep CPU time (all processes)"] = (new_cal["sweep_cpu_seconds"], new_cal["cpu_seconds"])
    rows = []
    for name in sorted(before.keys() | after.keys()):
        if name not in before or name not in after:
            verdict = "MISSING" if name in before else "NEW: accept with `nox -s baseline`"
            rows.append(Comparison(name, "seconds / calibration", "–", "–", "–", "–", verdict))
            continue
        (tb, cb), (tn, cn) = before[name], after[name]
        b, n = tb / cb, tn / cn
        ratio = n / b if b > 0 else math.inf
        verdict = "SLOWER" if ratio > TIMING_FACTOR else ("ok: faster" if ratio < 1 / TIMING_FACTOR else "ok")
        rows.append(Comparison(name, "seconds / calibration", f"{b:.3g} ({tb:.3g} s)", f"{n:.3g} ({tn:.3g} s)",
                               f"≤ ×{TIMING_FACTOR:g}", f"×{ratio:.2f}", verdict))  # fmt: skip
    return rows


def compare_runs(baseline: Path, new: Path) -> list[Comparison]:
    """Every quality metric and every normalised timing of run folder `new` against `baseline`
    (image metrics through other extractor weights are listed, not compared)."""
    base_cells, base_cal = load_run(baseline)
    new_cells, new_cal = load_run(new)
    return compare_quality(base_cells, new_cells) + compare_timings(base_cells, base_cal, new_cells, new_cal)


def format_table(rows: list[Comparison]) -> str:
    """The one table: quantity, metric, baseline, new, band, change, verdict."""
    from tabulate import tabulate

    table = [[r.name, r.metric, r.baseline, r.new, r.band, r.change, r.verdict] for r in rows]
    return tabulate(table, headers=["compared", "metric", "baseline", "new", "band", "change", "verdict"],
                    tablefmt="simple", disable_numparse=True)  # fmt: skip


def summary_notes(rows: list[Comparison], baseline: Path, new: Path) -> list[str]:
    """The notes of the summary, each starting 'note: ': image values measured through other
    extractor weights (not compared), and a spec that differs from the baseline's."""
    skipped = [r for r in rows if not r.compared]
    lines = []
    tables = [pd.read_csv(Path(f) / "cells.csv", dtype=str, keep_default_na=False)
              for f in (baseline, new) if (Path(f) / "cells.csv").exists()]  # fmt: skip
    for dataset, (before, after) in (other_feature_spaces(*tables) if len(tables) == 2 else {}).items():
        count = sum(r.name.split()[1] == dataset for r in skipped)
        lines.append(f"note: {dataset}'s classifier trained to other weights here ({', '.join(sorted(after))}; "
                     f"baseline {', '.join(sorted(before))}), as on a CPU whose kernels sum in another order: its "
                     f"{count} image values are in another feature space and were not compared (its NFE was); "
                     "`nox -s baseline` on this machine makes them comparable here")  # fmt: skip
    specs = [_config_hashes(Path(folder)) for folder in (baseline, new)]
    if specs[0] != specs[1]:
        lines.append(f"note: the spec differs from the baseline's (config hash {', '.join(sorted(specs[0]))} vs "
                     f"{', '.join(sorted(specs[1]))}): values may move because the recipe did")  # fmt: skip
    return lines


def summary_line(rows: list[Comparison], baseline: Path, new: Path) -> str:
    """The verdict under the table: how many rows, which failed, and whether the specs differ."""
    failed = [r for r in rows if r.failed]
    lines = summary_notes(rows, baseline, new)
    rows = [r for r in rows if r.compared]
    if failed:
        lines.append(f"REGRESSION: {len(failed)} of {len(rows)} compared values outside their band:")
        lines += [f"  {r.name} / {r.metric}: {r.baseline} -> {r.new} (band {r.band}): {r.verdict}" for r in failed]
    else:
        lines.append(f"PASS: all {len(rows)} compared values within their band")
    return "\n".join(lines)


def _config_hashes(folder: Path) -> set[str]:
    path = folder / "provenance.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return {r["config_hash"] for r in records if "config_hash" in r}


STATUS_FILE = "regression.json"
"""A run folder's comparison with its baseline, as the report shows it (`reports/regression.py` reads
it): {"baseline", "compared", "outside": [the failed rows], "not_compared", "notes", "inputs", ...}."""


def report_baseline(folder: Path, against: Path | None = None) -> Path | None:
    """The baseline a report of sweep folder `folder` is compared with: `against` when given, else the
    results root's `baseline/` when it is a run of the same spec (the same config hashes; another spec
    would show the recipe's differences, not regressions), else None."""
    if against is not None:
        return Path(against)
    candidate = Path(folder).parent / "baseline"
    if not (candidate / "cells.csv").exists() or candidate.resolve() == Path(folder).resolve():
        return None
    hashes = _config_hashes(Path(folder))
    return candidate if hashes and hashes == _config_hashes(candidate) else None


def compare_folders(baseline: Path, new: Path) -> tuple[list[Comparison], list[str]]:
    """`compare_runs` for any two results folders, and the notes of its summary (without 'note: ').

    Timings are compared only when both folders hold calibration.json (a sweep does not time the
    calibration workload; a regress run does). Rows of networks trained elsewhere (`evaluate`, a
    non-empty `weights`) are left out: a baseline has none of them."""
    baseline, new = Path(baseline), Path(new)
    cells = []
    for folder in (baseline, new):
        table = pd.read_csv(folder / "cells.csv", dtype=str, keep_default_na=False)
        cells.append(table[table.weights == ""] if "weights" in table else table)
    rows = compare_quality(*cells)
    notes = [line.removeprefix("note: ") for line in summary_notes(rows, baseline, new)]
    calibrations = [folder / CALIBRATION_FILE for folder in (baseline, new)]
    if all(path.exists() for path in calibrations):
        rows += compare_timings(cells[0], json.loads(calibrations[0].read_text()), cells[1],
                                json.loads(calibrations[1].read_text()))  # fmt: skip
    else:
        lacking = ", ".join(str(path.parent) for path in calibrations if not path.exists())
        notes.append(f"timings not compared: no {CALIBRATION_FILE} in {lacking} (only `python -m bench regress` "
                     "times the calibration workload that makes timings of two runs comparable)")  # fmt: skip
    return rows, notes


def status_inputs(baseline: Path, new: Path) -> str:
    """The sha256 of what a comparison of `new` with `baseline` is made from: both folders' cells.csv,
    calibration.json and config hashes, and this module's code."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for folder in (Path(baseline), Path(new)):
        for name in ("cells.csv", CALIBRATION_FILE):
            data = (folder / name).read_bytes() if (folder / name).exists() else b""
            digest.update(f"{name} {len(data)}\n".encode() + data)
        digest.update(json.dumps(sorted(_config_hashes(folder))).encode())
    return digest.hexdigest()


def write_status(folder: Path, baseline: Path, rows: list[Comparison], notes: list[str]) -> dict:
    """Write folder/regression.json from a comparison of `folder` with `baseline`; returns its record."""
    record = {
        "baseline": str(baseline),
        "compared": sum(r.compared for r in rows),
        "outside": [asdict(r) for r in rows if r.failed],
        "not_compared": sum(not r.compared for r in rows),
        "notes": list(notes),
        "inputs": status_inputs(baseline, folder),
        "revision": provenance.git_revision(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_atomically(Path(folder) / STATUS_FILE, (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode())
    return record


def read_status(folder: Path) -> dict | None:
    """folder/regression.json, or None without one (or with one that is not a JSON object)."""
    try:
        record = json.loads((Path(folder) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def refresh_status(folder: Path, baseline: Path | None) -> dict | None:
    """Bring folder/regression.json up to date before its report is built; returns its record (None: no file).

    With a baseline: compare and write, unless the file already holds this comparison of these inputs
    (rewriting it would change its time, and so rebuild an unchanged report). Without one: keep a file
    whose comparison still holds (what `report --against` or `regress` wrote, its baseline and both
    runs unchanged) and remove any other, so that a report never shows an old verdict."""
    folder = Path(folder)
    old = read_status(folder)
    current = old is not None and old.get("inputs") == status_inputs(Path(str(old.get("baseline"))), folder)
    if baseline is None:
        if not current:
            (folder / STATUS_FILE).unlink(missing_ok=True)
            return None
        return old
    if current and old["baseline"] == str(baseline):
        return old
    return write_status(folder, baseline, *compare_folders(baseline, folder))


# pragma: no mutate block
# Below: timing the machine and running the ci profile in a child process, not the comparison;
# tests/bench/tools/test_regress.py covers them, `nox -s mutants` (docs/mutants.md) does not mutate them.
CALIBRATION_WORKLOAD = "median of 5 x 40 Adam steps, MLP 2-256-256-2, batch 1024, one thread"


def calibration_workload(repeats: int = 5, steps: int = 40) -> tuple[float, float]:
    """Median wall and CPU seconds of a fixed workload like the harness's own: `steps` Adam steps of an
    MLP (2 -> 256 -> 256 -> 2, batch 1024) on fixed data, repeated `repeats` times, in this process's threads."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1024, 2, generator=g)
    y = torch.randn(1024, 2, generator=g)
    walls, cpus = [], []
    for _ in range(repeats):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = torch.nn.Sequential(torch.nn.Linear(2, 256), torch.nn.SiLU(), torch.nn.Linear(256, 256),
                                      torch.nn.SiLU(), torch.nn.Linear(256, 2))  # fmt: skip
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            loss = (net(x) - y).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def cpu_pin(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """CPU_PIN on a CPU with AVX2 (read from /proc/cpuinfo), else {}: nothing to cap to."""
    try:
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return {}
    return dict(CPU_PIN) if "avx2" in flags.split() else {}


def needs_pin(environ: dict[str, str], pin: dict[str, str]) -> bool:
    """True when `environ` lacks one of the caps of `pin` (a cold rerun must then start afresh with them)."""
    return any(environ.get(key) != value for key, value in pin.items())


def cold_run(spec, results_root: Path, workers: int = 2) -> Path:
    """Run `spec` from nothing under `results_root`, timing the calibration workload before and after;
    returns the run's folder, with calibration.json.

    `results_root` is emptied first (only if a regress run made it): no checkpoint, classifier or
    cached feature is reused, so a change in training or in the metrics shows. Every process runs
    one torch thread (`workers` processes; 1: this one), so the numbers do not depend on the
    machine's cores, and small networks do not wait on thread synchronisation that a loaded
    machine makes slow.
    """
    from bench.sweep import executors

    results_root = Path(results_root)
    if results_root.exists() and any(results_root.iterdir()) and not (results_root / MARKER).exists():
        raise SpecError(f"refusing to empty {results_root}: it is not a folder a regress run made; "
                        "choose another --results")  # fmt: skip
    if results_root.exists():
        shutil.rmtree(results_root)
    results_root.mkdir(parents=True)
    (results_root / MARKER).write_text("made by `python -m bench regress`; emptied by the next run\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # this process's share, for the run; the caller's count is restored after
    try:
        parallel = executors.Parallel("pool", workers, 1) if workers > 1 else executors.Parallel("serial")
        before = calibration_workload()
        cpu = _cpu_seconds()
        summary = executors.run(spec, results_root, parallel, progress=False, make_figures=False)
        sweep_cpu = _cpu_seconds() - cpu
        after = calibration_workload()
    finally:
        torch.set_num_threads(threads)
    folder = results_root / spec.name
    record = {"seconds": (before[0] + after[0]) / 2, "cpu_seconds": (before[1] + after[1]) / 2,
              "before": before, "after": after, "threads": 1, "workers": workers,
              "workload": CALIBRATION_WORKLOAD, "sweep_seconds": summary.seconds,
              "cpu_pin": {key: os.environ.get(key, "") for key in CPU_PIN},
              "sweep_cpu_seconds": sweep_cpu}  # fmt: skip
    (folder / CALIBRATION_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return folder


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished child processes (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def write_baseline(run: Path, baseline: Path) -> None:
    """Replace the baseline folder's files by the run's (BASELINE_FILES only)."""
    baseline = Path(baseline)
    baseline.mkdir(parents=True, exist_ok=True)
    for name in BASELINE_FILES:
        if (Path(run) / name).exists():
            shutil.copyfile(Path(run) / name, baseline / name)
