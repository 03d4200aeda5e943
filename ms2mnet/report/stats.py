"""Seed statistics: the mean with its 95% t-interval, and the paired t-test of two configurations (SciPy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
MIN_PAIRS_FOR_VERDICT = 3   # with 2 seeds a t-test has 1 degree of freedom: show p, claim nothing
MIN_SEEDS = 3               # intervals are shown from 3 seeds: with 2, t(0.975, 1) = 12.7 makes them meaningless


@dataclass(frozen=True)
class Estimate:
    """Mean over seeds with the half-width of its 95% t-interval (None with fewer than two values)."""
    mean: float | None
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width


def _sd(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1 in the denominator)."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def mean_ci(values: Sequence[float]) -> Estimate:
    """Mean and 95% t-interval (n - 1 degrees of freedom); n = 0 gives no mean, n = 1 no interval."""
    n = len(values)
    if n == 0:
        return Estimate(None, None, 0)
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(mean, None, 1)
    return Estimate(mean, stats.t.ppf(1 - ALPHA / 2, n - 1) * _sd(values) / math.sqrt(n), n)


@dataclass(frozen=True)
class PairedTest:
    """Paired t-test of `variant - reference` over seeds both have: the mean difference, its interval, p.
    `significant` is None (no verdict) with fewer than MIN_PAIRS_FOR_VERDICT pairs."""
    difference: Estimate
    p_value: float | None

    @property
    def significant(self) -> bool | None:
        if self.p_value is None or self.difference.n < MIN_PAIRS_FOR_VERDICT:
            return None
        return self.p_value < ALPHA


def paired_t_test(variant: dict[int, float], reference: dict[int, float]) -> PairedTest:
    """Pair the values by seed (keys); with fewer than two pairs there is no test (p is None)."""
    seeds = sorted(set(variant) & set(reference))
    diffs = [variant[s] - reference[s] for s in seeds]
    estimate = mean_ci(diffs)
    if estimate.n < 2:
        return PairedTest(estimate, None)
    if _sd(diffs) == 0.0:   # identical differences: t is 0/0 or infinite, SciPy gives nan
        return PairedTest(estimate, 1.0 if estimate.mean == 0.0 else 0.0)
    variant_values, reference_values = [variant[s] for s in seeds], [reference[s] for s in seeds]
    return PairedTest(estimate, float(stats.ttest_rel(variant_values, reference_values).pvalue))
