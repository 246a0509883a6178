"""Pose from the asset's own renders: template matching on spatial features,
then render-and-compare.

The way model-based pose methods for unseen objects work (template-pose,
FoundPose, GigaPose), on this CPU and with the offline EfficientNet-Lite
weights:

1. **Templates** (:func:`build_templates`): the asset is rendered by the fast
   engine from a view sphere (:class:`TemplateSpec`: azimuth every 10°,
   elevations from below the horizon to straight above), each render cropped
   around its silhouette (:func:`rotationnet.app.segment.object_crop`) and
   described by the frozen ImageNet backbone's *spatial* feature map — one unit
   vector per cell, so left and right stay apart — plus the silhouette.
2. **Coarse** (:func:`coarse_match`): the reference picture's crop, turned by
   the in-plane angles searched (±30° by default), is scored against every
   template: mask-weighted cosine of the cells plus silhouette IoU, less a small
   cost for cameras below the asset's horizon (:func:`view_prior`: objects are
   photographed from above far more often than from below; on COIL-100's toy
   cars it removed most of the placements seen from under the car).
3. **Refine** (:func:`refine`): around the best hypotheses the asset is
   rendered again from nearby cameras (finer azimuth, elevation and roll,
   halving the step), scored the same way, to a continuous rotation.

A pose is a camera in the asset's frame: ``direction`` (unit vector from the
asset's centre towards the camera) and ``up`` (the picture's up direction);
:func:`pose_fields` turns it into the worker's reply fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from rotationnet.core.views import camera_matrices, camera_up_vectors, matrix_to_quaternion

from .segment import object_crop, rotate_image

__all__ = ["TemplateSpec", "Descriptor", "Templates", "Hypothesis", "build_templates", "describe_query", "class_prior",
           "coarse_match", "refine", "pose_fields", "turn_camera", "rolled_up"]


@dataclass(frozen=True)
class TemplateSpec:
    """Where the templates of an asset are seen from, and how they are drawn."""

    azimuth_step: float = 10.0
    elevations: tuple[float, ...] = (-20.0, -5.0, 10.0, 25.0, 40.0, 55.0, 70.0)
    top: bool = True  # plus one camera straight above
    render_size: int = 192  # pixels of the whole frame (the unit sphere) before cropping
    supersample: int = 1  # the crop's area resampling anti-aliases instead (supersampling 253 views costs ~1 s)
    crop: int = 96  # the crop the backbone sees: 6 × 6 cells at stride 16

    def directions(self) -> np.ndarray:
        """(T, 3) unit vectors towards the template cameras (elevation-major)."""
        az = np.radians(np.arange(0.0, 360.0, self.azimuth_step))
        dirs = [np.stack([np.cos(math.radians(e)) * np.cos(az), np.cos(math.radians(e)) * np.sin(az),
                          np.full_like(az, math.sin(math.radians(e)))], axis=1) for e in self.elevations]
        if self.top:
            dirs.append(np.array([[0.0, 0.0, 1.0]]))
        return np.concatenate(dirs)

    def key(self) -> dict:
        return {"azimuth_step": self.azimuth_step, "elevations": list(self.elevations), "top": self.top,
                "render_size": self.render_size, "supersample": self.supersample, "crop": self.crop}


def rolled_up(direction: np.ndarray, roll_deg) -> np.ndarray:
    """Up vectors of cameras at ``direction`` (…, 3) turned by ``roll_deg`` about
    their viewing axis from the upright one (world +Z projected); positive
    ``roll_deg`` turns the picture's content counter-clockwise."""
    c = np.asarray(direction, dtype=np.float64)
    u = camera_up_vectors(c)
    x = np.cross(u, c)
    r = np.radians(np.asarray(roll_deg, dtype=np.float64))[..., None]
    return np.cos(r) * u + np.sin(r) * x


