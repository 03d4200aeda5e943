"""Seed statistics: the mean with its 95% t-interval, and the paired t-test of two configurations.

The Student t distribution is computed here (regularised incomplete beta by Lentz's continued
fraction, quantile by bisection) so that the report needs no SciPy at run time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x={x}: expected 0 <= x <= 1")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, dof: int) -> float:
    """P(|T| >= |t|) for Student's t with `dof` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(dof / 2, 0.5, dof / (dof + t * t))


def t_quantile(p: float, dof: int) -> float:
    """The p-quantile of Student's t (0.5 < p < 1), by bisection on the two-sided tail."""
    if not 0.5 < p < 1.0:
        raise ValueError(f"p={p}: expected 0.5 < p < 1")
    tail = 2 * (1 - p)
    low, high = 0.0, 1.0
    while t_sf_two_sided(high, dof) > tail:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_sf_two_sided(mid, dof) > tail else (low, mid)
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


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
    return Estimate(mean, t_quantile(1 - ALPHA / 2, n - 1) * _sd(values) / math.sqrt(n), n)


@dataclass(frozen=True)
class PairedTest:
    """Paired t-test of `variant - reference` over seeds both have: the mean difference, its interval, p."""
    difference: Estimate
    p_value: float | None

    @property
    def significant(self) -> bool | None:
        return None if self.p_value is None else self.p_value < ALPHA


def paired_t_test(variant: dict[int, float], reference: dict[int, float]) -> PairedTest:
    """Pair the values by seed (keys); with fewer than two pairs there is no test (p is None)."""
    seeds = sorted(set(variant) & set(reference))
    diffs = [variant[s] - reference[s] for s in seeds]
    estimate = mean_ci(diffs)
    if estimate.n < 2:
        return PairedTest(estimate, None)
    standard_error = _sd(diffs) / math.sqrt(len(diffs))
    if standard_error == 0.0:   # identical differences: t is 0/0 or infinite
        return PairedTest(estimate, 1.0 if estimate.mean == 0.0 else 0.0)
    return PairedTest(estimate, t_sf_two_sided(estimate.mean / standard_error, len(diffs) - 1))
