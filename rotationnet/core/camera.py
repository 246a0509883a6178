"""A picture's camera: pinhole intrinsics and where they come from.

numpy and the standard library only (the add-on bundles this).  Conventions as
in :mod:`rotationnet.core.views`: a camera frame is Blender's (−Z forward, +Y
up, +X right); pixel coordinates have their origin at the top-left corner of
the picture, x to the right, y down, pixel centres at half-integers.

* :class:`Intrinsics` — ``K`` (3 × 3), the picture's width and height, and
  where they came from (``given``, ``exif``, ``estimated``); from a field of
  view (:meth:`Intrinsics.from_fov`) or from EXIF tags (:func:`from_exif`).
* :meth:`Intrinsics.project` / :meth:`Intrinsics.rays` — points in the camera
  frame ↔ pixels.
* :func:`ray_rotation` — the turn from the optical axis onto the ray through
  a pixel: a crop around an off-centre object is the view of a camera turned
  that way.
* :func:`fit_translation` — where an object of known shape, size and rotation
  stands so that its projected outline fills a box of the picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Intrinsics", "from_exif", "fit_translation", "ray_rotation", "SOURCES", "FULL_FRAME_DIAGONAL_MM"]

SOURCES = ("given", "exif", "estimated")
SQUARE_PIXELS = 0.01  # fx and fy this close (relatively) count as square pixels for a Blender camera
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)  # the 35 mm-equivalent focal length's reference


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera: ``K`` = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels of a
    ``width`` × ``height`` picture, and its ``source`` (one of :data:`SOURCES`).

    Raises:
        ValueError: a K that is not 3 × 3 upper triangular with positive focal
            lengths, a non-positive picture size, or an unknown source.
    """

    K: np.ndarray
    width: int
    height: int
    source: str = "given"

    def __post_init__(self):
        k = np.asarray(self.K, dtype=np.float64)
        if k.shape != (3, 3) or not np.all(np.isfinite(k)):
            raise ValueError(f"K must be a finite 3×3 matrix, got shape {k.shape}")
        if k[1, 0] != 0 or k[2, 0] != 0 or k[2, 1] != 0 or abs(k[2, 2] - 1.0) > 1e-9:
            raise ValueError("K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]]")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ValueError(f"K's focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"the picture's size must be positive, got {self.width}×{self.height}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        k.setflags(write=False)
        object.__setattr__(self, "K", k)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @classmethod
    def from_fov(cls, fov_deg: float, width: int, height: int, source: str = "given") -> "Intrinsics":
        """Square pixels, the principal point in the middle, ``fov_deg`` the
        horizontal field of view.  Raises ValueError outside 1..179 degrees."""
        if not 1.0 <= float(fov_deg) <= 179.0:
            raise ValueError(f"the field of view must be 1..179 degrees, got {fov_deg}")
        f = width / 2.0 / math.tan(math.radians(fov_deg) / 2.0)
        return cls(np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]]), width, height, source)

    @property
    def fov_deg(self) -> float:
        """The horizontal field of view in degrees (through the picture's whole width)."""
        return math.degrees(2.0 * math.atan(self.width / 2.0 / self.K[0, 0]))

    def to_dict(self) -> dict:
        """The reply's ``camera`` object: K, fov_deg, width, height, source."""
        return {"K": self.K.round(6).tolist(), "fov_deg": round(self.fov_deg, 6), "width": self.width,
                "height": self.height, "source": self.source}

    def blender_camera(self, sensor_width: float = 36.0) -> dict:
        """The settings of a Blender camera (and its scene's resolution) that
        sees as this one: ``sensor_fit`` HORIZONTAL, ``sensor_width`` (mm),
        ``lens`` (mm), ``shift_x`` / ``shift_y`` (Blender measures the shift in
        units of the fitted sensor dimension, here the width), ``resolution_x`` /
        ``resolution_y``.  Checked against Workbench renders in
        tests/render/test_render.py.

        A calibrated camera's fx and fy differ by a fraction of a percent (the
        lmo-dev Kinect's by 0.2 %): up to :data:`SQUARE_PIXELS` the camera is
        fitted horizontally (fx), the vertical error at most that share of the
        distance from the principal point.

        Raises:
            ValueError: skew, or pixels further from square (fx ≠ fy), which a
                Blender camera does not model here.
        """
        k = self.K
        if abs(k[0, 1]) > 1e-9 * k[0, 0] or abs(k[0, 0] - k[1, 1]) > SQUARE_PIXELS * k[0, 0]:
            raise ValueError("a Blender camera needs square pixels without skew (fx = fy within "
                             f"{100 * SQUARE_PIXELS:g} %, s = 0)")
        w, h = self.width, self.height
        return {"sensor_fit": "HORIZONTAL", "sensor_width": float(sensor_width),
                "lens": float(k[0, 0] * sensor_width / w), "shift_x": float(-(k[0, 2] - w / 2.0) / w),
                "shift_y": float((k[1, 2] - h / 2.0) / w), "resolution_x": w, "resolution_y": h}

    def project(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) in the camera frame (in front: z < 0) → pixels (..., 2)."""
        p = np.asarray(points, dtype=np.float64)
        x, y, z = p[..., 0], p[..., 1], -p[..., 2]  # depth along the viewing direction
        k = self.K
        u = k[0, 0] * x / z + k[0, 1] * (-y) / z + k[0, 2]
        v = k[1, 1] * (-y) / z + k[1, 2]
        return np.stack([u, v], axis=-1)

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) → unit directions (..., 3) in the camera frame through them."""
        px = np.asarray(pixels, dtype=np.float64)
        k = self.K
        yd = (px[..., 1] - k[1, 2]) / k[1, 1]  # image y down, per unit depth
        xd = (px[..., 0] - k[0, 2] - k[0, 1] * yd) / k[0, 0]
        d = np.stack([xd, -yd, -np.ones_like(xd)], axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)


