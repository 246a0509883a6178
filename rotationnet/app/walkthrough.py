"""Walk-throughs: photos or a video around a set → one camera track and every
library object placed once.

The way video CAD-alignment systems fuse per-frame predictions (Vid2CAD,
CAD-Estate), with the engines that install here:

1. **Camera track** (:mod:`rotationnet.app.track`): structure from motion over
   every frame; the world is the first registered frame's camera frame.
2. **Sightings** (:func:`sightings`): the whole-picture stage
   (:func:`rotationnet.app.scene.find_objects`) on a few frames spread over the
   track; every placed object is a :class:`Sighting` in its frame's camera.
3. **Scale** (:func:`track_unit`): structure from motion has none; each
   sighting's placed asset, at its own size, says how far its surface is, and
   the reconstruction's points seen inside its mask say how far that is in the
   track's unit: the :func:`consensus` of the ratios over all sightings fixes
   it, and sightings whose own ratio disagrees (a texture or a patch of floor
   taken for an asset: the reconstruction's points there are not where the
   asset would be) are left out.  (On real photos a region's box often holds a shadow or a neighbour:
   depths from size come out short, and the unit with them; tried and dropped:
   the unit under which the fused outlines run along the pictures' edges in
   every frame, which clutter's edges do not single out.)
4. **Grouping** (:func:`group`): sightings carried into the world; one whose
   object centre lies on another group's line of sight, at a depth that agrees,
   joins it (any asset: frames may name different ones).
5. **Fusion** (:func:`fuse`): the asset most of the group's confidence names;
   its sightings' rotations averaged robustly (the medoid, then the mean of
   those within :data:`ROTATION_INLIER` degrees); the object's centre
   triangulated from the sightings' lines of sight (depth from size where the
   lines are nearly parallel).
6. **Refinement** (:func:`refine_world`): render-and-compare over several
   frames at once: the world rotation turned by small steps about the world
   axes, each turn rendered as every sighting's frame sees it and scored
   against that frame's picture; the mean score decides.
7. **Checking** (:func:`view_confidences`): every fused object drawn in the
   frames that should have seen it and did not, and verified there as the
   scene stage verifies a region.  Its confidence (:func:`walk_confidence`)
   weighs what its sightings said, how many frames found it and agree on its
   rotation, its asset's share of the votes and what those other frames say;
   objects below ``min_confidence`` are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rotationnet.core.camera import Intrinsics, ray_rotation
from rotationnet.core.views import angle_deg, geodesic_deg

from .descriptor import Descriptor
from .pose import RenderFn, _scores, describe_picture
from .scene import WORK_SIDE, PlacedObject, find_objects, own_vertices, rectified
from .track import Track

__all__ = ["Sighting", "WalkObject", "WalkResult", "pick_frames", "sightings", "track_unit", "group", "fuse",
           "consensus", "sighting_units", "view_confidences", "refine_world", "find_walkthrough_objects", "walk_confidence",
           "ROTATION_INLIER"]

ROTATION_INLIER = 20.0  # degrees: sightings this close to the medoid rotation are averaged
SIGHTING_CONFIDENCE = 0.1  # per-frame objects this likely are kept as sightings (several frames decide)
MIN_CONFIDENCE = 0.55  # fused objects less likely than this are not reported (tuning walk-throughs: true ≥ 0.77,
# false ≤ 0.52 of the dozen fused objects there)
UNIT_AGREEMENT = 1.3  # a sighting whose own unit is further than this factor from the track's is left out
CANDIDATE_CONFIDENCE = 0.05  # fused objects less likely than this are not checked in the other frames
LINE_OF_SIGHT = 0.6  # two sightings are one object when their lines of sight pass within this × its radius
DEPTH_FACTOR = 1.3  # ... where both depths from size allow (within this factor; the unit makes them agree on average)
MIN_RAY_ANGLE = 3.0  # degrees: lines of sight closer to parallel than this compare their centres instead
DEPTH_AGREEMENT = 0.25  # ... which then must be within this share of the distance (or LINE_OF_SIGHT radii)


@dataclass
class Sighting:
    """One placed object in one frame: track row ``row``, the frame's working
    ``intr``, the scene stage's :class:`~rotationnet.app.scene.PlacedObject`
    (camera frame), the frame's ``rgb`` (for render-and-compare), and the
    pose in the world once the track's unit is known."""

    row: int
    intr: Intrinsics
    obj: PlacedObject
    rgb: np.ndarray
    world_rotation: np.ndarray | None = None
    world_location: np.ndarray | None = None

    @property
    def asset(self) -> str:
        return self.obj.asset


