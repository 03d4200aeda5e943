import math

import pytest

from ms2mnet.report.stats import betainc, mean_ci, paired_t_test, t_quantile, t_sf_two_sided


@pytest.mark.parametrize("dof, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (1000, 1.9623)])
def test_t_quantile_matches_the_printed_table(dof, expected):
    assert t_quantile(0.975, dof) == pytest.approx(expected, abs=1e-4)


def test_two_sided_tail_closed_forms():
    # dof 1 is the Cauchy distribution; dof 2 has P(|T| >= t) = 1 - t / sqrt(t^2 + 2).
    assert t_sf_two_sided(5.0, 1) == pytest.approx(1 - 2 / math.pi * math.atan(5.0), rel=1e-10)
    assert t_sf_two_sided(3.0, 2) == pytest.approx(1 - 3 / math.sqrt(11), rel=1e-10)
    assert t_sf_two_sided(0.0, 7) == pytest.approx(1.0)
    assert betainc(2.0, 3.0, 0.4) == pytest.approx(0.5248, abs=1e-4)


def test_against_scipy_when_installed():
    stats = pytest.importorskip("scipy.stats")
    for dof in (1, 3, 17):
        assert t_quantile(0.975, dof) == pytest.approx(stats.t.ppf(0.975, dof), rel=1e-9)
        assert t_sf_two_sided(-1.7, dof) == pytest.approx(2 * stats.t.sf(1.7, dof), rel=1e-9)
    a, b = [80.0, 82.5, 84.0, 79.0], [78.0, 82.0, 80.5, 77.0]
    result = paired_t_test(dict(enumerate(a)), dict(enumerate(b)))
    assert result.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)


def test_mean_ci_with_few_values():
    assert mean_ci([]).mean is None
    one = mean_ci([81.0])
    assert (one.mean, one.half_width, one.n) == (81.0, None, 1)
    three = mean_ci([80.0, 82.0, 84.0])
    assert three.mean == pytest.approx(82.0)
    assert three.half_width == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-6)
    assert (three.low, three.high) == pytest.approx((82.0 - three.half_width, 82.0 + three.half_width))


def test_paired_test_pairs_by_seed_and_needs_two_pairs():
    variant, reference = {0: 78.0, 1: 79.0, 5: 1.0}, {0: 80.0, 1: 82.0, 2: 84.0}
    result = paired_t_test(variant, reference)   # seeds 0 and 1 only: differences -2, -3
    assert result.difference.n == 2
    assert result.difference.mean == pytest.approx(-2.5)
    assert result.p_value == pytest.approx(1 - 2 / math.pi * math.atan(5.0))
    assert result.significant is False
    single = paired_t_test({0: 70.0}, reference)
    assert single.p_value is None and single.significant is None and single.difference.n == 1
    assert paired_t_test({}, reference).difference.mean is None


def test_identical_differences():
    assert paired_t_test({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}).p_value == 1.0
    assert paired_t_test({0: 2.0, 1: 3.0}, {0: 1.0, 1: 2.0}).p_value == 0.0
