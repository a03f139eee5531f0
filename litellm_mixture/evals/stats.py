"""The statistics of the report, with scipy: a score's 95% interval (Wilson's for pass/fail,
Student's t otherwise), a paired difference's interval, and McNemar's exact test (the two-sided
binomial test on the samples where exactly one of two pass/fail systems is right)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy
from scipy import stats

LEVEL = 0.95


def binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def _t_interval(values: Sequence[float]) -> tuple[float, float]:
    mean = float(numpy.mean(values))
    n = len(values)
    sd = float(numpy.std(values, ddof=1)) if n > 1 else 0.0
    if sd == 0.0:
        return mean, mean
    half = float(stats.t.ppf((1 + LEVEL) / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def interval(values: Sequence[float]) -> tuple[float, float]:
    """A mean score's 95% interval."""
    if not values:
        return math.nan, math.nan
    if binary(values):
        found = stats.binomtest(int(sum(values)), len(values)).proportion_ci(LEVEL, "wilson")
        return float(found.low), float(found.high)
    return _t_interval(values)


def paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """``a - b`` on the same samples: the mean difference and its 95% interval (t)."""
    differences = [x - y for x, y in zip(a, b, strict=True)]
    if not differences:
        return math.nan, math.nan, math.nan
    low, high = _t_interval(differences)
    return float(numpy.mean(differences)), low, high


def mcnemar(a: Sequence[float], b: Sequence[float]) -> float:
    """McNemar's exact p-value for two pass/fail systems on the same samples (1.0: no sample
    tells them apart)."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x > y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y > x)
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def percentile(values: Sequence[float], q: float) -> float:
    return float(numpy.percentile(values, q)) if values else math.nan
