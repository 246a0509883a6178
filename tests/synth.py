"""A small multi-view dataset the tests build themselves, without Blender.

Four classes of the project's procedural props (render.procedural: seeded
random proportions, parts that make the pose observable), drawn from every
camera of a rig by a tiny numpy point-splat renderer (z-buffer, two-sided headlight Lambert,
white background).  Written in the plain pytorch-rotationnet layout
``ROOT/{train,test}/<class>/<object>_<view:03d>.png``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from render.procedural import make_prop
from rotationnet.core.views import ViewRig, camera_matrices

CLASSES = ("chair", "desk_lamp", "mug", "car")


def make_object(label: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """A procedural prop of the project's starter library, scaled into the unit sphere."""
    mesh = make_prop(label, rng)
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

