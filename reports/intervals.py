"""Intervals over seeds and the statistics the report ranks by (see reports.summary).

An interval is the 95 % percentile bootstrap interval of a statistic over seeds
(`scipy.stats.bootstrap`, RESAMPLES resamples from a fixed seed, so a report is reproducible);
over several datasets the bootstrap is stratified, as rliable's (Agarwal et al. 2021): each
dataset's seeds are resampled within that dataset. With two or three seeds an interval shows how
far the seeds spread, not a coverage guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.stats
from rliable import metrics as rly

RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
INTERVAL = (f"95 % percentile bootstrap interval over seeds (scipy.stats.bootstrap, {RESAMPLES:,} resamples; "
            "with two or three seeds exactly their range; across datasets stratified by dataset)")  # fmt: skip


def interval(samples: Sequence[Sequence[float]], statistic: str = "mean") -> tuple[float, float]:
    """The 95 % percentile bootstrap interval of `statistic` ('mean' or 'iqm') over the pooled
    samples, each sample (a dataset's seeds) resampled within itself. (nan, nan) when a sample has
    fewer than two values: one seed has no spread to show."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if not arrays or any(len(a) < 2 for a in arrays):
        return math.nan, math.nan
    pooled = np.concatenate(arrays)
    if np.all(pooled == pooled[0]):
        return float(pooled[0]), float(pooled[0])

    def stat(*xs: np.ndarray, axis: int = -1) -> np.ndarray:
        joined = np.concatenate(xs, axis=axis)
        if statistic == "iqm":
            return scipy.stats.trim_mean(joined, 0.25, axis=axis)
        return joined.mean(axis=axis)

    result = scipy.stats.bootstrap(tuple(arrays), stat, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                                   method="percentile", vectorized=True, paired=False,
                                   rng=np.random.default_rng(BOOTSTRAP_SEED))  # fmt: skip
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def iqm(samples: Sequence[Sequence[float]]) -> float:
    """rliable's interquartile mean of every value of every sample."""
    return float(rly.aggregate_iqm(np.concatenate([np.asarray(s, dtype=float) for s in samples])))


def with_interval(value: float, low: float, high: float, digits: int = 3) -> str:
    """'1.234 [1.200, 1.300]', or '1.234' when there is no interval (one seed)."""
    if math.isnan(value):
        return "–"
    text = f"{value:.{digits}f}"
    return text if math.isnan(low) else f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


def paired_improvement(better: Sequence[float], worse: Sequence[float]) -> float:
    """P(better < worse) over pairs (lower is better; a tie counts one half): rliable's
    probability_of_improvement with each pair its own task of one run, so the count is paired."""
    x, y = -np.asarray(better, dtype=float)[None, :], -np.asarray(worse, dtype=float)[None, :]
    return float(rly.probability_of_improvement(x, y))
