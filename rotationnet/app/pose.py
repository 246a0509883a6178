"""Pose from the asset's own renders: template matching on spatial features,
then render-and-compare.

The way model-based pose methods for unseen objects work (template-pose,
FoundPose, GigaPose), on this CPU and with the offline EfficientNet-Lite
weights:

1. **Templates** (:func:`build_templates`): the asset is rendered from a view
   sphere (:class:`TemplateSpec`: azimuth every 10°, elevations from below the
   horizon to straight above), each render cropped around its silhouette
   (:func:`rotationnet.app.segment.render_crops`) and described by the frozen
   backbone's spatial feature map (:class:`rotationnet.app.descriptor.Descriptor`).
2. **Shortlist** (:func:`shortlist`): in a larger library, only the assets whose
   pooled template vectors match the picture best are scored in full.
3. **Coarse** (:func:`coarse_match`): the picture's crop, turned by the in-plane
   angles searched (±30° by default), is scored against every template:
   mask-weighted cosine of the cells plus silhouette IoU, less a small cost for
   cameras below the asset's horizon (:func:`view_prior`).
4. **Refine** (:func:`refine`): around the best hypotheses the asset is
   rendered again from nearby cameras (finer azimuth, elevation and roll,
   halving the step), scored the same way, to a continuous rotation.

A pose is a camera in the asset's frame: ``direction`` (unit vector from the
asset's centre towards the camera) and ``up`` (the picture's up direction);
:func:`pose_fields` turns it into the worker's reply fields.  :func:`search`
runs the whole way for the pictures of one object and returns a
:class:`SearchResult`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rotationnet.core.views import (angle_deg, azimuth_elevation, camera_up_vectors, direction, turn_camera,
                                    world_to_camera, matrix_to_quaternion)

from .descriptor import Descriptor, Features
from .segment import Picture, degrade, object_crop, render_crops, rotate_image

__all__ = ["TemplateSpec", "Templates", "Hypothesis", "Query", "PicturePose", "SearchResult", "RenderFn",
           "build_templates", "describe_picture", "similarity", "view_prior", "coarse_match", "refine", "distinct",
           "confidence", "shortlist", "class_prior", "search", "pose_fields", "DEFAULT_ROLLS", "FULL_ROLLS"]

# render(asset id, directions (N, 3), ups (N, 3)) → (N, S, S, 4) uint8 RGBA renders of that asset
RenderFn = Callable[[str, np.ndarray, np.ndarray], np.ndarray]


def small_side(crop: int) -> int:
    """The side a ``crop``-pixel crop is resampled through to look like a small
    object's (one of about 40 pixels in a crop of 48)."""
    return max(8, crop // 2)


@dataclass(frozen=True)
class TemplateSpec:
    """Where the templates of an asset are seen from, and how they are drawn."""

    azimuth_step: float = 10.0
    elevations: tuple[float, ...] = (-20.0, -5.0, 10.0, 25.0, 40.0, 55.0, 70.0)
    top: bool = True  # plus one camera straight above
    render_size: int = 192  # pixels of the whole frame (the unit sphere) before cropping
    crop: int = 96  # the crop the backbone sees: 6 × 6 cells at stride 16 (also described as a small
    # object's: resampled through small_side(crop) pixels)

    def directions(self) -> np.ndarray:
        """(T, 3) unit vectors towards the template cameras (elevation-major)."""
        az = np.arange(0.0, 360.0, self.azimuth_step)
        dirs = [direction(az, e) for e in self.elevations]
        if self.top:
            dirs.append(np.array([[0.0, 0.0, 1.0]]))
        return np.concatenate(dirs)

    def key(self) -> dict:
        return {"azimuth_step": self.azimuth_step, "elevations": list(self.elevations), "top": self.top,
                "render_size": self.render_size, "crop": self.crop, "small": small_side(self.crop)}


@dataclass(frozen=True)
class Templates:
    """One asset's pose templates (its representation for the pose stage).

    Attributes:
        directions: (T, 3) float32 unit vectors towards the template cameras, in
            the asset's normalised frame (centred, in the unit sphere).
        ups: (T, 3) float32 the template cameras' up vectors.
        features: the T crops' descriptors (:class:`Features`).
        pooled: (T, D) float32 ``features.pooled()``, kept for the shortlist.
        small: the same crops described as a small object's (resampled
            through :func:`small_side` pixels: :func:`rotationnet.app.segment.degrade`),
            for pictures whose object spans fewer than :data:`SMALL_SIDE` pixels.
        pooled_small: (T, D) ``small.pooled()``.
    """

    directions: np.ndarray
    ups: np.ndarray
    features: Features
    pooled: np.ndarray
    small: Features | None = None
    pooled_small: np.ndarray | None = None

    def for_size(self, small: bool) -> Features:
        """The descriptors to match a picture's crop against (small: its object was small)."""
        return self.small if small and self.small is not None else self.features

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for a cache file (:meth:`from_arrays` reads them back)."""
        f = self.features
        out = {"t_directions": self.directions, "t_ups": self.ups, "t_feat": f.feat, "t_cells": f.cells,
               "t_sil": f.sil, "t_pooled": self.pooled}
        if self.small is not None:
            out.update({"t_small_feat": self.small.feat, "t_small_cells": self.small.cells,
                        "t_small_sil": self.small.sil, "t_small_pooled": self.pooled_small})
        return out

    @classmethod
    def from_arrays(cls, z) -> "Templates":
        small = pooled_small = None
        if "t_small_feat" in z:
            small = Features(z["t_small_feat"], z["t_small_cells"], z["t_small_sil"])
            pooled_small = z["t_small_pooled"]
        return cls(z["t_directions"], z["t_ups"], Features(z["t_feat"], z["t_cells"], z["t_sil"]), z["t_pooled"],
                   small, pooled_small)


def build_templates(render: Callable[[np.ndarray, np.ndarray], np.ndarray], descriptor: Descriptor,
                    spec: TemplateSpec) -> Templates:
    """Render one asset from the spec's view sphere (``render(directions, ups)
    → (T, S, S, 4)`` RGBA on a transparent background) and describe every view."""
    dirs = spec.directions()
    ups = camera_up_vectors(dirs)
    crops, masks = render_crops(render(dirs, ups), spec.crop)
    f = descriptor(crops, masks)
    fs = descriptor(*degrade(crops, masks, small_side(spec.crop)))
    return Templates(dirs.astype(np.float32), ups.astype(np.float32), f, f.pooled(), fs, fs.pooled())


# ----------------------------------------------------------------------------
# matching
# ----------------------------------------------------------------------------

@dataclass
class Hypothesis:
    """A pose of one asset: camera ``direction`` and ``up`` in the asset's frame,
    its matching ``score`` and the estimated probability that it is right
    (``confidence``: for the best pose, that the view error is ≤ 30°)."""

    asset: str
    direction: np.ndarray
    up: np.ndarray
    score: float
    confidence: float = 0.0


@dataclass(frozen=True)
class Query:
    """One picture's descriptors at the in-plane turns searched (``rolls``,
    degrees counter-clockwise; ``features`` row i is the picture turned by rolls[i])."""

    rolls: np.ndarray
    features: Features
    small: bool = False  # the picture's object spans fewer than SMALL_SIDE pixels

    @property
    def unturned(self) -> Features:
        """The descriptor of the picture as it is (roll 0), a batch of one."""
        i = int(np.argmin(np.abs(self.rolls)))
        return self.features.take(slice(i, i + 1))


SMALL_SIDE = 48  # pictures whose object spans fewer pixels are matched against the templates' small descriptors


def describe_picture(descriptor: Descriptor, picture: Picture, size: int, rolls: Sequence[float]) -> Query:
    """The picture's object crop at every in-plane turn in ``rolls`` (0 included), described."""
    rolls = tuple(float(r) for r in rolls)
    if 0.0 not in rolls:
        rolls = (0.0, *rolls)
    ys, xs = np.nonzero(picture.mask > 0.5)
    small = bool(len(xs)) and bool(max(np.ptp(xs), np.ptp(ys)) + 1 < SMALL_SIDE)
    crops, masks = [], []
    for r in rolls:
        im, m = rotate_image(picture.rgb, picture.mask, r)
        c, cm = object_crop(im, m, size)
        crops.append(c)
        masks.append(cm)
    return Query(np.asarray(rolls), descriptor(np.stack(crops), np.stack(masks)), small)


