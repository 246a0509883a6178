"""Statistics for comparing two models on the same test objects (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["paired_difference"]


def paired_difference(diffs: np.ndarray, resamples: int = 10000, seed: int = 0) -> dict:
    """Mean of paired per-object differences and its 95 % bootstrap interval.

    Args:
        diffs: (S, N) difference per seed and test object (an object's score
            is its hit, or the mean hit of its images).
    Returns {"mean", "ci95": [lo, hi], "better_objects", "worse_objects"} with
    objects resampled (the seeds of an object stay together).
    Raises:
        ValueError: ``diffs`` is not (seeds, objects ≥ 2).
    """
    d = np.asarray(diffs, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] < 2:
        raise ValueError(f"diffs must be (seeds, objects ≥ 2), got shape {d.shape}")
    per_obj = d.mean(axis=0)
    idx = np.random.default_rng(seed).integers(0, len(per_obj), size=(resamples, len(per_obj)))
    boot = per_obj[idx].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"mean": float(per_obj.mean()), "ci95": [float(lo), float(hi)],
            "better_objects": int((per_obj > 0).sum()), "worse_objects": int((per_obj < 0).sum())}
