"""The grouping under the sufficient statistics gives exactly what np.unique(axis=0) gives."""

from __future__ import annotations

import numpy as np
import pytest

from lndbayes.models.sufficient import group_rows, indices_by


@pytest.mark.parametrize("seed", range(20))
def test_group_rows_matches_numpy_unique(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    cols = [rng.integers(0, int(rng.integers(1, 60)), n).astype(float),  # team
            rng.integers(0, 2, n).astype(float),                          # arm
            np.round(rng.normal(size=n), int(rng.integers(0, 3))),        # a covariate
            rng.choice([-0.0, 0.0, 1.5, np.inf], n)]                      # signed zeros
    keys = np.column_stack(cols[:int(rng.integers(1, 5))])
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    got, got_inv, first = group_rows(keys)
    np.testing.assert_array_equal(got, uniq)
    np.testing.assert_array_equal(got_inv, inv.reshape(-1))
    np.testing.assert_array_equal(keys[first], got)
    np.testing.assert_array_equal(first, np.unique(keys, axis=0, return_index=True)[1])


def test_group_rows_integer_keys_and_radix_overflow():
    rng = np.random.default_rng(1)
    for keys in (rng.integers(0, 200, (5000, 3)),       # small integers: the bincount path
                 rng.normal(size=(3000, 7))):            # 3000**7 > 2**62: re-coded on the way
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        got, got_inv, _ = group_rows(keys)
        np.testing.assert_array_equal(got, uniq)
        np.testing.assert_array_equal(got_inv, inv.reshape(-1))
    got, got_inv, first = group_rows(np.zeros((0, 3)))
    assert got.shape == (0, 3) and got_inv.size == 0 and first.size == 0


def test_indices_by_partitions_rows_in_order():
    codes = np.array([2, 0, 2, 1, 0, 2, 4])
    parts = indices_by(codes, 5)
    assert [p.tolist() for p in parts] == [[1, 4], [3], [0, 2, 5], [], [6]]
