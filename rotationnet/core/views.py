"""Camera rigs: where the cameras of a multi-view datapoint stand, and which
rotations of the object map the rig onto itself (RotationNet's candidates).

numpy only: the renderer and the Blender add-on import this without torch.

Conventions
-----------
* World frame: +Z up, objects centred at the origin inside the unit sphere.
* ``cameras[i]`` is the unit vector from the origin to camera ``i``; every camera
  looks at the origin.  ``up[i]`` is the camera's up vector: world +Z projected
  onto the image plane (Blender's ``to_track_quat('-Z', 'Y')``), +Y for a camera
  straight above or below.
* Image ``i`` of a datapoint is always taken by camera ``i`` ("rig order").
* Candidate ``j`` is a rotation ``R_j`` with ``R_j @ cameras[candidates[j, k]] ==
  cameras[k]`` for every view slot ``k``: rotating the object by ``R_j``, camera
  ``k`` sees what camera ``candidates[j, k]`` saw before.  In RotationNet terms,
  image ``candidates[j, k]`` fills view slot ``k`` under candidate ``j``.
  Candidates are sorted lexicographically, so candidate 0 is the identity.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ViewRig",
    "ring",
    "rings",
    "dodecahedron",
    "from_cameras",
    "get_rig",
    "RIG_NAMES",
    "camera_up_vectors",
    "camera_matrices",
    "rotation_between_views",
    "geodesic_deg",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "direction",
    "azimuth_elevation",
    "angle_deg",
    "rolled_up",
    "turn_camera",
    "world_to_camera",
    "up_axis_rotation",
]

_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class ViewRig:
    """A fixed, ordered set of cameras and its rotation candidates.

    Attributes:
        spec: string that rebuilds the rig with :func:`get_rig` (``"ring12"``,
            ``"dodeca20"``, ``"rings:16:-30,0,30"``, or ``"custom"``).
        cameras: (V, 3) unit vectors towards the cameras.
        up: (V, 3) camera up vectors (unit, orthogonal to ``cameras``).
        candidates: (K, V) int64; ``candidates[j, k]`` = image placed at slot k.
        candidate_rotations: (K, 3, 3) proper rotation matrices (det = +1).
        upright: True when candidates must also keep the camera up vectors
            (objects stand on +Z: rings); False when any rotation of the camera
            set counts, up to in-plane roll (the dodecahedron).
    """

    spec: str
    cameras: np.ndarray
    up: np.ndarray
    candidates: np.ndarray
    candidate_rotations: np.ndarray
    upright: bool
    _meta: dict = field(default_factory=dict, repr=False)

    @property
    def num_views(self) -> int:
        return int(self.cameras.shape[0])

    @property
    def num_candidates(self) -> int:
        return int(self.candidates.shape[0])

    def azimuth_elevation_deg(self) -> np.ndarray:
        """(V, 2) azimuth (counter-clockwise from +X) and elevation in degrees."""
        return azimuth_elevation(self.cameras)

    def view_angles_deg(self) -> np.ndarray:
        """(V, V) angle in degrees between every two camera directions."""
        return np.degrees(np.arccos(np.clip(self.cameras @ self.cameras.T, -1.0, 1.0)))

    def to_dict(self) -> dict:
        """Plain-JSON description (spec plus explicit geometry) for manifests
        and checkpoints; :meth:`from_dict` rebuilds and checks it."""
        return {
            "spec": self.spec,
            "num_views": self.num_views,
            "num_candidates": self.num_candidates,
            "upright": self.upright,
            "cameras": np.round(self.cameras, 9).tolist(),
        }

    @staticmethod
    def from_dict(d: dict) -> "ViewRig":
        """Rebuild a rig from :meth:`to_dict` output.

        Raises:
            ValueError: malformed dict, or a named spec whose geometry differs
                from the recorded cameras.
        """
        if not isinstance(d, dict) or "cameras" not in d:
            raise ValueError("rig description must be an object with 'cameras'")
        try:
            cams = np.asarray(d["cameras"], dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"rig cameras are not a list of 3-vectors: {e}") from None
        spec = d.get("spec", "custom")
        if spec != "custom":
            rig = get_rig(spec)
            if rig.cameras.shape != cams.shape or not np.allclose(rig.cameras, cams, atol=1e-6):
                raise ValueError(f"rig '{spec}': recorded cameras do not match the named rig")
            return rig
        return from_cameras(cams, upright=bool(d.get("upright", True)))

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"ViewRig({self.spec!r}, V={self.num_views}, K={self.num_candidates})"


# ----------------------------------------------------------------------------
# geometry helpers (batched, pure)
# ----------------------------------------------------------------------------

def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / n


def camera_up_vectors(cameras: np.ndarray) -> np.ndarray:
    """Up vectors for cameras looking at the origin with world +Z up.

    Args:
        cameras: (..., 3) unit vectors towards the cameras.
    Returns:
        (..., 3) unit up vectors: +Z projected onto each image plane, +Y for a
        camera on the Z axis.
    """
    c = np.asarray(cameras, dtype=np.float64)
    z = np.zeros_like(c)
    z[..., 2] = 1.0
    u = z - (c[..., 2:3]) * c
    n = np.linalg.norm(u, axis=-1, keepdims=True)
    on_axis = n[..., 0] < 1e-9
    if np.any(on_axis):
        y = np.zeros_like(c)
        y[..., 1] = 1.0
        u = np.where(on_axis[..., None], y - (c[..., 1:2]) * c, u)
        n = np.linalg.norm(u, axis=-1, keepdims=True)
    return u / n


def camera_matrices(cameras: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """Camera-to-world rotations (Blender convention: the camera looks along its
    local -Z, its local +Y is up).

    Args:
        cameras: (..., 3) unit vectors towards the cameras.
        up: (..., 3) up vectors; default :func:`camera_up_vectors`.
    Returns:
        (..., 3, 3) rotation matrices whose columns are the camera's x, y, z axes
        in world coordinates (z = direction towards the camera).
    """
    c = _unit(np.asarray(cameras, dtype=np.float64))
    u = camera_up_vectors(c) if up is None else _unit(np.asarray(up, dtype=np.float64))
    x = _unit(np.cross(u, c))
    y = np.cross(c, x)
    return np.stack([x, y, c], axis=-1)


def rotation_between_views(
    src_cam: np.ndarray, src_up: np.ndarray, dst_cam: np.ndarray, dst_up: np.ndarray
) -> np.ndarray:
    """Rotation ``R`` with ``R @ src_cam = dst_cam`` and ``R @ src_up = dst_up``.

    Rotating an object by ``R``, a camera at ``dst`` sees what a camera at
    ``src`` saw before.  Shapes broadcast: (..., 3) in, (..., 3, 3) out.
    """
    a = camera_matrices(src_cam, src_up)
    b = camera_matrices(dst_cam, dst_up)
    return b @ np.swapaxes(a, -1, -2)


def geodesic_deg(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Geodesic distance in degrees between rotation matrices, (..., 3, 3) each."""
    r = np.swapaxes(r1, -1, -2) @ r2
    tr = np.trace(r, axis1=-2, axis2=-1)
    return np.degrees(np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0)))


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to unit quaternions (..., 4) as (w, x, y, z),
    with w >= 0 (Blender's ``rotation_quaternion`` order)."""
    r = np.asarray(r, dtype=np.float64)
    if r.shape[-2:] != (3, 3):
        raise ValueError(f"expected (..., 3, 3) matrices, got shape {r.shape}")
    m = r.reshape(-1, 3, 3)
    out = np.empty((m.shape[0], 4))
    for n, a in enumerate(m):  # Shepperd's method: largest pivot for stability
        t = a[0, 0] + a[1, 1] + a[2, 2]
        if t > max(a[0, 0], a[1, 1], a[2, 2]):
            s = 2.0 * math.sqrt(1.0 + t)
            q = (s / 4, (a[2, 1] - a[1, 2]) / s, (a[0, 2] - a[2, 0]) / s, (a[1, 0] - a[0, 1]) / s)
        elif a[0, 0] >= a[1, 1] and a[0, 0] >= a[2, 2]:
            s = 2.0 * math.sqrt(max(1.0 + a[0, 0] - a[1, 1] - a[2, 2], 0.0))
            q = ((a[2, 1] - a[1, 2]) / s, s / 4, (a[0, 1] + a[1, 0]) / s, (a[0, 2] + a[2, 0]) / s)
        elif a[1, 1] >= a[2, 2]:
            s = 2.0 * math.sqrt(max(1.0 + a[1, 1] - a[0, 0] - a[2, 2], 0.0))
            q = ((a[0, 2] - a[2, 0]) / s, (a[0, 1] + a[1, 0]) / s, s / 4, (a[1, 2] + a[2, 1]) / s)
        else:
            s = 2.0 * math.sqrt(max(1.0 + a[2, 2] - a[0, 0] - a[1, 1], 0.0))
            q = ((a[1, 0] - a[0, 1]) / s, (a[0, 2] + a[2, 0]) / s, (a[1, 2] + a[2, 1]) / s, s / 4)
        q = np.asarray(q) / np.linalg.norm(q)
        out[n] = q if q[0] >= 0 else -q
    return out.reshape(r.shape[:-2] + (4,))


def direction(azimuth_deg, elevation_deg) -> np.ndarray:
    """Unit vectors towards cameras at ``azimuth_deg`` (counter-clockwise from
    +X) and ``elevation_deg`` (from the XY plane); the arguments broadcast,
    (...) → (..., 3)."""
    az, el = np.broadcast_arrays(np.radians(np.asarray(azimuth_deg, dtype=np.float64)),
                                 np.radians(np.asarray(elevation_deg, dtype=np.float64)))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def azimuth_elevation(directions: np.ndarray) -> np.ndarray:
    """(..., 3) directions → (..., 2) azimuth in [0, 360) and elevation in
    [-90, 90] degrees (the inverse of :func:`direction`)."""
    c = _unit(np.asarray(directions, dtype=np.float64))
    az = np.degrees(np.arctan2(c[..., 1], c[..., 0])) % 360.0
    el = np.degrees(np.arcsin(np.clip(c[..., 2], -1.0, 1.0)))
    return np.stack([az, el], axis=-1)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between vectors (..., 3) and (..., 3) (broadcast)."""
    a, b = _unit(np.asarray(a, dtype=np.float64)), _unit(np.asarray(b, dtype=np.float64))
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def rolled_up(directions: np.ndarray, roll_deg) -> np.ndarray:
    """Up vectors of cameras at ``directions`` (..., 3) turned by ``roll_deg``
    about their viewing axis from the upright one (:func:`camera_up_vectors`);
    positive ``roll_deg`` turns the picture's content counter-clockwise."""
    c = np.asarray(directions, dtype=np.float64)
    u = camera_up_vectors(c)
    x = np.cross(u, c)
    r = np.radians(np.asarray(roll_deg, dtype=np.float64))[..., None]
    return np.cos(r) * u + np.sin(r) * x


def turn_camera(directions: np.ndarray, up: np.ndarray, d_az, d_el, d_roll) -> tuple[np.ndarray, np.ndarray]:
    """Cameras moved by angles (degrees) in their own frames: ``d_az`` towards
    their right, ``d_el`` upwards, then ``d_roll`` turning the camera
    counter-clockwise about its viewing axis (the picture's content turns
    clockwise: ``turn_camera(c, u, 0, 0, r)`` has the up vector of
    ``rolled_up(c, -r)`` for an upright ``u``).

    Args:
        directions, up: (..., 3) the cameras; d_az, d_el, d_roll: scalars or
            arrays broadcasting with ``directions[..., 0]``.
    Returns:
        (directions, up) of the moved cameras, (..., 3) each.
    """
    m = camera_matrices(directions, up)  # columns x, y, z = direction
    a, e, r = (np.radians(np.asarray(v, dtype=np.float64)) for v in (d_az, d_el, d_roll))
    a, e, r = np.broadcast_arrays(a, e, r, m[..., 0, 0])[:3]
    o, z = np.ones_like(a), np.zeros_like(a)
    ca, sa, ce, se, cr, sr = np.cos(a), np.sin(a), np.cos(e), np.sin(e), np.cos(r), np.sin(r)
    # the direction moves towards +x by a, then towards +y by e (up follows); then the roll about it
    rot_y = np.stack([np.stack([ca, z, sa], -1), np.stack([z, o, z], -1), np.stack([-sa, z, ca], -1)], -2)
    rot_x = np.stack([np.stack([o, z, z], -1), np.stack([z, ce, se], -1), np.stack([z, -se, ce], -1)], -2)
    rot_z = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1), np.stack([z, z, o], -1)], -2)
    n = m @ rot_y @ rot_x @ rot_z
    return n[..., :, 2], n[..., :, 1]