def similarity(q: Features, t: Features, sil_weight: float = 0.5) -> np.ndarray:
    """Scores (R, T) of R query crops against T templates: the mask-weighted
    mean cosine of the feature cells (weights: the larger coverage of query and
    template) plus ``sil_weight`` × silhouette IoU."""
    qf = torch.from_numpy(q.feat).float()  # (R, g, g, D)
    tf = torch.from_numpy(t.feat).float()  # (T, g, g, D)
    cos = torch.einsum("rhwd,thwd->rthw", qf, tf)
    w = torch.maximum(torch.from_numpy(q.cells).float()[:, None], torch.from_numpy(t.cells).float()[None])
    fs = (cos * w).sum((-1, -2)) / w.sum((-1, -2)).clamp_min(1e-6)
    qs = torch.from_numpy(q.sil).float().flatten(1)  # (R, P)
    ts = torch.from_numpy(t.sil).float().flatten(1)  # (T, P)
    inter = torch.minimum(qs[:, None], ts[None]).sum(-1)
    union = torch.maximum(qs[:, None], ts[None]).sum(-1)
    return (fs + sil_weight * inter / union.clamp_min(1e-6)).numpy()


BELOW_PENALTY = 0.3  # score taken off per unit of -sin(elevation) of a camera below the asset's horizon


