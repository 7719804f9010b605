"""Issue 12, items 1-9: wrong answers, crashes, hangs and unnamed errors in the library API.

Each test names the item it holds. Bad input must raise ``ValueError`` naming the argument.
"""

import numpy as np
import pytest

from ualign import Profile, robust_win_rate, solve_ualign
from ualign.core._checks import check_user_weights, check_weights


# ---------------------------------------------------------------- item 1: huge / tiny weights
def test_item1_huge_weights_normalise_safely():
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[1e308, 1e308])
    np.testing.assert_allclose(P.weights, [0.5, 0.5])
    assert robust_win_rate(P, [1 / 3] * 3, 1).value < 1.0
    res = solve_ualign(P, 2)
    assert res.exploitability >= -1e-12
    merged = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 1, 0]],
                                   weights=[1e308, 1e308, 1e308])
    np.testing.assert_allclose(merged.weights, [2 / 3, 1 / 3])
    tiny = Profile.from_rankings([[0, 1], [1, 0]], weights=[5e-324, 5e-324])
    np.testing.assert_allclose(tiny.weights, [0.5, 0.5])


@pytest.mark.parametrize("check", [check_weights, check_user_weights])
def test_item1_weight_checks(check):
    np.testing.assert_allclose(check([1e308, 1e308, 1e308], 3), [1 / 3] * 3)
    np.testing.assert_allclose(check([5e-324, 0.0], 2), [1.0, 0.0])
    for bad in ([np.inf, 1.0], [np.nan, 1.0], [0.0, 0.0], [-1.0, 2.0]):
        with pytest.raises(ValueError, match="weights"):
            check(bad, 2)
