"""A procedural starter library of set-dressing props (trimesh, no Blender).

Eight categories — chair, table, mug, desk_lamp, bottle, bookshelf, sofa, car —
each instance with seeded random proportions and parts, and each category with
a feature that breaks its rotational symmetry so its pose can be seen: a
chair's back, a table's drawer, a mug's handle, a lamp's arm, a bottle's label
plate and cap lever, a bookshelf's open front, a sofa's back, a car's bonnet
and cabin.  All are +Z up, standing on z = 0, canonical front towards +X.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import trimesh

__all__ = ["CATEGORIES", "make_prop", "write_library"]


def _box(ext, center, rot_z: float = 0.0):
    m = trimesh.creation.box(extents=ext)
    if rot_z:
        m.apply_transform(trimesh.transformations.rotation_matrix(rot_z, [0, 0, 1]))
    m.apply_translation(center)
    return m


def _cyl(r, h, center, axis="z", sections=24):
    m = trimesh.creation.cylinder(radius=r, height=h, sections=sections)
    if axis == "x":
        m.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [0, 1, 0]))
    elif axis == "y":
        m.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
    m.apply_translation(center)
    return m


def _chair(u):
    w, d, h = u(0.45, 0.6), u(0.45, 0.6), u(0.42, 0.5)
    t = u(0.03, 0.06)
    leg = u(0.03, 0.05)
    parts = [_box([d, w, t], [0, 0, h])]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_box([leg, leg, h], [sx * (d / 2 - leg), sy * (w / 2 - leg), h / 2]))
    bh = u(0.35, 0.6)
    parts.append(_box([t, w, bh], [-d / 2 + t / 2, 0, h + bh / 2]))  # back at -X: the chair faces +X
    if u(0, 1) < 0.5:  # armrests on some instances
        for sy in (-1, 1):
            parts.append(_box([d * 0.8, 0.04, 0.04], [0, sy * (w / 2 - 0.02), h + 0.22]))
    return parts


def _table(u):
    length, w, h = u(0.9, 1.6), u(0.6, 0.9), u(0.7, 0.8)
    top = u(0.03, 0.06)
    leg = u(0.04, 0.07)
    parts = [_box([length, w, top], [0, 0, h - top / 2])]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_box([leg, leg, h - top], [sx * (length / 2 - leg), sy * (w / 2 - leg), (h - top) / 2]))
    dl = length * u(0.3, 0.5)
    parts.append(_box([dl, 0.04, 0.12], [u(-0.2, 0.2) * length, w / 2 - 0.02, h - top - 0.06]))  # drawer front on +Y
    parts.append(_box([0.08, 0.03, 0.02], [0, w / 2 + 0.01, h - top - 0.06]))  # its knob
    return parts


def _mug(u):
    r, h = u(0.035, 0.05), u(0.08, 0.12)
    parts = [_cyl(r, h, [0, 0, h / 2])]
    t = trimesh.creation.torus(major_radius=h * 0.3, minor_radius=r * 0.15)
    t.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
    t.apply_translation([r + h * 0.15, 0, h * u(0.45, 0.55)])  # handle on +X
    parts.append(t)
    return parts


def _desk_lamp(u):
    parts = [_cyl(u(0.07, 0.11), 0.025, [0, 0, 0.0125])]
    h1 = u(0.25, 0.4)
    a1 = u(0.15, 0.45)  # lower arm leans towards +X
    top = np.array([math.sin(a1) * h1, 0, 0.025 + math.cos(a1) * h1])
    arm1 = _cyl(0.012, h1, [0, 0, 0])
    arm1.apply_transform(trimesh.transformations.rotation_matrix(a1, [0, 1, 0]))
    arm1.apply_translation(top / 2 + [0, 0, 0.0125])
    parts.append(arm1)
    h2 = u(0.2, 0.3)
    arm2 = _cyl(0.012, h2, [0, 0, 0], axis="x")
    arm2.apply_translation(top + [h2 / 2, 0, 0])
    parts.append(arm2)
    shade = trimesh.creation.cone(radius=u(0.05, 0.08), height=u(0.08, 0.12))
    shade.apply_transform(trimesh.transformations.rotation_matrix(math.pi, [1, 0, 0]))
    shade.apply_translation(top + [h2, 0, 0.02])
    parts.append(shade)
    parts.append(_box([0.03, 0.02, 0.015], [-0.05, u(0.03, 0.05), 0.03]))  # switch at the back, one side
    return parts


def _bottle(u):
    r, h = u(0.03, 0.045), u(0.18, 0.28)
    neck = u(0.04, 0.07)
    parts = [_cyl(r, h, [0, 0, h / 2])]
    cone = trimesh.creation.cone(radius=r, height=neck * 1.5)
    cone.apply_translation([0, 0, h])
    parts.append(cone)
    parts.append(_cyl(r * 0.35, neck, [0, 0, h + neck * 0.8]))
    parts.append(_box([0.004, r * 1.2, h * 0.4], [r + 0.002, 0, h * 0.45]))  # label plate on +X
    parts.append(_box([0.03, 0.008, 0.008], [0.015, 0, h + neck * 1.3]))  # cap lever towards +X
    return parts


def _bookshelf(u):
    w, d, h = u(0.6, 1.0), u(0.25, 0.35), u(1.0, 1.8)
    t = 0.02
    parts = [_box([t, w, h], [-d / 2 + t / 2, 0, h / 2])]  # back panel at -X: open front at +X
    for sy in (-1, 1):
        parts.append(_box([d, t, h], [0, sy * (w / 2 - t / 2), h / 2]))
    n = int(u(3, 6))
    for i in range(n + 1):
        parts.append(_box([d, w, t], [0, 0, t / 2 + i * (h - t) / n]))
    for i in range(n):  # a few books, leaning one way
        k = int(u(2, 6))
        for b in range(k):
            bh = (h - t) / n * u(0.5, 0.85)
            parts.append(_box([d * 0.7, 0.03, bh], [0.02, -w / 2 + 0.05 + b * 0.045, t + i * (h - t) / n + bh / 2]))
    return parts


def _sofa(u):
    length, d, seat = u(1.4, 2.2), u(0.7, 0.95), u(0.38, 0.45)
    parts = [_box([d, length, seat - 0.1], [0, 0, (seat - 0.1) / 2 + 0.1])]
    parts.append(_box([d * 0.25, length, u(0.35, 0.5)], [-d / 2 + d * 0.125, 0, seat + 0.2]))  # back at -X
    arm_h = u(0.15, 0.25)
    for sy in (-1, 1):
        parts.append(_box([d, u(0.1, 0.2), seat + arm_h - 0.1], [0, sy * length / 2, (seat + arm_h - 0.1) / 2 + 0.1]))
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_box([0.05, 0.05, 0.1], [sx * (d / 2 - 0.05), sy * (length / 2 - 0.05), 0.05]))
    return parts


def _car(u):
    length, w = u(3.6, 4.8), u(1.6, 1.9)
    body_h = u(0.45, 0.6)
    parts = [_box([length, w, body_h], [0, 0, 0.3 + body_h / 2])]
    cl = length * u(0.4, 0.55)
    ch = u(0.4, 0.55)
    parts.append(_box([cl, w * 0.85, ch], [-length / 2 + cl / 2 + length * u(0.1, 0.2), 0, 0.3 + body_h + ch / 2]))
    for sy in (-1, 1):  # headlights at the front (+X)
        parts.append(_box([0.05, 0.3, 0.12], [length / 2, sy * w * 0.32, 0.3 + body_h * 0.7]))
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cyl(0.33, 0.22, [sx * length * 0.32, sy * w / 2, 0.33], axis="y"))
    return parts


CATEGORIES = {
    "chair": _chair, "table": _table, "mug": _mug, "desk_lamp": _desk_lamp,
    "bottle": _bottle, "bookshelf": _bookshelf, "sofa": _sofa, "car": _car,
}


def make_prop(category: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """One random instance of a category (real-world metres, +Z up, on z = 0)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category '{category}' (use {', '.join(CATEGORIES)})")

    def u(a, b):
        return float(rng.uniform(a, b))

    mesh = trimesh.util.concatenate(CATEGORIES[category](u))
    mesh.apply_translation([0, 0, -mesh.bounds[0, 2]])
    return mesh


def write_library(root, instances: int = 14, test: int = 3, seed: int = 0, categories=None) -> Path:
    """Write ``root/<category>/{train,test}/<category>_<nn>.ply``: ``instances``
    per category, the last ``test`` of them held out."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for cat in categories or CATEGORIES:
        for n in range(instances):
            split = "test" if n >= instances - test else "train"
            d = root / cat / split
            d.mkdir(parents=True, exist_ok=True)
            p = d / f"{cat}_{n:02d}.ply"
            make_prop(cat, rng).export(p)
    return root


def grid_mesh(n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """A wavy height field with about ``n_faces`` triangles."""
    k = int(np.ceil(np.sqrt(n_faces / 2))) + 1
    x, y = np.meshgrid(np.linspace(0, 1, k), np.linspace(0, 1, k))
    z = 0.1 * np.sin(8 * x) * np.cos(8 * y)
    v = np.stack([x.ravel(), y.ravel(), z.ravel()], 1)
    i = np.arange(k * k).reshape(k, k)[:-1, :-1].ravel()
    f = np.concatenate([np.stack([i, i + 1, i + k + 1], 1), np.stack([i, i + k + 1, i + k], 1)])
    return v, f
