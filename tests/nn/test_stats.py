"""The paired comparison that benchmarks/psb_accuracy.py reports against its baselines."""

import numpy as np
import pytest

from rotationnet.nn.stats import paired_difference


def test_paired_difference_matches_a_slow_bootstrap():
    rng = np.random.default_rng(3)
    diffs = rng.choice([-1.0, 0.0, 0.0, 1.0], size=(3, 40)) / 12  # 3 seeds, 40 objects
    got = paired_difference(diffs, resamples=2000, seed=7)
    # reference: the same resampling written as a plain loop
    per_obj = diffs.mean(axis=0)
    draws = np.random.default_rng(7).integers(0, 40, size=(2000, 40))
    boot = [sum(per_obj[j] for j in row) / 40 for row in draws]
    assert got["mean"] == pytest.approx(per_obj.mean())
    assert got["ci95"] == pytest.approx(list(np.percentile(boot, [2.5, 97.5])))
    assert got["better_objects"] == int((per_obj > 0).sum()) and got["worse_objects"] == int((per_obj < 0).sum())
    assert got["ci95"][0] <= got["mean"] <= got["ci95"][1]


def test_paired_difference_separates_a_real_gap_from_noise():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.2, size=(3, 96))
    assert paired_difference(noise + 0.1)["ci95"][0] > 0  # a clear gain
    lo, hi = paired_difference(noise)["ci95"]
    assert lo < 0 < hi  # no gain


@pytest.mark.parametrize("shape", [(96,), (3, 1), (2, 3, 4)])
def test_paired_difference_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="seeds, objects"):
        paired_difference(np.zeros(shape))
