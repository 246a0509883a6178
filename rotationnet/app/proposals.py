"""Class-agnostic object proposals for whole pictures, without learned weights.

CNOS-style detection needs regions that might be objects, each with a mask.
No segmenter with bundled weights installs here, so the regions come from
OpenCV's (contrib) selective search — hierarchical grouping of graph-based
segments, which finds most object boxes within a few hundred proposals — and
each proposal's mask from one graph-based segmentation of the picture: the
union of the segments that lie inside the proposal's box.  Background
segments run out of the box and drop out; an object made of several segments
keeps them all.  Proposals whose masks are the same set of segments are one.

:func:`segments` — the picture's graph-based segmentation (labels).
:func:`proposals` — boxes and segment sets (:class:`Proposal`), their masks on
demand (:meth:`Proposal.mask`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Proposal", "segments", "proposals", "box_iou"]


@dataclass(frozen=True)
class Proposal:
    """A region that might be an object: ``box`` (x, y, w, h) pixels, the tight
    box of its mask; ``segments`` the ids (of :func:`segments`' labels) it is
    made of."""

    box: tuple[int, int, int, int]
    segments: np.ndarray

    def mask(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) float32 0/1 mask of the proposal in the whole picture."""
        return np.isin(labels, self.segments).astype(np.float32)


def segments(rgb: np.ndarray, k: float = 100.0, sigma: float = 0.8, min_size: int = 20) -> np.ndarray:
    """Felzenszwalb–Huttenlocher graph segmentation (OpenCV contrib): (H, W)
    int32 labels 0..S-1.  ``k`` favours larger segments; ``min_size`` in pixels."""
    import cv2

    seg = cv2.ximgproc.segmentation.createGraphSegmentation(sigma=sigma, k=k, min_size=min_size)
    return seg.processImage(np.ascontiguousarray(rgb[..., ::-1])).astype(np.int32)


def _selective_search(rgb: np.ndarray, fast: bool) -> np.ndarray:
    import cv2

    ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(np.ascontiguousarray(rgb[..., ::-1]))
    if fast:
        ss.switchToSelectiveSearchFast()
    else:
        ss.switchToSingleStrategy(150)
    return np.asarray(ss.process(), dtype=np.int64).reshape(-1, 4)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (N, M) of boxes ``a`` (N, 4) and ``b`` (M, 4), each [x, y, w, h]."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum((a[:, 0] + a[:, 2])[:, None], (b[:, 0] + b[:, 2])[None])
    y1 = np.minimum((a[:, 1] + a[:, 3])[:, None], (b[:, 1] + b[:, 3])[None])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = a[:, 2] * a[:, 3]
    barea = b[:, 2] * b[:, 3]
    return inter / np.maximum(area[:, None] + barea[None] - inter, 1e-9)


def proposals(rgb: np.ndarray, labels: np.ndarray | None = None, *, min_side: int = 16, max_share: float = 0.7,
              max_aspect: float = 4.0, slack: int = 4, fast: bool = False, limit: int = 600) -> list[Proposal]:
    """Selective-search boxes of ``rgb`` (H, W, 3) uint8, each turned into the
    set of ``labels``' segments inside it (a segment's box within the box
    grown by ``slack`` pixels).  Kept: masks at least ``min_side`` pixels on
    each side, at most ``max_share`` of the picture's width and height, sides
    within ``max_aspect`` of each other; one proposal per set of segments, in
    selective search's order (its best groupings first), at most ``limit``.

    Returns:
        the proposals; ``labels`` as :func:`segments` gives them (computed when None).
    """
    h, w = rgb.shape[:2]
    if labels is None:
        labels = segments(rgb)
    n = int(labels.max()) + 1
    ys, xs = np.indices(labels.shape)
    flat = labels.ravel()
    sx0 = np.full(n, w)
    sy0 = np.full(n, h)
    sx1 = np.zeros(n, np.int64)
    sy1 = np.zeros(n, np.int64)
    np.minimum.at(sx0, flat, xs.ravel())
    np.minimum.at(sy0, flat, ys.ravel())
    np.maximum.at(sx1, flat, xs.ravel() + 1)
    np.maximum.at(sy1, flat, ys.ravel() + 1)
    boxes = _selective_search(rgb, fast)
    bx0, by0 = boxes[:, 0:1] - slack, boxes[:, 1:2] - slack
    bx1, by1 = boxes[:, 0:1] + boxes[:, 2:3] + slack, boxes[:, 1:2] + boxes[:, 3:4] + slack
    inside = (sx0[None] >= bx0) & (sy0[None] >= by0) & (sx1[None] <= bx1) & (sy1[None] <= by1)  # (P, S)
    seen, out = set(), []
    for row in inside:
        ids = np.nonzero(row)[0]
        if len(ids) == 0:
            continue
        key = ids.tobytes()
        if key in seen:
            continue
        seen.add(key)
        x0, y0 = int(sx0[ids].min()), int(sy0[ids].min())
        x1, y1 = int(sx1[ids].max()), int(sy1[ids].max())
        bw, bh = x1 - x0, y1 - y0
        if min(bw, bh) < min_side or bw > max_share * w or bh > max_share * h or max(bw, bh) > max_aspect * min(bw, bh):
            continue
        out.append(Proposal((x0, y0, bw, bh), ids.astype(np.int32)))
        if len(out) >= limit:
            break
    return out
