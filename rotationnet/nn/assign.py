"""RotationNet's latent view assignment as pure, batched tensor functions.

Layout (the reference implementation's): a batch holds N whole objects, each
as V consecutive images in rig order.  The network emits, per image, V blocks
of C+1 scores, one block per view slot; the last score of a block is the
"incorrect view" class.  So ``logits`` is (N·V, V·(C+1)) with row ``n·V + i``
(object n, image i) and column ``k·(C+1) + c`` (slot k, class c).

Every function runs on the logits' device with no Python loop over objects,
candidates or views.  :func:`unordered_assignment` and :func:`ordered_assignment`
score 1..V images of one object (numpy in, numpy out) for prediction and
evaluation.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "image_log_ratios",
    "image_class_log_probs",
    "view_log_ratios",
    "candidate_scores",
    "view_targets",
    "rotationnet_loss",
    "joint_argmax",
    "unordered_assignment",
    "ordered_assignment",
]


def _check(logits: torch.Tensor, num_views: int) -> tuple[int, int]:
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N·V, V·(C+1)), got shape {tuple(logits.shape)}")
    rows, cols = logits.shape
    if rows % num_views or cols % num_views or cols // num_views < 2:
        raise ValueError(
            f"logits shape {tuple(logits.shape)} does not fit V={num_views} views "
            "(expected (N·V, V·(C+1)) with C >= 1)"
        )
    return rows // num_views, cols // num_views - 1


def image_log_ratios(logits: torch.Tensor, num_views: int) -> torch.Tensor:
    """Paper Eq. 5 for any set of images: (M, V·(C+1)) → (M, V, C) with
    ``r[m, k, c] = log p(c | image m at slot k) − log p(incorrect | image m at slot k)``.

    ``log softmax(z)_c − log softmax(z)_C = z_c − z_C``: the normaliser cancels,
    so the ratio is a plain difference of logits (cheaper and more exact).
    """
    if logits.ndim != 2 or logits.shape[1] % num_views or logits.shape[1] // num_views < 2:
        raise ValueError(f"logits shape {tuple(logits.shape)} does not fit V={num_views} views")
    z = logits.reshape(logits.shape[0], num_views, logits.shape[1] // num_views)
    return z[..., :-1] - z[..., -1:]


def image_class_log_probs(ratios: torch.Tensor) -> torch.Tensor:
    """Class of a single image whose view slot is unknown: (..., V, C) → (..., C).

    The log of ``mean_k p(c | image at slot k)``, the class marginal over slots
    with a uniform slot prior.  It is recovered from the log-ratios alone,
    since ``p(c | slot k) = exp(r[k, c]) / (1 + Σ_c' exp(r[k, c']))`` under the
    (C+1)-way softmax of slot k.  Exponentiated, the C values of an image sum
    to at most 1 (the rest is "incorrect view" mass).

    Args:
        ratios: (..., V, C) from :func:`image_log_ratios` (one image's slots).
    Returns:
        (..., C) log-probabilities.
    """
    if ratios.ndim < 2 or ratios.shape[-1] < 1:
        raise ValueError(f"ratios must be (..., V, C), got shape {tuple(ratios.shape)}")
    zero = torch.zeros_like(ratios[..., :1])
    log_p = ratios - torch.logsumexp(torch.cat([zero, ratios], dim=-1), dim=-1, keepdim=True)
    return torch.logsumexp(log_p, dim=-2) - math.log(ratios.shape[-2])


def view_log_ratios(logits: torch.Tensor, num_views: int) -> torch.Tensor:
    """Per (image, slot) log-probability ratios of paper Eq. 5.

    Args:
        logits: (N·V, V·(C+1)) scores in the layout above.
        num_views: V.
    Returns:
        (N, V, V, C) tensor ``s[n, i, k, c] = log p(c | image i at slot k) −
        log p(incorrect view | image i at slot k)``.
    """
    n, c = _check(logits, num_views)
    return image_log_ratios(logits, num_views).reshape(n, num_views, num_views, c)


def candidate_scores(ratios: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Score of every (candidate, class) for every object.

    Args:
        ratios: (N, V, V, C) from :func:`view_log_ratios`; entries of
            unobserved images may be zero (neutral).
        candidates: (K, V) long; ``candidates[j, k]`` = image placed at slot k.
    Returns:
        (N, K, C) with ``score[n, j, c] = Σ_k ratios[n, candidates[j, k], k, c]``.
    """
    if ratios.ndim != 4 or ratios.shape[1] != ratios.shape[2]:
        raise ValueError(f"ratios must be (N, V, V, C), got shape {tuple(ratios.shape)}")
    n, v, _, c = ratios.shape
    if candidates.ndim != 2 or candidates.shape[1] != v:
        raise ValueError(f"candidates must be (K, {v}), got shape {tuple(candidates.shape)}")
    cand = candidates.to(device=ratios.device, dtype=torch.long)
    flat = cand * v + torch.arange(v, device=ratios.device)  # (K, V) index of (image, slot)
    gathered = ratios.reshape(n, v * v, c)[:, flat]  # (N, K, V, C)
    return gathered.sum(dim=2)


def view_targets(
    logits: torch.Tensor, labels: torch.Tensor, candidates: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of RotationNet training: the best candidate for the true class.

    Args:
        logits: (N·V, V·(C+1)) network outputs (gradients are not needed here).
        labels: (N,) long, true class of each object.
        candidates: (K, V) long rotation candidates of the rig.
    Returns:
        targets: (N·V·V,) long, row ``(n·V + i)·V + k`` (matching
            ``logits.reshape(-1, C+1)``): the true class where image i fills
            slot k under the chosen candidate, C ("incorrect view") elsewhere.
        chosen: (N,) long, the chosen candidate of each object (ties → the
            lowest index).
    """
    v = candidates.shape[1]
    n, c = _check(logits, v)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    labels = labels.to(device=logits.device, dtype=torch.long)
    if n and (int(labels.min()) < 0 or int(labels.max()) >= c):
        raise ValueError(f"labels must lie in [0, {c}), got range [{int(labels.min())}, {int(labels.max())}]")
    cand = candidates.to(device=logits.device, dtype=torch.long)
    with torch.no_grad():
        # only the true class matters here: gather it before summing over slots
        z = logits.detach().reshape(n, v * v, c + 1)
        ratio = z.gather(2, labels.view(n, 1, 1).expand(n, v * v, 1))[..., 0] - z[..., c]  # (N, V·V)
        flat = cand * v + torch.arange(v, device=logits.device)  # (K, V)
        chosen = ratio[:, flat].sum(dim=2).argmax(dim=1)  # (N,), first maximum on ties
    targets = torch.full((n, v, v), c, dtype=torch.long, device=logits.device)
    rows = torch.arange(n, device=logits.device)[:, None]
    slots = torch.arange(v, device=logits.device)[None, :]
    targets[rows, cand[chosen], slots] = labels[:, None].expand(n, v)
    return targets.reshape(-1), chosen


def rotationnet_loss(
    logits: torch.Tensor, labels: torch.Tensor, candidates: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of all V² (image, slot) rows of every object against
    :func:`view_targets` (optionally label-smoothed over the C+1 classes of a
    row).  Returns (scalar loss, chosen candidates (N,))."""
    v = candidates.shape[1]
    targets, chosen = view_targets(logits, labels, candidates)
    c1 = logits.shape[1] // v
    return F.cross_entropy(logits.reshape(-1, c1), targets, label_smoothing=label_smoothing), chosen


def joint_argmax(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inference: joint argmax over (candidate, class).

    Args:
        scores: (N, K, C) from :func:`candidate_scores`.
    Returns:
        (classes (N,), candidates (N,), class_scores (N, C)) where
        ``class_scores[n, c] = max_j scores[n, j, c]``.
    """
    best, _ = scores.max(dim=1)  # (N, C)
    cls = best.argmax(dim=1)
    idx = cls.view(-1, 1, 1).expand(-1, scores.shape[1], 1)
    cand = scores.gather(2, idx)[..., 0].argmax(dim=1)
    return cls, cand, best


def unordered_assignment(ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best injective image → slot assignment for every class.

    Args:
        ratios: (M, V, C) log-ratios of M ≤ V images.
    Returns:
        scores (C,): the best total per class; slots (C, M): the slot of each
        image under that class's best assignment.  A single image (M = 1) is
        scored by its class marginal over slots (:func:`image_class_log_probs`,
        log-probabilities), which measured 1–4 points better than its best
        slot's ratio on PSB; its slot is still the best one for each class.
    """
    from scipy.optimize import linear_sum_assignment

    r = np.asarray(ratios, dtype=np.float64)
    if r.ndim != 3 or not 1 <= r.shape[0] <= r.shape[1]:
        raise ValueError(f"ratios must be (M, V, C) with 1 <= M <= V, got shape {r.shape}")
    m, _, c = r.shape
    if m == 1:
        slots = r[0].argmax(axis=0)  # (C,)
        return image_class_log_probs(torch.from_numpy(r[0])).numpy(), slots[:, None]
    scores = np.empty(c)
    slots = np.empty((c, m), dtype=np.int64)
    for cls in range(c):
        rows, cols = linear_sum_assignment(r[:, :, cls], maximize=True)
        slots[cls, rows] = cols
        scores[cls] = r[rows, cols, cls].sum()
    return scores, slots


def ordered_assignment(ratios: np.ndarray, positions: Sequence[int], candidates: np.ndarray):
    """Joint (candidate, class) scores for images at known rig positions.

    Args:
        ratios: (M, V, C); positions: (M,) distinct rig image indices;
        candidates: (K, V).
    Returns:
        scores (K, C) with unobserved slots contributing nothing.
    """
    r = torch.as_tensor(np.asarray(ratios, dtype=np.float32))
    m, v, c = r.shape
    pos = np.asarray(positions, dtype=np.int64)
    if pos.shape != (m,) or len(set(pos.tolist())) != m or pos.min() < 0 or pos.max() >= v:
        raise ValueError(f"positions must be {m} distinct indices in [0, {v}), got {list(positions)}")
    full = torch.zeros(1, v, v, c)
    full[0, torch.as_tensor(pos)] = r
    return candidate_scores(full, torch.tensor(candidates))[0].numpy()
