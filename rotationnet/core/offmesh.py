"""OFF meshes (Object File Format, ModelNet's), read with numpy only.

The one definition of how the project reads an ``.off`` file: the renderer's
mesh loader (:func:`render.meshes.load_mesh`) and the Blender add-on (which
has no OFF importer and bundles only this package) both use it.

What it accepts, as trimesh's OFF reader did before it: ``#`` comments
anywhere; an ``OFF`` or ``COFF`` keyword, also glued to the counts line
(ModelNet's ``OFF1234 5678 0``); extra numbers after a vertex's x y z or after
a face's indices (colours) are ignored.  Polygons are split into triangles:
the triangles first, then each quad as (0, 1, 2), (2, 3, 0) — the first halves
of all quads, then the second halves — then larger polygons as fans from their
first corner.  Faces of fewer than three corners are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["parse_off", "read_off"]

_HEADER = re.compile("(COFF|OFF)")


def _strip_comments(text: str) -> str:
    """Drop everything from each ``#`` to the end of its line."""
    if "#" not in text:
        return text
    parts = (text + "\n").split("#")
    lead = "" if text.startswith("#") else parts[0]
    rest = [p.split("\n", 1) for p in parts]
    return (lead + "\n" + "\n".join(r[1] for r in rest if len(r) > 1 and r[1])).strip()


def _triangulate(polygons: list[list[str]]) -> np.ndarray:
    tri = [p for p in polygons if len(p) == 3]
    quad = [p for p in polygons if len(p) == 4]
    poly = [p for p in polygons if len(p) > 4]
    parts = [np.array(tri, dtype=np.int64).reshape(-1, 3)]
    if quad:
        q = np.array(quad, dtype=np.int64)
        parts += [q[:, [0, 1, 2]], q[:, [2, 3, 0]]]
    for p in poly:
        p = np.array(p, dtype=np.int64)
        parts.append(np.stack([np.full(len(p) - 2, p[0]), p[1:-1], p[2:]], axis=1))
    return np.concatenate(parts).astype(np.int64)


def parse_off(data: bytes | str) -> tuple[np.ndarray, np.ndarray]:
    """The vertices ((n, 3) float64) and triangles ((m, 3) int64) of an OFF
    file's contents.  Raises ValueError saying what is wrong."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            data = data.decode("utf-8", errors="ignore")
    text = _strip_comments(data).strip()
    parts = _HEADER.split(text, maxsplit=1)
    if len(parts) != 3:
        raise ValueError("not an OFF file: no OFF header")
    lines = [ln.strip() for ln in parts[2].splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise ValueError("OFF file is missing the vertex/face count line")
    try:
        counts = [int(x) for x in lines[0].split()]
    except ValueError:
        raise ValueError(f"OFF counts line is not integers: {lines[0][:60]!r}") from None
    if len(counts) < 2:
        raise ValueError("OFF file has a malformed vertex/face count line")
    nv, nf = counts[:2]
    if nv < 0 or nf < 0:
        raise ValueError(f"OFF file has negative counts ({nv} vertices, {nf} faces)")
    rows = [ln.split()[:3] for ln in lines[1:nv + 1]]
    if len(rows) != nv or any(len(r) != 3 for r in rows):
        raise ValueError(f"OFF file holds fewer than the {nv} vertices (x y z) it announces")
    try:
        vertices = np.array(rows, dtype=np.float64).reshape(nv, 3)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"OFF vertex that is not a number: {e}") from None
    polygons = []
    for ln in lines[nv + 1:nv + nf + 1]:
        tokens = ln.split()
        try:
            n = int(tokens[0])
        except ValueError:
            raise ValueError(f"OFF face line does not start with its corner count: {ln[:60]!r}") from None
        polygons.append(tokens[1:n + 1])
    try:
        faces = _triangulate(polygons)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"OFF face index that is not an integer: {e}") from None
    if len(faces) and (faces.min() < 0 or faces.max() >= nv):
        raise ValueError("OFF file has a face index outside the range of its vertices")
    return vertices, faces


def read_off(path) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parse_off` of a file.  Raises DataError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return parse_off(data)
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None
