import math

import pytest
from scipy import stats

from ms2mnet.report.stats import mean_ci, paired_t_test


def test_mean_ci_with_few_values():
    assert mean_ci([]).mean is None
    one = mean_ci([81.0])
    assert (one.mean, one.half_width, one.n) == (81.0, None, 1)
    three = mean_ci([80.0, 82.0, 84.0])
    assert three.mean == pytest.approx(82.0)
    assert three.half_width == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-6)   # the printed t table
    assert (three.low, three.high) == pytest.approx((82.0 - three.half_width, 82.0 + three.half_width))


def test_paired_test_matches_scipy_and_gives_a_verdict_from_three_pairs():
    a, b = [80.0, 82.5, 84.0, 79.0], [78.0, 82.0, 80.5, 77.0]
    result = paired_t_test(dict(enumerate(a)), dict(enumerate(b)))
    assert result.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert result.significant is (result.p_value < 0.05)


def test_paired_test_pairs_by_seed_and_with_two_pairs_shows_p_without_verdict():
    variant, reference = {0: 78.0, 1: 79.0, 5: 1.0}, {0: 80.0, 1: 82.0, 2: 84.0}
    result = paired_t_test(variant, reference)   # seeds 0 and 1 only: differences -2, -3
    assert result.difference.n == 2
    assert result.difference.mean == pytest.approx(-2.5)
    assert result.p_value == pytest.approx(1 - 2 / math.pi * math.atan(5.0))   # dof 1: the Cauchy tail
    assert result.significant is None
    single = paired_t_test({0: 70.0}, reference)
    assert single.p_value is None and single.significant is None and single.difference.n == 1
    assert paired_t_test({}, reference).difference.mean is None


def test_identical_differences():
    assert paired_t_test({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}).p_value == 1.0
    assert paired_t_test({0: 2.0, 1: 3.0}, {0: 1.0, 1: 2.0}).p_value == 0.0