@dataclass
class WalkObject:
    """One physical object: ``asset``, ``rotation`` (3, 3) asset → world,
    ``location`` (3,) the asset origin in the world (the asset's units),
    ``confidence``, its ``sightings`` (those of the chosen asset first), the
    track ``rows`` it was found in, ``alternatives`` [(asset, rotation,
    location, confidence)] of the other assets its sightings named, and the
    ``evidence`` its confidence is read from (:func:`walk_confidence`)."""

    asset: str
    rotation: np.ndarray
    location: np.ndarray
    confidence: float
    sightings: list[Sighting]
    rows: list[int]
    alternatives: list[tuple[str, np.ndarray, np.ndarray, float]] = field(default_factory=list)
    score: float = 0.0
    evidence: dict = field(default_factory=dict)


@dataclass
class WalkResult:
    """The track (scaled to the assets' units when ``scaled``), the objects
    (most confident first), the floor in the world ({normal, offset} or None)
    and every sighting."""

    track: Track
    objects: list[WalkObject]
    floor: dict | None
    sightings: list[Sighting]
    scaled: bool


# ----------------------------------------------------------------------------
# small geometry
# ----------------------------------------------------------------------------

def _bbox(entry) -> tuple[np.ndarray, float]:
    """The asset's bounding-box centre in its own frame and its bounding radius,
    as the index normalised it (``render.meshes.normalize``: centre, 1 / scale)."""
    return np.asarray(entry.center, np.float64), 1.0 / float(entry.scale)


def _axis_angle(axis: np.ndarray, deg: float) -> np.ndarray:
    a = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    t = math.radians(deg)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


