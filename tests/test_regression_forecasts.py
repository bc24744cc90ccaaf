"""Forecasts for a fixed seed do not change when the code is reorganised (see tests/regression/cases.py).

The reference was recorded with ``python tests/regression/cases.py --write``; ``--check`` compares bit for
bit on the machine that recorded it. Here the comparison allows float32 rounding noise only, so a
different CPU's kernels pass while any change of the math, of the initialisation order or of the random
stream (all move forecasts by far more than 1e-4) fails.
"""

import numpy as np
import pytest
from regression.cases import CASES, REFERENCE, forecast_case


@pytest.mark.parametrize("name", sorted(CASES))
def test_forecasts_for_a_fixed_seed_are_unchanged(name):
    reference = np.load(REFERENCE)[name]
    forecasts = forecast_case(name)
    assert forecasts.shape == reference.shape
    np.testing.assert_allclose(forecasts, reference, rtol=1e-4, atol=1e-5, equal_nan=True)