def world_to_camera(directions: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) from the object's frame to the frames of cameras at
    ``directions`` with ``up`` (Blender camera: -Z forward, +Y up): the
    transpose of :func:`camera_matrices`."""
    return np.swapaxes(camera_matrices(directions, up), -1, -2)


def up_axis_rotation(up_axis: str) -> np.ndarray:
    """The rotation (3, 3) that brings a source whose up axis is ``up_axis``
    ("Z" or "Y") into the +Z-up frame assets are indexed and placed in: the
    identity for "Z"; for "Y" +90° about X, (x, y, z) → (x, −z, y).

    Raises:
        ValueError: another up axis.
    """
    axis = str(up_axis).upper()
    if axis == "Z":
        return np.eye(3)
    if axis == "Y":
        return np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    raise ValueError(f"up_axis must be 'Z' or 'Y', got {up_axis!r}")


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) as (w, x, y, z), normalised here, to rotation
    matrices (..., 3, 3); the inverse of :func:`matrix_to_quaternion`."""
    q = _unit(np.asarray(q, dtype=np.float64))
    w, x, y, z = (q[..., i] for i in range(4))
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


# ----------------------------------------------------------------------------
# candidate derivation
# ----------------------------------------------------------------------------

def _frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) with columns x, y', x × y'."""
    x = _unit(x)
    y = _unit(y - np.sum(y * x, axis=-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _symmetry_candidates(cams: np.ndarray, up: np.ndarray, upright: bool):
    """All proper rotations mapping the camera set onto itself.

    With ``upright`` a rotation must also map each camera's up vector onto the
    up vector of the camera it lands on.  Returns (candidates (K, V),
    rotations (K, 3, 3)) sorted lexicographically by candidate row.
    """
    v = cams.shape[0]
    a = 0
    cross = np.linalg.norm(np.cross(cams[a], cams), axis=1)
    b = int(np.argmax(cross))
    if cross[b] < 1e-6:
        raise ValueError("rig cameras are collinear: no rotation frame can be derived")
    dot_ab = cams[a] @ cams[b]
    dots = cams @ cams.T
    ii, jj = np.nonzero(np.abs(dots - dot_ab) < 1e-6)
    keep = ii != jj
    ii, jj = ii[keep], jj[keep]
    if upright:  # a rotation keeping up vectors keeps elevation
        keep = (np.abs(cams[ii, 2] - cams[a, 2]) < 1e-6) & (np.abs(cams[jj, 2] - cams[b, 2]) < 1e-6)
        ii, jj = ii[keep], jj[keep]
    src = _frame(cams[a], cams[b])  # (3, 3)
    rots = _frame(cams[ii], cams[jj]) @ src.T  # (P, 3, 3)
    found: dict[tuple, np.ndarray] = {}
    for start in range(0, rots.shape[0], 256):
        r = rots[start:start + 256]
        mapped = np.einsum("pxy,vy->pvx", r, cams)  # R c_i
        match = mapped @ cams.T  # (P, V, V): [p, i, k] = (R c_i) . c_k
        dest = np.argmax(match, axis=2)  # camera k that image i lands on
        ok = np.all(np.take_along_axis(match, dest[..., None], 2)[..., 0] > 1 - 1e-6, axis=1)
        ok &= np.array([len(set(d)) == v for d in dest])
        if upright:
            mapped_up = np.einsum("pxy,vy->pvx", r, up)
            ok &= np.all(np.sum(mapped_up * up[dest], axis=-1) > 1 - 1e-6, axis=1)
        for p in np.nonzero(ok)[0]:
            cand = np.empty(v, dtype=np.int64)
            cand[dest[p]] = np.arange(v)  # slot k holds image i with R c_i = c_k
            found.setdefault(tuple(cand.tolist()), r[p])
    keys = sorted(found)
    return np.array(keys, dtype=np.int64), np.stack([found[k] for k in keys])


def from_cameras(cameras, upright: bool = True, spec: str = "custom", up=None) -> ViewRig:
    """Build a rig from explicit camera directions, deriving its candidates.

    Args:
        cameras: (V, 3) directions towards the cameras (normalised here).
        upright: see :class:`ViewRig`.
        spec: name recorded in manifests.
        up: optional (V, 3) up vectors; default :func:`camera_up_vectors`.
    Raises:
        ValueError: fewer than 2 cameras, non-finite or zero vectors, two
            cameras in the same direction, or collinear cameras.
    """
    cams = np.asarray(cameras, dtype=np.float64)
    if cams.ndim != 2 or cams.shape[1] != 3 or cams.shape[0] < 2:
        raise ValueError(f"cameras must be a (V>=2, 3) array, got shape {cams.shape}")
    if not np.all(np.isfinite(cams)) or np.any(np.linalg.norm(cams, axis=1) < 1e-9):
        raise ValueError("cameras must be finite, non-zero vectors")
    cams = _unit(cams)
    d = cams @ cams.T - 2 * np.eye(len(cams))
    if np.any(d > 1 - 1e-9):
        i, j = np.argwhere(d > 1 - 1e-9)[0]
        raise ValueError(f"cameras {i} and {j} point in the same direction")
    up = camera_up_vectors(cams) if up is None else _unit(np.asarray(up, dtype=np.float64))
    cand, rots = _symmetry_candidates(cams, up, upright)
    for arr in (cams, up, cand, rots):
        arr.setflags(write=False)
    return ViewRig(spec=spec, cameras=cams, up=up, candidates=cand, candidate_rotations=rots, upright=upright)


def _ring_cameras(n: int, elevation_deg: float, azimuth_offset_deg: float = 0.0) -> np.ndarray:
    return direction(azimuth_offset_deg + 360.0 * np.arange(n) / n, elevation_deg)


def ring(n: int = 12, elevation_deg: float = 30.0) -> ViewRig:
    """Case (i): ``n`` cameras every 360/n degrees of azimuth, counter-clockwise
    from +X, at ``elevation_deg``; candidates are the ``n`` cyclic shifts
    (``candidates[j, k] = (j + k) % n``).

    Raises:
        ValueError: ``n < 2`` or ``|elevation_deg| >= 90``.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"ring needs an integer n >= 2, got {n}")
    if not -90.0 < elevation_deg < 90.0:
        raise ValueError(f"ring elevation must lie strictly between -90 and 90 degrees, got {elevation_deg}")
    spec = f"ring{int(n)}" if elevation_deg == 30.0 else f"ring:{int(n)}:{elevation_deg:g}"
    return from_cameras(_ring_cameras(int(n), elevation_deg), upright=True, spec=spec)