def rotation_mean(rotations: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The chordal L2 mean of rotations (3, 3): the weighted sum projected onto SO(3)."""
    w = np.ones(len(rotations)) if weights is None else np.asarray(weights, np.float64)
    m = sum(wi * r for wi, r in zip(w, rotations))
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def triangulate(origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, float]:
    """The point closest (least squares) to lines ``origins + s · directions``
    (n, 3); returns it and the largest angle (degrees) between two of the lines
    (how well the point is fixed)."""
    d = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for o, di in zip(origins, d):
        p = np.eye(3) - np.outer(di, di)
        a += p
        b += p @ o
    spread = max((float(angle_deg(d[i], d[j])) for i in range(len(d)) for j in range(i + 1, len(d))), default=0.0)
    return np.linalg.lstsq(a, b, rcond=None)[0], spread


# ----------------------------------------------------------------------------
# the stages
# ----------------------------------------------------------------------------

def pick_frames(track: Track, n: int) -> list[int]:
    """``n`` track rows spread evenly over the track (all when it is shorter)."""
    rows = len(track.frames)
    if rows <= n:
        return list(range(rows))
    return sorted({int(round(x)) for x in np.linspace(0, rows - 1, n)})


def sightings(load: Callable[[int], np.ndarray], track: Track, rows: Sequence[int], entries: Mapping,
              render: RenderFn, descriptor: Descriptor, *, crop: int = 96, max_objects: int = 16,
              min_confidence: float = SIGHTING_CONFIDENCE,
              progress: Callable[[float, str], None] | None = None
              ) -> tuple[list[Sighting], dict[int, tuple[np.ndarray, Intrinsics]]]:
    """The scene stage on track ``rows`` (``load(walk-through frame index) → rgb``),
    at most WORK_SIDE pixels on the long side, with the track's camera.  Returns
    the sightings and the frames looked at (row → (rgb, its intrinsics))."""
    import cv2

    say = progress or (lambda f, m: None)
    out = []
    views: dict[int, tuple[np.ndarray, Intrinsics]] = {}
    for k, row in enumerate(rows):
        rgb = load(track.frames[row])
        h, w = rgb.shape[:2]
        s = min(1.0, WORK_SIDE / max(w, h))
        if s < 1.0:
            rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        intr = Intrinsics(np.diag([s, s, 1.0]) @ track.intr.K, rgb.shape[1], rgb.shape[0], track.intr.source)
        found = find_objects(rgb, entries, render, descriptor, crop=crop, camera=intr, max_objects=max_objects,
                             min_confidence=min_confidence,
                             progress=lambda f, m, k=k: say((k + f) / len(rows), f"frame {k + 1}/{len(rows)}: {m}"))
        out += [Sighting(row, intr, o, rgb) for o in found.objects]
        views[row] = (rgb, intr)
    return out, views


def _surface_depths(entry, rotation: np.ndarray, location: np.ndarray, intr: Intrinsics, samples: int = 20000,
                    seed: int = 0) -> np.ndarray:
    """(H, W) depth of the placed asset's nearest surface (asset units; inf where
    it does not cover the picture): points sampled on its faces, splatted 3×3."""
    v = own_vertices(entry)
    f = np.asarray(entry.mesh.faces)
    tri = v[f]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(f), samples, p=area / area.sum()) if area.sum() > 0 else rng.integers(0, len(f), samples)
    a, b = rng.random((2, samples))
    flip = a + b > 1
    a[flip], b[flip] = 1 - a[flip], 1 - b[flip]
    pts = tri[pick, 0] + a[:, None] * (tri[pick, 1] - tri[pick, 0]) + b[:, None] * (tri[pick, 2] - tri[pick, 0])
    pts = np.concatenate([pts, v]) @ rotation.T + location
    front = pts[:, 2] < 0
    pts = pts[front]
    uv = np.round(intr.project(pts)).astype(int)
    depth = np.full((intr.height, intr.width), np.inf)
    z = -pts[:, 2]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            x, y = uv[:, 0] + dx, uv[:, 1] + dy
            ok = (x >= 0) & (x < intr.width) & (y >= 0) & (y < intr.height)
            np.minimum.at(depth, (y[ok], x[ok]), z[ok])
    return depth


def sighting_units(sights: Sequence[Sighting], track: Track, entries: Mapping, min_points: int = 5
                   ) -> list[float | None]:
    """Per sighting, world units per track unit as it sees them: the median
    ratio of the placed asset's surface depth to the depth of the
    reconstruction's points seen inside its region (None: fewer than
    ``min_points`` such points)."""
    out: list[float | None] = []
    for s in sights:
        uv, z = track.depths(s.row)
        scale = s.intr.width / track.intr.width
        px = np.round(uv * scale).astype(int)
        ok = (px[:, 0] >= 0) & (px[:, 0] < s.intr.width) & (px[:, 1] >= 0) & (px[:, 1] < s.intr.height) & (z > 0)
        px, z = px[ok], z[ok]
        inside = s.obj.detection.mask[px[:, 1], px[:, 0]] > 0.5
        ratio = None
        if inside.sum() >= min_points:
            depth = _surface_depths(entries[s.asset], s.obj.rotation, s.obj.location, s.intr)
            d = depth[px[inside, 1], px[inside, 0]]
            good = np.isfinite(d)
            if good.sum() >= min_points:
                ratio = float(np.median(d[good] / z[inside][good]))
        out.append(ratio)
    return out


def track_unit(sights: Sequence[Sighting], track: Track, entries: Mapping,
               units: Sequence[float | None] | None = None) -> float | None:
    """World units per track unit: the :func:`consensus` of the sightings'
    :func:`sighting_units`, each weighted by its confidence over the number of
    sightings of its asset in its frame (an asset placed all over one frame has
    matched a texture: it gets one vote there, not ten).  None when no sighting
    has enough points."""
    units = sighting_units(sights, track, entries) if units is None else units
    count: dict[tuple[int, str], int] = {}
    for s in sights:
        count[(s.row, s.asset)] = count.get((s.row, s.asset), 0) + 1
    pairs = [(u, s.obj.confidence / count[(s.row, s.asset)]) for u, s in zip(units, sights) if u is not None]
    if not pairs:
        return None
    return consensus(np.array([u for u, _ in pairs]), np.array([w for _, w in pairs]))


def consensus(values: np.ndarray, weights: np.ndarray, window: float = 1.25) -> float:
    """The weighted median of the values within a factor ``window`` of the one
    whose window holds the most weight: sightings of look-alike assets at other
    sizes (or a library whose files use other units) are outvoted, not averaged in."""
    logs = np.log(values)
    mass = [(weights * (np.abs(logs - lv) <= math.log(window))).sum() for lv in logs]
    centre = logs[int(np.argmax(mass))]
    near = np.abs(logs - centre) <= math.log(window)
    v, w = values[near], weights[near]
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, cum[-1] / 2.0)])


def to_world(sights: Sequence[Sighting], track: Track) -> None:
    """Each sighting's pose in the (scaled) track's world."""
    for s in sights:
        s.world_rotation, s.world_location = track.to_world(s.row, s.obj.rotation, s.obj.location)


def _centre(s: Sighting, entries: Mapping) -> np.ndarray:
    c, _ = _bbox(entries[s.asset])
    return s.world_rotation @ c + s.world_location


def _rays_meet(e1, d1, e2, d2) -> tuple[float, float, float, float]:
    """Two lines of sight (eyes, unit directions): the distance where they pass
    closest, the distances along each to that place, and the angle between them (degrees)."""
    w = e1 - e2
    b = float(d1 @ d2)
    den = 1.0 - b * b
    ang = float(np.degrees(np.arccos(np.clip(b, -1.0, 1.0))))
    if den < 1e-9:
        return float(np.linalg.norm(np.cross(w, d1))), math.inf, math.inf, ang
    s1 = (b * float(d2 @ w) - float(d1 @ w)) / den
    s2 = (float(d2 @ w) - b * float(d1 @ w)) / den
    return float(np.linalg.norm(e1 + s1 * d1 - e2 - s2 * d2)), s1, s2, ang


def _compatible(a: Sighting, b: Sighting, track: Track, entries: Mapping) -> float | None:
    """How far apart (world units) two sightings in different frames put one
    object: where their centres' lines of sight pass closest, when that is within
    LINE_OF_SIGHT radii, in front of both cameras and at distances their depths
    from size allow (a factor DEPTH_FACTOR: those are often biased on real photos,
    a region's box holding a shadow) and agree on (their ratios to those depths
    within DEPTH_AGREEMENT of each other: a common bias cancels); nearly
    parallel lines: the centres' distance, within DEPTH_AGREEMENT of the
    distance or LINE_OF_SIGHT radii.  None: not one object."""
    ca, cb = _centre(a, entries), _centre(b, entries)
    ea, eb = track.positions[a.row], track.positions[b.row]
    da, db = np.linalg.norm(ca - ea), np.linalg.norm(cb - eb)
    r = max(_bbox(entries[a.asset])[1], _bbox(entries[b.asset])[1])
    gap, sa, sb, ang = _rays_meet(ea, (ca - ea) / da, eb, (cb - eb) / db)
    if ang >= MIN_RAY_ANGLE:
        ka, kb = sa / da, sb / db  # how far the meeting place is, against each depth from size
        ok = (gap <= LINE_OF_SIGHT * r and ka > 0 and kb > 0 and 1 / DEPTH_FACTOR <= ka <= DEPTH_FACTOR
              and 1 / DEPTH_FACTOR <= kb <= DEPTH_FACTOR and max(ka / kb, kb / ka) <= 1 + DEPTH_AGREEMENT)
        return gap if ok else None
    d = float(np.linalg.norm(ca - cb))
    return d if d <= max(DEPTH_AGREEMENT * min(da, db), LINE_OF_SIGHT * r) else None


def group(sights: Sequence[Sighting], track: Track, entries: Mapping) -> list[list[Sighting]]:
    """Sightings of one physical object together.

    Most confident first, a sighting joins the group of its own asset more than
    half of whose members' lines of sight meet its own (:func:`_compatible`:
    lines of sight are exact where depths from size are not), nearest first, one
    sighting per frame and group; else it starts one.  Then a group of one
    sighting (a frame that took the object for another asset) joins the group
    of any asset that it is compatible with in the same way.  Two lines of
    sight from two frames always pass near each other somewhere: the same
    asset named twice is the stronger evidence, so it is asked for first."""
    groups: list[list[Sighting]] = []

    def best_group(s, same_asset: bool):
        best, best_d = None, math.inf
        for g, members in enumerate(groups):
            if not members or members[0] is s or any(m.row == s.row for m in members):
                continue
            if same_asset and members[0].asset != s.asset:
                continue
            ok = [d for d in (_compatible(s, m, track, entries) for m in members) if d is not None]
            if 2 * len(ok) > len(members) and float(np.mean(ok)) < best_d:
                best, best_d = g, float(np.mean(ok))
        return best

    for s in sorted(sights, key=lambda s: -s.obj.confidence):
        g = best_group(s, True)
        if g is None:
            groups.append([s])
        else:
            groups[g].append(s)
    for single in [g for g in groups if len(g) == 1]:
        s = single[0]
        g = best_group(s, False)
        if g is not None and len(groups[g]) > 1:
            groups[g].append(s)
            single.clear()  # (dataclass equality compares arrays: emptied, then dropped by identity)
    return [g for g in groups if g]


def fuse(members: Sequence[Sighting], track: Track, entries: Mapping) -> WalkObject:
    """One object from a group's sightings (see the module's docstring, step 5)."""
    votes: dict[str, float] = {}
    for s in members:
        votes[s.asset] = votes.get(s.asset, 0.0) + s.obj.confidence
    asset = max(votes, key=votes.get)
    mine = sorted([s for s in members if s.asset == asset], key=lambda s: -s.obj.confidence)
    rots = [s.world_rotation for s in mine]
    # the medoid rotation, then the mean of those near it
    cost = [sum(min(float(geodesic_deg(a, b)), 90.0) for b in rots) for a in rots]
    med = rots[int(np.argmin(cost))]
    inliers = [s for r, s in zip(rots, mine) if float(geodesic_deg(med, r)) <= ROTATION_INLIER]
    rot = rotation_mean([s.world_rotation for s in inliers], [s.obj.confidence for s in inliers])
    centre_own, radius = _bbox(entries[asset])
    # the centre from the lines of sight of the sightings whose rotations agree (a wrong rotation
    # moves the asset's centre off the region's), else of every sighting of the asset, else of all;
    # the worst dropped while it passes more than LINE_OF_SIGHT radii from the point
    use = next(list(c) for c in (inliers, mine, members) if len(c) >= 2 or c is members)
    centres = np.array([_centre(s, entries) for s in use])
    eyes = np.array([track.positions[s.row] for s in use])
    point, spread = centres[0], 0.0
    while len(use) >= 2:
        point, spread = triangulate(eyes, centres - eyes)
        d = (centres - eyes) / np.linalg.norm(centres - eyes, axis=1, keepdims=True)
        miss = np.linalg.norm(np.cross(point - eyes, d), axis=1)
        if miss.max() <= LINE_OF_SIGHT * radius:
            break
        keep = np.arange(len(use)) != int(np.argmax(miss))
        use = [u for u, k in zip(use, keep) if k]
        centres, eyes = centres[keep], eyes[keep]
    if len(use) < 2 or spread < 5.0:  # one line, or nearly parallel ones: the depths from size decide
        point = np.median(np.array([_centre(s, entries) for s in inliers]), axis=0)
    location = point - rot @ centre_own
    rows = sorted({s.row for s in members})
    own = [s.obj.confidence for s in mine]
    ev = {"own": float(np.mean(own)), "seen": float(len({s.row for s in mine})),
          "agree": len(inliers) / len(mine), "share": votes[asset] / sum(votes.values()),
          "others": float(np.mean(own)), "checked": 0.0}
    conf = walk_confidence(ev)
    alts = []
    for other in sorted(votes, key=votes.get, reverse=True):
        if other == asset:
            continue
        s = max((s for s in members if s.asset == other), key=lambda s: s.obj.confidence)
        alts.append((other, s.world_rotation, s.world_location, float(votes[other] / sum(votes.values()))))
    return WalkObject(asset, rot, location, conf, mine + [s for s in members if s.asset != asset], rows, alts,
                      float(np.mean([s.obj.score for s in mine])), ev)


# logistic weights over a fused object's evidence (see walk_confidence), set by hand on the synthetic
# tuning walk-throughs (benchmarks/walkthrough_accuracy.py --seed 101..103; the benchmark's seed is 1):
# too few fused objects there (a dozen) to fit seven weights.  Frames that found the object count most
# (up to four) and the other frames' checks; a frame's own verdict next; the checks are weak evidence
# when the object's unit is off by a few per cent (its outline then misses the picture's by as much);
# for an object one frame found, they are what tells a texture from a real object.
WALK_VERIFIER = {"bias": -7.0, "own": 3.0, "seen": 1.5, "agree": 1.0, "share": 1.0, "others": 6.0}
SEEN_CAP = 4  # frames beyond this many add no more evidence


def walk_confidence(ev: Mapping[str, float], weights: Mapping[str, float] | None = None) -> float:
    """The probability that a fused object is real and the right asset, from
    its evidence: ``own`` (its sightings' mean confidence), ``seen`` (frames
    that found it), ``agree`` (the share of those whose rotations agree),
    ``share`` (the share of the group's votes its asset got), ``others`` (its
    mean confidence in the frames that should have seen it and did not,
    :func:`view_confidences`; ``own`` when there are none); ``checked`` (how
    many of those) is kept for people, not weighed."""
    w = WALK_VERIFIER if weights is None else weights
    ev = {**ev, "seen": min(float(ev["seen"]), SEEN_CAP)}
    z = w["bias"] + sum(w[k] * float(ev[k]) for k in w if k != "bias")
    return float(1.0 / (1.0 + math.exp(-z)))


def refine_world(obj: WalkObject, track: Track, render: RenderFn, descriptor: Descriptor, crop: int,
                 entries: Mapping, steps: Sequence[float] = (4.0, 2.0, 1.0), moves_per_step: int = 2,
                 max_frames: int = 6) -> None:
    """Render-and-compare over several frames at once (step 6 of the module's
    docstring): ``obj.rotation`` turned about the world axes while the mean score
    over its sightings' frames (each the frame's region, rectified, against the
    asset rendered as that frame's camera sees the turned object) improves."""
    mine = [s for s in obj.sightings if s.asset == obj.asset][:max_frames]
    if not mine:
        return
    pics = [rectified(s.rgb, s.obj.detection, s.intr, f"frame row {s.row}") for s in mine]
    q0 = [describe_picture(descriptor, p, crop, (0.0,)).unturned for p in pics]
    turn = [ray_rotation(s.intr, np.array([s.obj.detection.box[0] + s.obj.detection.box[2] / 2,
                                           s.obj.detection.box[1] + s.obj.detection.box[3] / 2])).T @ track.rotations[s.row]
            for s in mine]  # world → each sighting's rectified (crop) camera

    def cameras(rots):  # (M, 3, 3) world rotations → (A, M, 3) directions and ups per sighting
        crops = np.einsum("aij,mjk->amik", np.stack(turn), rots)  # asset → crop camera
        return crops[:, :, 2, :], crops[:, :, 1, :]

    def score(rots):
        d, u = cameras(rots)
        sc = _scores(lambda dd, uu: render(obj.asset, dd, uu), descriptor, crop, q0, np.arange(len(mine)), d, u,
                     0.5, None)
        return sc.mean(axis=0)

    current = obj.rotation
    best = float(score(current[None])[0])
    moves = [(ax, sg) for ax in np.eye(3) for sg in (1.0, -1.0)]
    for step in steps:
        for _ in range(moves_per_step):
            cand = np.stack([_axis_angle(ax, sg * step) @ current for ax, sg in moves])
            sc = score(cand)
            k = int(np.argmax(sc))
            if sc[k] <= best:
                break
            best, current = float(sc[k]), cand[k]
    c_own, _ = _bbox(entries[obj.asset])
    centre = obj.rotation @ c_own + obj.location
    obj.rotation, obj.location, obj.score = current, centre - current @ c_own, best


