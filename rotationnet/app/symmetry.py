"""Rotational symmetries of an asset about its up axis, detected from the mesh.

A turn by angle θ about +Z (the asset frame's up, through the centre of the
normalised mesh) is a symmetry when the turned surface lies on the surface:
the mean distance from turned surface samples to the nearest unturned ones is
below ``tol`` of the mesh's size (the unit sphere's diameter after
normalisation).  Pose errors are then measured up to these turns: a vase seen
from any azimuth is the same picture.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["up_axis_symmetries", "symmetric_view_error_deg", "symmetric_rotation_error_deg"]


def _turn(points: np.ndarray, deg: float) -> np.ndarray:
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return points @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


def up_axis_symmetries(vertices: np.ndarray, faces: np.ndarray, tol: float = 0.01, samples: int = 3000,
                       orders=(2, 3, 4, 5, 6, 8, 12), seed: int = 0) -> list[float]:
    """Angles (degrees, 0 first) of the turns about +Z that map the surface onto itself.

    Args:
        vertices: (n, 3) of the normalised mesh (centre at the origin); faces: (m, 3).
        tol: allowed mean surface distance, as a fraction of the size (2 for the unit sphere).
        orders: the k-fold symmetries tried (turns by 360/k); a surface symmetric
            under every order (a body of revolution) gets turns every 5°.
    """
    import trimesh
    from scipy.spatial import cKDTree

    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), process=False)
    # a dense reference sampling stands for the surface (its own spacing stays well below tol)
    ref, _ = trimesh.sample.sample_surface(mesh, 20 * samples, seed=seed)
    pts, _ = trimesh.sample.sample_surface(mesh, samples, seed=seed + 1)
    tree = cKDTree(ref)
    size = 2.0 * float(np.linalg.norm(ref, axis=1).max())

    def holds(deg: float) -> bool:
        d, _ = tree.query(_turn(pts, deg))
        return float(d.mean()) <= tol * size

    found = [k for k in orders if holds(360.0 / k)]
    if len(found) == len(orders):  # every order: a body of revolution
        return [float(a) for a in np.arange(0.0, 360.0, 5.0)]
    angles = {0.0}
    for k in found:
        angles.update(float(360.0 * j / k) for j in range(k))
    return sorted(angles)


def symmetric_view_error_deg(pred: np.ndarray, true: np.ndarray, symmetries=(0.0,)) -> float:
    """Smallest angle between ``true`` and ``pred`` turned by any of the symmetries."""
    p = np.asarray(pred, np.float64)
    t = np.asarray(true, np.float64)
    best = 180.0
    for a in symmetries:
        q = _turn(p[None], a)[0]
        best = min(best, math.degrees(math.acos(float(np.clip(q @ t / (np.linalg.norm(q) * np.linalg.norm(t)),
                                                               -1.0, 1.0)))))
    return best


def symmetric_rotation_error_deg(pred_dir, pred_up, true_dir, true_up, symmetries=(0.0,)) -> float:
    """Smallest geodesic angle between the true camera rotation and the
    predicted one turned by any of the symmetries (roll included)."""
    from rotationnet.core.views import camera_matrices, geodesic_deg

    mt = camera_matrices(np.asarray(true_dir, np.float64), np.asarray(true_up, np.float64))
    best = 180.0
    for a in symmetries:
        d = _turn(np.asarray(pred_dir, np.float64)[None], a)[0]
        u = _turn(np.asarray(pred_up, np.float64)[None], a)[0]
        best = min(best, float(geodesic_deg(camera_matrices(d, u), mt)))
    return best