def from_exif(tags: dict, width: int, height: int) -> Intrinsics | None:
    """Intrinsics from a photo's EXIF tags (by name, as PIL's ``ExifTags.TAGS``
    names them), or None when they do not say: ``FocalLengthIn35mmFilm`` (the
    focal length a full-frame camera with the same field of view would have;
    the 35 mm diagonal against the picture's diagonal), else ``FocalLength``
    (mm) with ``FocalPlaneXResolution`` and ``FocalPlaneResolutionUnit``
    (pixels per inch or per centimetre on the sensor; scaled by the picture's
    width over ``ExifImageWidth`` when it was resized)."""
    def number(v):
        try:
            x = float(v[0]) / float(v[1]) if isinstance(v, tuple) and len(v) == 2 else float(v)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        return x if math.isfinite(x) and x > 0 else None

    f35 = number(tags.get("FocalLengthIn35mmFilm"))
    if f35:
        f = f35 / FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)
    else:
        fmm, xres = number(tags.get("FocalLength")), number(tags.get("FocalPlaneXResolution"))
        unit = {2: 25.4, 3: 10.0, 4: 1.0}.get(int(number(tags.get("FocalPlaneResolutionUnit")) or 2))
        if not fmm or not xres:
            return None
        f = fmm * xres / unit  # mm × pixels per mm on the sensor, at the camera's own resolution
        full = number(tags.get("ExifImageWidth"))
        if full:  # the picture was resized since: the focal length in pixels with it
            f *= width / full
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    return Intrinsics(K, width, height, "exif")


def fit_translation(points: np.ndarray, box, intr: Intrinsics, iterations: int = 20) -> np.ndarray:
    """The translation ``t`` (3,) in the camera frame that makes the bounding box
    of the projected ``points + t`` equal ``box`` = [x, y, w, h] (pixels): an
    object of known shape, size and rotation (``points`` (N, 3): its vertices
    turned into the camera's axes, in its own units) placed along its ray at the
    depth its size implies.  Gauss–Newton on the box's four sides from the
    depth that matches the box's size and the ray through its centre.

    Raises:
        ValueError: an empty box or no points.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    x, y, w, h = (float(v) for v in box)
    if len(p) == 0 or w <= 0 or h <= 0:
        raise ValueError(f"fit_translation needs points and a box with a positive size, got {box}")
    target = np.array([x, y, x + w, y + h])
    centre = (p.min(axis=0) + p.max(axis=0)) / 2
    extent = float(np.linalg.norm((p.max(axis=0) - p.min(axis=0))[:2]))
    depth = intr.K[0, 0] * extent / max(math.hypot(w, h), 1e-9)  # its size at that depth fills the box
    ray = intr.rays(np.array([x + w / 2, y + h / 2]))
    t = ray * depth / max(-ray[2], 1e-9) - centre  # the points' centre on that ray, at that depth

    def sides(tt):
        q = p + tt
        if np.any(q[:, 2] >= -1e-9):
            return None
        uv = intr.project(q)
        return np.concatenate([uv.min(axis=0), uv.max(axis=0)])

    for _ in range(iterations):
        s0 = sides(t)
        if s0 is None:
            break
        r = s0 - target
        if np.abs(r).max() < 1e-6:
            break
        step = 1e-4 * max(abs(t[2]), 1e-6)
        jac = np.stack([(sides(t + step * e) - s0) / step for e in np.eye(3)], axis=1)  # (4, 3)
        dt, *_ = np.linalg.lstsq(jac, -r, rcond=None)
        # keep in front of the camera: at most half the way towards it per step
        limit = 0.5 * abs(t[2] + centre[2])
        if np.linalg.norm(dt) > limit:
            dt *= limit / np.linalg.norm(dt)
        t = t + dt
    return t


def ray_rotation(intr: Intrinsics, pixels: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3), in the camera frame, that turn the optical axis
    (0, 0, −1) onto the rays through ``pixels`` (..., 2) by the smallest turn.
    A square crop centred on an object off the picture's centre shows it as a
    camera turned by this rotation would (up to the crop's small perspective
    skew): an object's rotation found in the crop's frame, ``r_crop``, is
    ``ray_rotation(...) @ r_crop`` in the picture's camera frame."""
    d = intr.rays(pixels)
    z = np.array([0.0, 0.0, -1.0])
    axis = np.cross(np.broadcast_to(z, d.shape), d)
    s = np.linalg.norm(axis, axis=-1)[..., None, None]
    c = (d @ z)[..., None, None]
    k = np.zeros(d.shape[:-1] + (3, 3))
    a = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -a[..., 2], a[..., 1], -a[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = a[..., 2], -a[..., 1], a[..., 0]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)