def rings(elevations_deg, n_azimuth: int) -> ViewRig:
    """Several rings of ``n_azimuth`` cameras (MIRO-like, e.g. 10 × 16 = 160
    views), ordered ring by ring in the given elevation order, azimuth 0 first.
    Candidates are the ``n_azimuth`` rotations about +Z.

    Raises:
        ValueError: no elevation, a repeated elevation, or one at ±90°.
    """
    els = [float(e) for e in elevations_deg]
    if not els:
        raise ValueError("rings needs at least one elevation")
    if len(set(els)) != len(els):
        raise ValueError(f"rings: repeated elevation in {els}")
    if any(not -90.0 < e < 90.0 for e in els):
        raise ValueError(f"rings: elevations must lie strictly between -90 and 90 degrees, got {els}")
    if int(n_azimuth) != n_azimuth or n_azimuth < 2:
        raise ValueError(f"rings needs an integer n_azimuth >= 2, got {n_azimuth}")
    cams = np.concatenate([_ring_cameras(int(n_azimuth), e) for e in els])
    spec = f"rings:{int(n_azimuth)}:" + ",".join(f"{e:g}" for e in els)
    return from_cameras(cams, upright=True, spec=spec)


def dodecahedron() -> ViewRig:
    """Case (ii): the 20 vertices of a regular dodecahedron, in this order
    (φ = golden ratio; sign patterns enumerated with + before -, first
    coordinate slowest):

    * 0–7:   (±1, ±1, ±1)
    * 8–11:  (0, ±1/φ, ±φ)
    * 12–15: (±1/φ, ±φ, 0)
    * 16–19: (±φ, 0, ±1/φ)

    normalised to unit length.  Adjacent cameras are 41.81° apart; the 60
    candidates are the rotation group of the dodecahedron (up to in-plane roll
    of the cameras, as in the original method).
    """
    phi = (1 + math.sqrt(5)) / 2
    s = (1.0, -1.0)
    pts = [(x, y, z) for x in s for y in s for z in s]
    pts += [(0.0, a / phi, b * phi) for a in s for b in s]
    pts += [(a / phi, b * phi, 0.0) for a in s for b in s]
    pts += [(a * phi, 0.0, b / phi) for a in s for b in s]
    return from_cameras(np.array(pts), upright=False, spec="dodeca20")