def view_confidences(obj: WalkObject, track: Track, views: Mapping[int, tuple[np.ndarray, Intrinsics]],
                     entries: Mapping, render: RenderFn, descriptor: Descriptor, crop: int,
                     edges: dict | None = None) -> list[float]:
    """How likely the object is there, in every frame looked at that did not
    find it but should see it (its whole outline in the picture, in front of
    the camera): the fused object drawn in that frame's camera gives its own
    region (the outline), which is rectified, described and compared with the
    asset rendered in that pose; the scene stage's verifier
    (:func:`rotationnet.app.scene.confidence_of`) reads that score, the
    outline's support by the picture's edges, and the match and objectness its
    own sightings had.  A real object looks like itself from every side; a
    look-alike of one frame's clutter does not."""
    from .scene import Detection, confidence_of, edge_map, edge_support, outline_mask

    e = entries[obj.asset]
    v = own_vertices(e)
    seen = {s.row for s in obj.sightings}
    mine = [s for s in obj.sightings if s.asset == obj.asset] or obj.sightings
    base = {k: float(np.mean([s.obj.evidence.get(k, 0.0) for s in mine])) for k in ("match", "objectness")}
    edges = {} if edges is None else edges
    q0, turns, support = [], [], []
    for row, (rgb, intr) in views.items():
        if row in seen:
            continue
        r_cam = track.rotations[row] @ obj.rotation
        t_cam = track.rotations[row] @ (obj.location - track.positions[row])
        pts = v @ r_cam.T + t_cam
        if (pts[:, 2] >= 0).any():
            continue
        uv = intr.project(pts)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        if lo.min() < 0 or hi[0] > intr.width or hi[1] > intr.height or (hi - lo).min() < 12:
            continue
        m = outline_mask(v, e.mesh.faces, r_cam, t_cam, intr)
        det = Detection((float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])),
                        (m > 0).astype(np.float32), [(obj.asset, 0.0)], 0.0)
        q0.append(describe_picture(descriptor, rectified(rgb, det, intr), crop, (0.0,)).unturned)
        turns.append(ray_rotation(intr, (lo + hi) / 2.0).T @ r_cam)
        if row not in edges:
            edges[row] = edge_map(rgb)
        support.append(edge_support(edges[row], m))
    if not q0:
        return []
    crops = np.stack(turns)[:, None]  # (A, 1, 3, 3) asset → each frame's rectified camera
    sc = _scores(lambda d, u: render(obj.asset, d, u), descriptor, crop, q0, np.arange(len(q0)),
                 crops[:, :, 2, :], crops[:, :, 1, :], 0.5, None)[:, 0]
    return [confidence_of({"score": float(x), **base, "outline_edges": float(es), "mask_iou": 0.0})
            for x, es in zip(sc, support)]