def view_prior(directions: np.ndarray, weight: float | None = None) -> np.ndarray:
    """(N,) score bonus (≤ 0) of cameras at ``directions`` (N, 3): pictures of an
    object standing upright are rarely taken from below it (on COIL-100's toy
    cars this removed most placements seen from under the car)."""
    w = BELOW_PENALTY if weight is None else weight
    return -w * np.maximum(0.0, -np.asarray(directions, dtype=np.float64)[:, 2])


def coarse_match(q: Query, templates: Templates, asset: str, top: int = 3, min_angle: float = 30.0
                 ) -> list[Hypothesis]:
    """The ``top`` best (template, turn) pairs of one asset as hypotheses, their
    cameras at least ``min_angle`` degrees apart (one per region of the view sphere)."""
    s = similarity(q.features, templates.for_size(q.small)) + view_prior(templates.directions)[None]  # (R, T)
    best_roll = s.argmax(axis=0)
    per_t = s[best_roll, np.arange(s.shape[1])]
    dirs = templates.directions.astype(np.float64)
    cos_min = math.cos(math.radians(min_angle))
    kept: list[int] = []
    for t in np.argsort(-per_t):
        if all(dirs[t] @ dirs[k] < cos_min for k in kept):
            kept.append(int(t))
            if len(kept) >= top:
                break
    out = []
    for t in kept:
        r = float(q.rolls[best_roll[t]])
        # the picture turned counter-clockwise by r matches the template: the picture's content is the
        # template's turned by -r, so the camera is the template's turned counter-clockwise by r
        _, up = turn_camera(dirs[t], templates.ups[t].astype(np.float64), 0.0, 0.0, r)
        out.append(Hypothesis(asset, dirs[t], up, float(per_t[t])))
    return out


MOVES = np.array([(sg * a, sg * e, sg * r) for a, e, r in ((1, 0, 0), (0, 1, 0), (0, 0, 1)) for sg in (1, -1)],
                 dtype=np.float64)  # ± azimuth, elevation, roll


def _scores(render, descriptor, size, q0, idx, dirs, ups, sil_weight, small=None) -> np.ndarray:
    """Scores (A, M) of cameras ``dirs``/``ups`` (A, M, 3) of hypotheses ``idx``
    against their pictures: one render call and one descriptor batch (the
    renders of hypotheses whose picture is ``small`` degraded like it)."""
    a, m = dirs.shape[:2]
    crops, masks = render_crops(render(dirs.reshape(-1, 3), ups.reshape(-1, 3)), size)
    if small is not None and any(small[i] for i in idx):
        rows = np.repeat([bool(small[i]) for i in idx], m)
        crops[rows], masks[rows] = degrade(crops[rows], masks[rows], small_side(size))
    f = descriptor(crops, masks)
    prior = view_prior(dirs.reshape(-1, 3)).reshape(a, m)
    return np.stack([similarity(q0[i], f.take(slice(row * m, (row + 1) * m)), sil_weight)[0] + prior[row]
                     for row, i in enumerate(idx)])