def turn_camera(direction: np.ndarray, up: np.ndarray, d_az: float, d_el: float, d_roll: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """A camera moved by small angles (degrees) in its own frame: ``d_az`` to
    its right, ``d_el`` upwards, ``d_roll`` turning the picture's content
    counter-clockwise."""
    m = camera_matrices(direction, up)  # columns x, y, z = direction
    a, e, r = (math.radians(v) for v in (d_az, d_el, d_roll))
    # direction moves towards +x by a and towards +y by e; up follows; then roll about the new direction
    rot_y = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rot_x = np.array([[1, 0, 0], [0, math.cos(e), math.sin(e)], [0, -math.sin(e), math.cos(e)]])
    rot_z = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    n = m @ rot_y @ rot_x @ rot_z
    return n[:, 2], n[:, 1]


# ----------------------------------------------------------------------------
# descriptors
# ----------------------------------------------------------------------------

class Descriptor:
    """The frozen ImageNet backbone's spatial feature map of a crop: (g, g, D)
    unit vectors (one per cell, taken after stage ``layer`` of the network),
    the mask's coverage of each cell, and a 32 × 32 silhouette.

    Args:
        backbone: a registered backbone with offline weights (EfficientNet-Lite).
        layer: index of the last block stage used (4: stride 16, 112 channels for lite0).
        device: torch device (default: CUDA when present).
    """

    SIL = 32

    def __init__(self, backbone: str = "efficientnet_lite0", layer: int = 4, device=None):
        from rotationnet.nn.distributed import default_device
        from rotationnet.nn.model import create_backbone

        self.name, self.layer = backbone, int(layer)
        bb = create_backbone(backbone)
        self.device = torch.device(device) if device is not None else default_device()
        self.net = bb.module.eval().to(self.device).to(memory_format=torch.channels_last)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.mean = torch.tensor(bb.preprocess["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(bb.preprocess["std"], dtype=torch.float32).view(1, 3, 1, 1)

    def key(self) -> dict:
        return {"backbone": self.name, "layer": self.layer}

    @torch.no_grad()
    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        m = self.net
        h = m.bn1(m.conv_stem(x))
        for i, blk in enumerate(m.blocks):
            h = blk(h)
            if i == self.layer:
                return h
        return m.bn2(m.conv_head(h))

    @torch.no_grad()
    def __call__(self, crops: np.ndarray, masks: np.ndarray, batch: int = 64) -> dict:
        """crops (N, S, S, 3) float 0..1, masks (N, S, S) → {"feat": (N, g, g, D)
        float16 unit vectors, "cells": (N, g, g) float16 coverage, "sil": (N, 32, 32) float16}."""
        feats, cells, sils = [], [], []
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(np.ascontiguousarray(crops[i:i + batch], dtype=np.float32)).permute(0, 3, 1, 2)
            x = ((x - self.mean) / self.std).to(self.device).contiguous(memory_format=torch.channels_last)
            f = F.normalize(self._maps(x).float(), dim=1)
            g = f.shape[-1]
            m = torch.from_numpy(np.ascontiguousarray(masks[i:i + batch], dtype=np.float32))[:, None]
            feats.append(f.permute(0, 2, 3, 1).half().cpu())
            cells.append(F.adaptive_avg_pool2d(m, g)[:, 0].half())
            sils.append(F.adaptive_avg_pool2d(m, self.SIL)[:, 0].half())
        return {"feat": torch.cat(feats).numpy(), "cells": torch.cat(cells).numpy(), "sil": torch.cat(sils).numpy()}


# ----------------------------------------------------------------------------
# templates
# ----------------------------------------------------------------------------

@dataclass
class Templates:
    """One asset's templates: cameras (T, 3) directions and (T, 3) ups in the
    asset's normalised frame, and their descriptors (see :class:`Descriptor`)."""

    directions: np.ndarray
    ups: np.ndarray
    feat: np.ndarray
    cells: np.ndarray
    sil: np.ndarray
    _pooled: np.ndarray | None = field(default=None, repr=False)

    @property
    def pooled(self) -> np.ndarray:
        """(T, D) float32 unit vectors: each template's cells averaged over its
        silhouette (the cheap first stage of retrieval in a large library)."""
        if self._pooled is None:
            self._pooled = pool(self.feat, self.cells)
        return self._pooled

    def arrays(self) -> dict:
        return {"t_directions": self.directions, "t_ups": self.ups, "t_feat": self.feat, "t_cells": self.cells,
                "t_sil": self.sil}

    @classmethod
    def from_arrays(cls, z) -> "Templates":
        return cls(z["t_directions"], z["t_ups"], z["t_feat"], z["t_cells"], z["t_sil"])


def pool(feat: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Mask-weighted mean of the cell vectors, normalised: (N, g, g, D), (N, g, g) → (N, D) float32."""
    f = feat.astype(np.float32)
    w = cells.astype(np.float32)[..., None] + 1e-3
    v = (f * w).sum((1, 2))
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)


def crops_of(images: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """RGBA renders (N, H, W, 4) uint8 → object crops (N, S, S, 3) and masks (N, S, S)."""
    crops, masks = np.zeros((len(images), size, size, 3), np.float32), np.zeros((len(images), size, size), np.float32)
    for i, im in enumerate(images):
        m = im[..., 3].astype(np.float32) / 255.0
        if (m > 0.5).any():
            crops[i], masks[i] = object_crop(im[..., :3], m, size)
        else:
            crops[i] = 0.5
    return crops, masks


def build_templates(renderer, vertices: np.ndarray, faces: np.ndarray, descriptor: Descriptor,
                    spec: TemplateSpec, colors: np.ndarray | None = None) -> Templates:
    """Render ``renderer``'s rig (the template sphere, transparent background)
    and describe every view; ``colors``: the asset's own per-vertex colours."""
    images, _ = renderer.render(vertices, faces, colors)
    crops, masks = crops_of(images, spec.crop)
    d = descriptor(crops, masks)
    return Templates(renderer.rig.cameras.astype(np.float32), renderer.rig.up.astype(np.float32),
                     d["feat"], d["cells"], d["sil"])


# ----------------------------------------------------------------------------
# matching
# ----------------------------------------------------------------------------

@dataclass
class Hypothesis:
    """A pose of one asset: camera ``direction`` and ``up`` in the asset frame, and its score."""

    asset: str
    direction: np.ndarray
    up: np.ndarray
    score: float
    template: int = -1
    roll: float = 0.0
    extra: dict = field(default_factory=dict)


def describe_query(descriptor: Descriptor, rgb: np.ndarray, mask: np.ndarray, size: int, rolls) -> dict:
    """The reference picture's descriptors, one per in-plane turn in ``rolls`` (degrees)."""
    crops, masks = [], []
    for r in rolls:
        im, m = rotate_image(rgb, mask, r)
        c, cm = object_crop(im, m, size)
        crops.append(c)
        masks.append(cm)
    d = descriptor(np.stack(crops), np.stack(masks))
    d["rolls"] = np.asarray(rolls, dtype=np.float64)
    return d


def similarity(q: dict, feat: np.ndarray, cells: np.ndarray, sil: np.ndarray, sil_weight: float = 0.5
               ) -> np.ndarray:
    """Scores (R, T) of R query turns against T templates: the mask-weighted mean
    cosine of the feature cells (weights: the larger coverage of query and
    template) plus ``sil_weight`` × silhouette IoU."""
    qf = torch.from_numpy(q["feat"]).float()  # (R, g, g, D)
    tf = torch.from_numpy(feat).float()  # (T, g, g, D)
    cos = torch.einsum("rhwd,thwd->rthw", qf, tf)
    w = torch.maximum(torch.from_numpy(q["cells"]).float()[:, None], torch.from_numpy(cells).float()[None])
    fs = (cos * w).sum((-1, -2)) / w.sum((-1, -2)).clamp_min(1e-6)
    qs = torch.from_numpy(q["sil"]).float().flatten(1)  # (R, P)
    ts = torch.from_numpy(sil).float().flatten(1)  # (T, P)
    inter = torch.minimum(qs[:, None], ts[None]).sum(-1)
    union = torch.maximum(qs[:, None], ts[None]).sum(-1)
    return (fs + sil_weight * inter / union.clamp_min(1e-6)).numpy()


BELOW_PENALTY = 0.3  # score taken off per unit of -sin(elevation) of a camera below the asset's horizon


def view_prior(directions: np.ndarray, weight: float | None = None) -> np.ndarray:
    """(N,) score bonus (≤ 0) of cameras at ``directions`` (N, 3): pictures of an
    object standing upright are rarely taken from below it."""
    w = BELOW_PENALTY if weight is None else weight
    return -w * np.maximum(0.0, -np.asarray(directions, dtype=np.float64)[:, 2])


def coarse_match(q: dict, templates: Templates, asset: str, top: int = 3, min_angle: float = 30.0
                 ) -> list[Hypothesis]:
    """The ``top`` best (template, turn) pairs of one asset as hypotheses, their
    cameras at least ``min_angle`` degrees apart (one per region of the view sphere)."""
    s = similarity(q, templates.feat, templates.cells, templates.sil)  # (R, T)
    s = s + view_prior(templates.directions)[None]
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
        r = float(q["rolls"][best_roll[t]])
        # turning the picture by r matches the template: the camera is the template's rolled by -r
        _, up = turn_camera(dirs[t], templates.ups[t].astype(np.float64), 0.0, 0.0, -r)
        out.append(Hypothesis(asset, dirs[t], up, float(per_t[t]), int(t), r))
    return out


MOVES = [(0, 0, 0)] + [(sg * a, sg * e, sg * r) for a, e, r in ((1, 0, 0), (0, 1, 0), (0, 0, 1)) for sg in (1, -1)]


def refine(hyps: list[Hypothesis], q0: dict, render, descriptor: Descriptor, size: int,
           steps=(6.0, 3.0, 1.5), sil_weight: float = 0.5, moves_per_step: int = 3) -> list[Hypothesis]:
    """Render-and-compare around each hypothesis: at each step the camera turned
    by ±step in azimuth, elevation and roll (7 cameras with the current one) is
    rendered by ``render(directions, ups) → (N, S, S, 4)`` — every hypothesis's
    cameras in one call — scored against the query's unturned descriptor
    ``q0``, and the best kept; a few moves per step while it improves."""
    state = [[h.direction, h.up, h.score, True] for h in hyps]
    for step in steps:
        for st in state:
            st[3] = True
        for _ in range(moves_per_step):
            active = [i for i, st in enumerate(state) if st[3]]
            if not active:
                break
            dirs, ups = [], []
            for i in active:
                for mv in MOVES:
                    c, u = turn_camera(state[i][0], state[i][1], *(step * np.array(mv)))
                    dirs.append(c)
                    ups.append(u)
            crops, masks = crops_of(render(np.stack(dirs), np.stack(ups)), size)
            d = descriptor(crops, masks)
            sc = (similarity(q0, d["feat"], d["cells"], d["sil"], sil_weight)[0] + view_prior(np.stack(dirs))
                  ).reshape(len(active), len(MOVES))
            for row, i in enumerate(active):
                k = int(sc[row].argmax())
                state[i][0], state[i][1], state[i][2] = dirs[row * len(MOVES) + k], ups[row * len(MOVES) + k], float(sc[row, k])
                state[i][3] = k != 0
    return [Hypothesis(h.asset, st[0] / np.linalg.norm(st[0]), st[1] / np.linalg.norm(st[1]), st[2], h.template,
                       h.roll, {"coarse_score": h.score}) for h, st in zip(hyps, state)]


# ----------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------

def pose_fields(direction: np.ndarray, up: np.ndarray) -> dict:
    """The reply fields of a camera pose in the asset frame (see
    :data:`rotationnet.core.protocol.CLASSIFY_IMAGE_FIELDS`)."""
    m = camera_matrices(direction, up)  # camera → asset: columns x, y, z (z towards the camera)
    c, u = m[:, 2], m[:, 1]
    return {
        "asset_view_direction": c.round(9).tolist(),
        "asset_view_up": u.round(9).tolist(),
        "azimuth_deg": float(math.degrees(math.atan2(c[1], c[0])) % 360.0),
        "elevation_deg": float(math.degrees(math.asin(max(-1.0, min(1.0, c[2]))))),
        # asset frame → camera frame (Blender camera: -Z forward, +Y up)
        "rotation_wxyz": matrix_to_quaternion(m.T).round(9).tolist(),
    }


# ----------------------------------------------------------------------------
# the whole search over a library
# ----------------------------------------------------------------------------

DEFAULT_ROLLS = tuple(float(r) for r in range(-30, 31, 10))
FULL_ROLLS = tuple(float(r) for r in range(-180, 180, 15))


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0))))