def _floor(objects: Sequence[WalkObject], entries: Mapping) -> dict | None:
    from .scene import fit_floor

    class _O:  # what fit_floor reads of an object
        def __init__(self, o):
            self.asset, self.rotation, self.location = o.asset, o.rotation, o.location

    fl = fit_floor([_O(o) for o in objects], entries)
    return None if fl is None else {"normal": fl["normal"], "offset": fl["offset"]}


def find_walkthrough_objects(load: Callable[[int], np.ndarray], track: Track, entries: Mapping, render: RenderFn,
                             descriptor: Descriptor, *, crop: int = 96, scene_frames: int = 8, max_objects: int = 16,
                             min_confidence: float = MIN_CONFIDENCE, refine: bool = True,
                             progress: Callable[[float, str], None] | None = None) -> WalkResult:
    """Every library object of a walk-through, once (the module's docstring).

    Args:
        load: walk-through frame index → (H, W, 3) uint8 picture.
        track: the camera track (:func:`rotationnet.app.track.camera_track`), in its own unit.
        entries, render, descriptor, crop: as for :func:`rotationnet.app.scene.find_objects`.
        scene_frames: frames the scene stage runs on, spread over the track.
    Returns:
        a :class:`WalkResult` whose track is scaled to the assets' units (when any
        sighting fixes the unit).
    """
    say = progress or (lambda f, m: None)
    rows = pick_frames(track, scene_frames)
    sights, views = sightings(load, track, rows, entries, render, descriptor, crop=crop, max_objects=max_objects,
                              progress=lambda f, m: say(0.8 * f, m))
    units = sighting_units(sights, track, entries)
    unit = track_unit(sights, track, entries, units)
    scaled = unit is not None
    if scaled:
        track = track.scaled(unit)
        # a sighting whose own points put it at another scale is not where it says (a texture, a
        # flat patch of floor taken for an asset): left out
        before = len(sights)
        sights = [s for s, u in zip(sights, units) if u is None or abs(math.log(u / unit)) <= math.log(UNIT_AGREEMENT)]
        say(0.81, f"{before - len(sights)} of {before} sightings left out: their depth disagrees with the "
                  "reconstruction's")
    say(0.82, f"{len(sights)} sightings in {len(rows)} frames; grouping them")
    to_world(sights, track)
    objects = [fuse(g, track, entries) for g in group(sights, track, entries)]
    objects = [o for o in objects if o.confidence >= CANDIDATE_CONFIDENCE]
    edges: dict = {}
    for n, o in enumerate(objects):  # checked in the frames that should have seen it and did not
        say(0.84 + 0.04 * n / max(len(objects), 1), f"checking object {n + 1}/{len(objects)} in the other frames")
        others = view_confidences(o, track, views, entries, render, descriptor, crop, edges)
        if others:
            o.evidence.update(others=float(np.mean(others)), checked=float(len(others)))
            o.confidence = walk_confidence(o.evidence)
    objects = [o for o in objects if o.confidence >= min_confidence]
    objects.sort(key=lambda o: -o.confidence)
    objects = objects[:max_objects]
    if refine:
        for n, o in enumerate(objects):
            say(0.85 + 0.14 * n / max(len(objects), 1), f"refining object {n + 1}/{len(objects)} over its frames")
            refine_world(o, track, render, descriptor, crop, entries)
    floor = _floor(objects, entries)
    say(1.0, f"{len(objects)} objects placed")
    return WalkResult(track, objects, floor, sights, scaled)
