"""How numbers become table cells. A value that does not exist is "missing", never 0."""

from __future__ import annotations

from .stats import MIN_SEEDS, Estimate, PairedTest

MISSING = "missing"
NOT_APPLICABLE = "n/a"
NO_REFERENCE = "–"


def number(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:+.{digits}f}"


def estimate(est: Estimate, digits: int = 2, sign: bool = False) -> str:
    """"84.14 ± 0.32" (mean ± half-width of the 95% t-interval, from MIN_SEEDS values), "84.14 (n=2)" with
    fewer (no interval is printed: with two seeds it is 12.7 standard errors wide), or "missing"."""
    if est.mean is None:
        return MISSING
    mean = f"{est.mean:+.{digits}f}" if sign else f"{est.mean:.{digits}f}"
    if est.half_width is None or est.n < MIN_SEEDS:
        return f"{mean} (n={est.n})"
    return f"{mean} ± {est.half_width:.{digits}f}"


def p_value(test: PairedTest) -> str:
    """"0.012 (yes)" where p < 0.05, "0.31 (no)", "0.21" alone with two pairs (too few for a verdict),
    or "n/a" with fewer than two paired seeds."""
    if test.p_value is None:
        return NOT_APPLICABLE
    p = "<0.001" if test.p_value < 0.001 else f"{test.p_value:.3f}"
    return p if test.significant is None else f"{p} ({'yes' if test.significant else 'no'})"