def refine(hyps: list[Hypothesis], q0: Sequence[Features], render: Callable[[np.ndarray, np.ndarray], np.ndarray],
           descriptor: Descriptor, size: int, steps=(6.0, 3.0, 1.5), sil_weight: float = 0.5,
           moves_per_step: int = 3, small: Sequence[bool] | None = None) -> list[Hypothesis]:
    """Render-and-compare around hypotheses of one asset.  Each camera is first
    rendered and scored as it is against its own picture's unturned descriptor
    ``q0[i]``; then, at each step, turned by ±step in azimuth, elevation and
    roll (6 cameras), all hypotheses' cameras rendered by one ``render(directions,
    ups) → (N, S, S, 4)`` call and described in one batch, and moved to the
    best one when it scores higher — a few moves per step while one improves.
    ``small[i]``: hypothesis i's picture shows a small object (its renders are
    degraded like the picture, :func:`rotationnet.app.segment.degrade`).
    Returns new hypotheses (same order) with the refined scores."""
    dirs = np.array([h.direction for h in hyps], dtype=np.float64)
    ups = np.array([h.up for h in hyps], dtype=np.float64)
    every = np.arange(len(hyps))
    scores = _scores(render, descriptor, size, q0, every, dirs[:, None], ups[:, None], sil_weight, small)[:, 0]
    for step in steps:
        active = np.ones(len(hyps), bool)
        for _ in range(moves_per_step):
            idx = np.nonzero(active)[0]
            if len(idx) == 0:
                break
            mv = step * MOVES  # (M, 3)
            cd, cu = turn_camera(dirs[idx][:, None], ups[idx][:, None], mv[None, :, 0], mv[None, :, 1],
                                 mv[None, :, 2])  # (A, M, 3)
            sc = _scores(render, descriptor, size, q0, idx, cd, cu, sil_weight, small)
            for row, i in enumerate(idx):
                k = int(sc[row].argmax())
                active[i] = sc[row, k] > scores[i]
                if active[i]:
                    dirs[i], ups[i], scores[i] = cd[row, k], cu[row, k], float(sc[row, k])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    ups /= np.linalg.norm(ups, axis=1, keepdims=True)
    return [Hypothesis(h.asset, dirs[i], ups[i], float(scores[i])) for i, h in enumerate(hyps)]


def distinct(hyps: list[Hypothesis], min_angle: float, limit: int) -> list[Hypothesis]:
    """The best hypotheses (by score) whose cameras are at least ``min_angle``
    apart (hypotheses of different assets never exclude each other)."""
    out: list[Hypothesis] = []
    for h in sorted(hyps, key=lambda h: -h.score):
        if all(h.asset != o.asset or angle_deg(h.direction, o.direction) >= min_angle for o in out):
            out.append(h)
        if len(out) >= limit:
            break
    return out


# the confidence table: written by benchmarks/pose_accuracy.py --calibrate (rotationnet/app/pose_calibration.json)
CALIBRATION = {"margin": [0.0, 0.01, 0.02, 0.04, 0.08, 0.15], "p": [0.35, 0.5, 0.65, 0.8, 0.9, 0.97]}
_cal = Path(__file__).with_name("pose_calibration.json")
if _cal.is_file():
    _d = json.loads(_cal.read_text())
    CALIBRATION = {"margin": list(_d["margin"]), "p": list(_d["p"])}


def confidence(margin: float, table: dict | None = None) -> float:
    """Estimated probability that the view error is ≤ 30°, from the score
    margin between the best pose and the best one ≥ 45° away, read off the
    calibration table measured on renders (``{"margin": [...], "p": [...]}``,
    interpolated; see BENCHMARKS.md)."""
    t = table or CALIBRATION
    return float(np.clip(np.interp(margin, t["margin"], t["p"]), 0.0, 1.0))


ALTERNATIVE_SHARPNESS = 20.0  # the alternatives share 1 − confidence by softmax(20 · score)


def _with_confidences(best: Hypothesis, others: list[Hypothesis]) -> tuple[float, list[Hypothesis]]:
    """The best pose's confidence (from its margin over the best pose ≥ 45°
    away) and the alternatives, each with its share of the rest."""
    far = [h.score for h in others if angle_deg(h.direction, best.direction) >= 45.0]
    margin = best.score - (max(far) if far else best.score - 0.2)
    best.confidence = confidence(margin)
    w = np.exp(ALTERNATIVE_SHARPNESS * (np.array([h.score for h in others] or [0.0]) - best.score))
    for h, wi in zip(others, w):
        h.confidence = float((1.0 - best.confidence) * wi / w.sum())
    return float(margin), others


