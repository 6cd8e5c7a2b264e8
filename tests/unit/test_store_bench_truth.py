"""The store benchmark's exact ground truth: a running top 10 that never sorts a row."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger_bench.store_bench import _top_k


@pytest.mark.parametrize("cols,decimals", [(3, None), (10, None), (11, None), (5000, None),
                                           (5000, 1), (5000, 2)])
def test_top_k_is_the_stable_sort_head(cols, decimals) -> None:
    scores = np.random.default_rng(cols).normal(size=(200, cols)).astype(np.float32)
    if decimals is not None:  # many ties, some across the 10th place
        scores = np.round(scores, decimals)
    want = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    assert np.array_equal(_top_k(scores, 10), want)
