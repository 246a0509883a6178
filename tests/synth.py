"""A small multi-view dataset the tests build themselves, without Blender.

Four classes of asymmetric objects made from trimesh primitives (so the pose
is observable), seeded random proportions, drawn from every camera of a rig by
a tiny numpy point-splat renderer (z-buffer, two-sided headlight Lambert,
white background).  Written in the plain pytorch-rotationnet layout
``ROOT/{train,test}/<class>/<object>_<view:03d>.png``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from rotationnet.views import ViewRig, camera_matrices

CLASSES = ("chair", "lamp", "mug", "car")


def _box(extents, center):
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(center)
    return m


def _cyl(r, h, center, sections=24):
    m = trimesh.creation.cylinder(radius=r, height=h, sections=sections)
    m.apply_translation(center)
    return m


def make_object(label: str, rng: np.random.Generator) -> trimesh.Trimesh:
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    parts = []
    if label == "chair":
        w, d, h = u(0.8, 1.1), u(0.8, 1.1), u(0.8, 1.0)
        parts.append(_box([w, d, 0.1], [0, 0, h]))
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(_box([0.08, 0.08, h], [sx * (w / 2 - 0.05), sy * (d / 2 - 0.05), h / 2]))
        bh = u(0.7, 1.0)
        parts.append(_box([0.1, d, bh], [-w / 2 + 0.05, 0, h + bh / 2]))  # back on the -X side
    elif label == "lamp":
        parts.append(_cyl(u(0.3, 0.45), 0.08, [0, 0, 0.04]))
        hgt = u(0.9, 1.3)
        parts.append(_cyl(0.04, hgt, [0, 0, hgt / 2]))
        arm = u(0.4, 0.7)
        parts.append(_box([arm, 0.06, 0.06], [arm / 2, 0, hgt]))  # arm towards +X
        cone = trimesh.creation.cone(radius=u(0.15, 0.25), height=0.3)
        cone.apply_transform(trimesh.transformations.rotation_matrix(math.pi, [1, 0, 0]))
        cone.apply_translation([arm, 0, hgt + 0.05])
        parts.append(cone)
    elif label == "mug":
        r, h = u(0.35, 0.5), u(0.7, 1.1)
        parts.append(_cyl(r, h, [0, 0, h / 2]))
        t = trimesh.creation.torus(major_radius=h * 0.25, minor_radius=0.05)
        t.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
        t.apply_translation([r + h * 0.12, 0, h / 2])  # handle on +X
        parts.append(t)
    elif label == "car":
        length, w = u(1.6, 2.2), u(0.7, 0.9)
        parts.append(_box([length, w, 0.35], [0, 0, 0.35]))
        cl = length * u(0.35, 0.5)
        parts.append(_box([cl, w * 0.9, 0.3], [-length / 2 + cl / 2 + 0.1, 0, 0.67]))  # cabin at the back (-X)
        for sx in (-1, 1):
            for sy in (-1, 1):
                wheel = _cyl(0.17, 0.1, [0, 0, 0])
                wheel.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1, 0, 0]))
                wheel.apply_translation([sx * length * 0.32, sy * w / 2, 0.17])
                parts.append(wheel)
    else:
        raise ValueError(label)
    mesh = trimesh.util.concatenate(parts)
    mesh.apply_translation(-mesh.bounding_box.centroid)
    mesh.apply_scale(1.0 / np.max(np.linalg.norm(mesh.vertices, axis=1)))
    return mesh


def render_views(mesh: trimesh.Trimesh, rig: ViewRig, size: int = 96, points: int = 60000,
                 distance: float = 2.5, seed: int = 0) -> np.ndarray:
    """uint8 (V, size, size, 3) point-splat renders of a unit-sphere mesh."""
    pts, face = trimesh.sample.sample_surface(mesh, points, seed=seed)
    normals = mesh.face_normals[face]
    mats = camera_matrices(rig.cameras, rig.up)
    f = 1.0 / math.tan(math.asin(1.0 / distance) * 1.05)
    out = np.full((rig.num_views, size, size, 3), 255, np.uint8)
    for v in range(rig.num_views):
        pos = rig.cameras[v] * distance
        pc = (pts - pos) @ mats[v]  # camera coordinates, camera looks along -Z
        depth = -pc[:, 2]
        x = (pc[:, 0] / depth * f * 0.5 + 0.5) * size
        y = (0.5 - pc[:, 1] / depth * f * 0.5) * size
        xi, yi = x.astype(int), y.astype(int)
        ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        shade = np.abs(normals @ mats[v][:, 2])
        pix = yi[ok] * size + xi[ok]
        order = np.lexsort((depth[ok], pix))
        first = np.unique(pix[order], return_index=True)[1]
        sel = order[first]
        img = out[v].reshape(-1, 3)
        val = (40 + 200 * shade[ok][sel]).astype(np.uint8)
        img[pix[sel]] = val[:, None]
    return out


def build_dataset(root, rig: ViewRig, per_class=(6, 2), size: int = 96, seed: int = 0,
                  classes=CLASSES) -> Path:
    """Write ``root/{train,test}/<class>/<class>_<n>_<view:03d>.png``; returns root."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for label in classes:
        for split, count in zip(("train", "test"), per_class):
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            for n in range(count):
                mesh = make_object(label, rng)
                imgs = render_views(mesh, rig, size, seed=int(rng.integers(1 << 30)))
                for v, im in enumerate(imgs):
                    Image.fromarray(im).save(d / f"{label}_{n:04d}_{v:03d}.png")
    return root


def build_mesh_library(root, per_class=(6, 2), seed: int = 0, classes=CLASSES) -> Path:
    """Write the same kind of objects as meshes: ``root/<class>/{train,test}/<class>_<n>.ply``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for label in classes:
        for split, count in zip(("train", "test"), per_class):
            d = root / label / split
            d.mkdir(parents=True, exist_ok=True)
            for n in range(count):
                make_object(label, rng).export(d / f"{label}_{n:04d}.ply")
    return root