# ----------------------------------------------------------------------------
# the whole search
# ----------------------------------------------------------------------------

@dataclass
class PicturePose:
    """The answer for one picture: the best pose, the next best ones (each
    with its confidence; the mirror / front-back one among them), the score
    margin the best pose's confidence was read from, and the object mask used."""

    best: Hypothesis
    alternatives: list[Hypothesis]
    margin: float
    mask: np.ndarray


@dataclass
class SearchResult:
    """The assets ranked (id, score; best first), one :class:`PicturePose` per
    picture, and per picture the best coarse pose of each runner-up asset
    (``runner_ups``, in the assets' order; unrefined)."""

    assets: list[tuple[str, float]]
    pictures: list[PicturePose]
    runner_ups: list[list[Hypothesis]] = field(default_factory=list)


def shortlist(queries: list[Query], pooled: Mapping[str, np.ndarray], keep: int,
              prior: Mapping[str, float] | None = None, pooled_small: Mapping[str, np.ndarray] | None = None
              ) -> list[str]:
    """The ``keep`` assets whose best template matches the pictures best by
    pooled descriptors (exact inner products over every template of every
    asset), plus the asset's ``prior`` bonus.  ``pooled``: asset id → (T, D);
    ``pooled_small``: the same for the small descriptors (used for small pictures)."""
    ids = list(pooled)
    bank = np.concatenate([pooled[a] for a in ids]).astype(np.float32, copy=False)  # (ΣT, D)
    bank_small = None
    if pooled_small is not None and any(q.small for q in queries):
        bank_small = np.concatenate([pooled_small[a] for a in ids]).astype(np.float32, copy=False)
    owner = np.repeat(np.arange(len(ids)), [len(pooled[a]) for a in ids])
    score = np.zeros(len(ids))
    for q in queries:
        b = bank_small if (q.small and bank_small is not None) else bank
        s = (q.features.pooled() @ b.T).max(axis=0)  # (ΣT,) best turn per template
        best = np.full(len(ids), -np.inf)
        np.maximum.at(best, owner, s)
        score += best / len(queries)
    if prior:
        score += np.array([prior.get(a, 0.0) for a in ids])
    return [ids[i] for i in np.argsort(-score, kind="stable")[:keep]]


PRIOR_WEIGHT = 0.02  # score per unit of log-probability of the asset's class (see class_prior)


def class_prior(labels: Mapping[str, str | None], probs: Mapping[str, float], weight: float = PRIOR_WEIGHT
                ) -> dict[str, float]:
    """RotationNet's class probabilities as a soft prior on assets: ``weight ·
    log p(class of the asset)``; assets of a class the model does not know get
    the log of a uniform guess (1 / number of classes), so they are neither
    favoured nor shut out.

    Args:
        labels: asset id → its class label; probs: class → probability (all classes).
    Returns:
        asset id → score bonus (≤ 0).
    """
    if not probs:
        return {}
    uniform = math.log(1.0 / len(probs))
    return {a: weight * (math.log(max(probs[c], 1e-6)) if c in probs else uniform) for a, c in labels.items()}


DEFAULT_ROLLS = tuple(float(r) for r in range(-30, 31, 10))
FULL_ROLLS = tuple(float(r) for r in range(-180, 180, 15))