def distinct(hyps: list[Hypothesis], min_angle: float, limit: int) -> list[Hypothesis]:
    """The best hypotheses whose cameras are at least ``min_angle`` apart."""
    out: list[Hypothesis] = []
    for h in sorted(hyps, key=lambda h: -h.score):
        if all(h.asset != o.asset or angle_deg(h.direction, o.direction) >= min_angle for o in out):
            out.append(h)
        if len(out) >= limit:
            break
    return out


def confidence(margin: float, table: dict | None = None) -> float:
    """Estimated probability that the view error is ≤ 30°, from the score
    margin between the best pose and the best one ≥ 45° away, read off a
    calibration table measured on renders (``{"margin": [...], "p": [...]}``,
    interpolated; see BENCHMARKS.md)."""
    t = table or CALIBRATION
    return float(np.clip(np.interp(margin, t["margin"], t["p"]), 0.0, 1.0))


# provisional until benchmarks/pose_accuracy.py --calibrate writes app/pose_calibration.json
CALIBRATION = {"margin": [0.0, 0.01, 0.02, 0.04, 0.08, 0.15], "p": [0.35, 0.5, 0.65, 0.8, 0.9, 0.97]}


def _load_calibration() -> None:
    import json
    from pathlib import Path

    p = Path(__file__).with_name("pose_calibration.json")
    if p.is_file():
        d = json.loads(p.read_text())
        CALIBRATION.update({"margin": list(d["margin"]), "p": list(d["p"])})