RIG_NAMES = ("ring12", "dodeca20", "ring:N:ELEV", "rings:N:E1,E2,...")

_RING_RE = re.compile(r"^ring(\d+)$")
_RING2_RE = re.compile(r"^ring:(\d+):(-?[\d.]+)$")
_RINGS_RE = re.compile(r"^rings:(\d+):(-?[\d.]+(?:,-?[\d.]+)*)$")
_cache: dict[str, ViewRig] = {}


def get_rig(spec: str) -> ViewRig:
    """Rig from its spec string: ``ring12`` (any ``ringN`` at 30°), ``dodeca20``,
    ``ring:N:ELEV``, ``rings:N:E1,E2,...``.

    Raises:
        ValueError: unknown spec (the message lists the accepted forms).
    """
    if not isinstance(spec, str):
        raise ValueError(f"rig spec must be a string, got {type(spec).__name__}")
    s = spec.strip().lower()
    if s in _cache:
        return _cache[s]
    if s in ("dodeca20", "dodecahedron", "case2"):
        rig = dodecahedron()
    elif s == "case1":
        rig = ring(12, 30.0)
    elif m := _RING_RE.match(s):
        rig = ring(int(m.group(1)), 30.0)
    elif m := _RING2_RE.match(s):
        rig = ring(int(m.group(1)), float(m.group(2)))
    elif m := _RINGS_RE.match(s):
        rig = rings([float(e) for e in m.group(2).split(",")], int(m.group(1)))
    else:
        raise ValueError(f"unknown rig '{spec}'; use one of: {', '.join(RIG_NAMES)}")
    _cache[s] = rig
    return rig