def search(entries: Mapping, pictures: Sequence[Picture], render: RenderFn, descriptor: Descriptor, *,
           crop: int = 96, rolls: Sequence[float] = DEFAULT_ROLLS, prior: Mapping[str, float] | None = None,
           shortlist_size: int = 24, refine_top: int = 2, refine_margin: float = 0.1, alternatives: int = 3,
           decide_top: int = 2, decide_margin: float = 0.03, progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Retrieve the asset and the pose of every picture of one object.

    Args:
        entries: asset id → an entry with ``templates`` (:class:`Templates`) and
            ``pooled`` ((T, D) its templates' pooled vectors), e.g. the
            :class:`rotationnet.app.assetindex.IndexEntry` of the candidates.
        pictures: the reference pictures (:class:`rotationnet.app.segment.Picture`).
        render: renders an asset from given cameras (:data:`RenderFn`).
        descriptor: the one that described the templates; ``crop``: their crop size.
        rolls: in-plane turns searched (degrees).
        prior: optional score bonus per asset id (e.g. :func:`class_prior`),
            added wherever assets are ranked.
        shortlist_size: in a larger library, only the assets whose pooled
            descriptors match best are scored in full (:func:`shortlist`).
        refine_top, refine_margin: hypotheses refined per picture: the best
            ``refine_top`` coarse ones (≥ 30° apart) within ``refine_margin`` of the best.
        alternatives: other poses reported per picture.
        decide_top, decide_margin: the best ``decide_top`` assets whose coarse
            score is within ``decide_margin`` of the best are all refined, and the
            best refined score picks the asset.
        progress: called with (step, steps) as the work goes on.
    Raises:
        ValueError: no candidate assets, or no pictures.
    """
    if not entries:
        raise ValueError("no candidate assets to match against")
    if not pictures:
        raise ValueError("no reference pictures")
    bonus = dict(prior or {})
    steps = 3
    queries = [describe_picture(descriptor, p, crop, rolls) for p in pictures]
    ids = list(entries)
    if len(ids) > shortlist_size:
        small_bank = ({a: entries[a].pooled_small for a in ids}
                      if all(getattr(entries[a], "pooled_small", None) is not None for a in ids) else None)
        ids = shortlist(queries, {a: entries[a].pooled for a in ids}, shortlist_size, bonus, small_bank)
    if progress:
        progress(1, steps)
    # coarse: every (asset, template, turn) of every picture; an asset scores the
    # mean over the pictures of its best template
    coarse: dict[str, list[list[Hypothesis]]] = {}
    totals = []
    for a in ids:
        t = entries[a].templates
        coarse[a] = [coarse_match(q, t, a, top=max(refine_top, alternatives + 1)) for q in queries]
        totals.append((a, float(np.mean([hs[0].score for hs in coarse[a]])) + bonus.get(a, 0.0)))
    totals.sort(key=lambda x: -x[1])
    if progress:
        progress(2, steps)
    # look-alike assets: when the runner-up's coarse score is close, render-and-compare decides
    q0 = [q.unturned for q in queries]
    contenders = [a for a, sc in totals[:decide_top] if totals[0][1] - sc <= decide_margin]
    refined: dict[str, list[list[Hypothesis]]] = {}
    for a in contenders:
        top = [[h for h in hs[:refine_top] if h.score >= hs[0].score - refine_margin] for hs in coarse[a]]
        flat = [h for hs in top for h in hs]
        which = [m for m, hs in enumerate(top) for _ in hs]
        out = refine(flat, [q0[m] for m in which], lambda d, u, a=a: render(a, d, u), descriptor, crop,
                     small=[queries[m].small for m in which])
        refined[a] = [[h for h, m2 in zip(out, which) if m2 == m] for m in range(len(queries))]
    score = {a: float(np.mean([max(h.score for h in r) for r in refined[a]])) + bonus.get(a, 0.0)
             for a in contenders}
    best_asset = max(contenders, key=lambda a: score[a])
    totals = [t for t in totals if t[0] == best_asset] + [t for t in totals if t[0] != best_asset]
    out = []
    for m, pic in enumerate(pictures):
        # the other coarse regions stay as alternatives, unrefined (cheap); refined ones first
        n = len(refined[best_asset][m])
        pool = distinct(refined[best_asset][m] + coarse[best_asset][m][n:], 30.0, alternatives + 1)
        margin, alts = _with_confidences(pool[0], pool[1:alternatives + 1])
        out.append(PicturePose(pool[0], alts, margin, pic.mask))
    if progress:
        progress(3, steps)
    runner_ups = [[coarse[a][m][0] for a, _ in totals[1:alternatives + 1]] for m in range(len(pictures))]
    return SearchResult(totals, out, runner_ups)


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------

def pose_fields(h: Hypothesis) -> dict:
    """The reply fields of a pose (see :data:`rotationnet.core.protocol.POSE_FIELDS`)."""
    r = world_to_camera(h.direction, h.up)  # asset frame → camera frame (Blender camera: -Z forward, +Y up)
    c, u = r[2], r[1]
    az, el = azimuth_elevation(c)
    return {"asset": h.asset, "asset_view_direction": c.round(9).tolist(), "asset_view_up": u.round(9).tolist(),
            "azimuth_deg": float(az), "elevation_deg": float(el),
            "rotation_wxyz": matrix_to_quaternion(r).round(9).tolist(), "confidence": h.confidence,
            "score": h.score}