_load_calibration()


def shortlist(queries: list[dict], index, asset_ids: list[str], keep: int,
              prior: dict[str, float] | None = None) -> list[str]:
    """The ``keep`` assets whose best template matches the pictures best by
    pooled descriptors (first stage of retrieval; exact inner products), plus
    the asset's ``prior`` bonus."""
    qs = [pool(q["feat"], q["cells"]) for q in queries]  # each (R, D)
    scores = []
    for aid in asset_ids:
        tp = index.entries[aid]["templates"].pooled  # (T, D)
        scores.append(float(np.mean([(q @ tp.T).max() for q in qs])) + (prior or {}).get(aid, 0.0))
    order = np.argsort(-np.asarray(scores))[:keep]
    return [asset_ids[i] for i in order]


PRIOR_WEIGHT = 0.02  # score per unit of log-probability of the asset's class (see class_prior)


def class_prior(labels: dict[str, str], probs: dict[str, float], weight: float = PRIOR_WEIGHT) -> dict[str, float]:
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


def search(index, asset_ids: list[str], images: list[tuple[np.ndarray, np.ndarray]], rolls=DEFAULT_ROLLS,
           refine_top: int = 2, alternatives: int = 3, progress=None, shortlist_size: int = 24,
           decide_top: int = 2, decide_margin: float = 0.03, prior: dict[str, float] | None = None) -> dict:
    """Retrieve the asset and the pose of every picture.

    Args:
        index: a :class:`rotationnet.app.assetindex.AssetIndex` holding the candidates.
        asset_ids: the candidate assets.
        images: (rgb (H, W, 3) uint8, mask (H, W) 0..1) of each reference picture of one object.
        rolls: in-plane turns searched (degrees).
        refine_top: hypotheses refined per picture (the best coarse ones, ≥ 30° apart).
        alternatives: other poses reported per picture (the mirror / front-back one among them).
        shortlist_size: in a larger library, only the assets whose pooled descriptors
            match best are scored in full (see :func:`shortlist`).
        decide_top, decide_margin: the best ``decide_top`` assets whose coarse score is within
            ``decide_margin`` of the best are all refined, and the best refined score picks the asset.
        prior: optional score bonus per asset id (e.g. a weighted log-probability of its
            class from RotationNet, :func:`class_prior`), added wherever assets are ranked.
    Returns:
        {"assets": [(id, score), ...] best first, "images": [{"best": Hypothesis,
        "alternatives": [Hypothesis, ...], "margin": float, "confidence": float}, ...]}.
    Raises:
        ValueError: no candidate assets, or no pictures.
    """
    if not asset_ids:
        raise ValueError("no candidate assets to match against")
    if not images:
        raise ValueError("no reference pictures")
    desc, size = index.descriptor, index.spec.crop
    rolls = tuple(rolls)
    if 0.0 not in rolls:
        rolls = (0.0, *rolls)
    zero = rolls.index(0.0)
    queries = [describe_query(desc, rgb, mask, size, rolls) for rgb, mask in images]
    bonus = prior or {}
    if len(asset_ids) > shortlist_size:
        asset_ids = shortlist(queries, index, asset_ids, shortlist_size, bonus)
    # coarse: every (asset, template, turn) of every picture; an asset scores the
    # mean over the pictures of its best template
    totals = []
    for aid in asset_ids:
        t = index.entries[aid]["templates"]
        vp = view_prior(t.directions)[None]
        totals.append((aid, float(np.mean([(similarity(q, t.feat, t.cells, t.sil) + vp).max() for q in queries]))
                       + bonus.get(aid, 0.0)))
    totals.sort(key=lambda x: -x[1])
    zero_q = [{k: v[zero:zero + 1] for k, v in q.items()} for q in queries]

    def pose_of(asset: str) -> tuple[list[list[Hypothesis]], list[list[Hypothesis]]]:
        """Per picture: the refined hypotheses and the coarse ones of ``asset``."""
        templates = index.entries[asset]["templates"]
        render = (lambda d, u, a=asset: index.render_views(a, d, u))
        refined_all, coarse_all = [], []
        for q, q0 in zip(queries, zero_q):
            hyps = coarse_match(q, templates, asset, top=max(refine_top, alternatives + 1))
            refined_all.append(refine(hyps[:refine_top], q0, render, desc, size))
            coarse_all.append(hyps)
        return refined_all, coarse_all

    # look-alike assets: when the runner-up's coarse score is close, render-and-compare decides
    contenders = [a for a, sc in totals[:decide_top] if totals[0][1] - sc <= decide_margin]
    poses = {a: pose_of(a) for a in contenders}
    refined_score = {a: float(np.mean([max(h.score for h in r) for r in poses[a][0]])) + bonus.get(a, 0.0)
                     for a in contenders}
    best_asset = max(contenders, key=lambda a: refined_score[a])
    if best_asset != totals[0][0]:
        totals = [t for t in totals if t[0] == best_asset] + [t for t in totals if t[0] != best_asset]
    refined_all, coarse_all = poses[best_asset]
    out = []
    for m in range(len(queries)):
        refined, hyps = refined_all[m], coarse_all[m]
        # the other coarse regions stay as alternatives, unrefined (cheap); refined ones first
        pool = distinct(refined + hyps[refine_top:], 30.0, alternatives + 1)
        best = pool[0]
        far = [h.score for h in pool[1:] if angle_deg(h.direction, best.direction) >= 45.0]
        margin = best.score - (max(far) if far else best.score - 0.2)
        out.append({"best": best, "alternatives": pool[1:alternatives + 1], "margin": float(margin),
                    "confidence": confidence(margin)})
        if progress:
            progress(m + 1, len(queries))
    return {"assets": totals, "images": out}
