"""Mesh libraries: finding meshes, loading them safely, normalising them.

No Blender here (trimesh + numpy), so the bulk driver can list and check work
without starting a renderer.

Library layouts (:func:`find_meshes`):

* ModelNet: ``ROOT/<Class>/{train,test}/*.<ext>``;
* flat: ``ROOT/<Class>/*.<ext>``, split into train/test per class by a seeded
  shuffle (``test_fraction``);
* a list file: one mesh per line, ``path[,class[,split]]`` (paths relative to
  the list file; class defaults to the parent folder's name, split to the
  seeded split).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rotationnet.core.errors import DataError
from rotationnet.core.manifest import natural_key
from rotationnet.core.offmesh import parse_off
from rotationnet.core.views import up_axis_rotation

__all__ = ["MESH_EXTENSIONS", "MeshError", "MeshJob", "find_meshes", "load_mesh", "load_mesh_colored", "normalize", "file_sha256",
           "rotated_copies"]

MESH_EXTENSIONS = (".off", ".obj", ".stl", ".ply", ".glb", ".gltf")
MAX_FACES = 5_000_000


class MeshError(DataError):
    """A mesh that cannot be rendered; the message names the file and the reason."""


@dataclass(frozen=True)
class MeshJob:
    path: Path
    label: str
    split: str
    name: str  # object name, unique within (split, label)
    rotation: tuple | None = None  # 3×3 rows applied after normalisation (rotated copies)

    @property
    def object_id(self) -> str:
        return f"{self.split}/{self.label}/{self.name}"


def _is_mesh(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in MESH_EXTENSIONS


def _seeded_split(paths: list[Path], test_fraction: float, seed: int, label: str) -> dict[Path, str]:
    order = sorted(paths, key=lambda p: natural_key(p.name))
    rng = random.Random(f"{seed}:{label}")
    shuffled = order[:]
    rng.shuffle(shuffled)
    n_test = int(round(test_fraction * len(order))) if len(order) > 1 else 0
    test = set(shuffled[:n_test])
    return {p: ("test" if p in test else "train") for p in order}


def find_meshes(source, test_fraction: float = 0.2, seed: int = 0) -> list[MeshJob]:
    """List the meshes of a library (see the module docstring), sorted.

    Raises:
        DataError: missing source, a list-file line naming a missing file, or no
            meshes at all.
    """
    src = Path(source)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    jobs: list[MeshJob] = []
    if src.is_file():
        entries = []
        for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [x.strip() for x in line.split(",")]
            p = (src.parent / parts[0]).resolve() if not Path(parts[0]).is_absolute() else Path(parts[0])
            if not p.is_file():
                raise DataError(f"{src}:{n}: mesh file {parts[0]} not found")
            label = parts[1] if len(parts) > 1 and parts[1] else p.parent.name
            split = parts[2] if len(parts) > 2 and parts[2] else None
            entries.append((p, label, split))
        by_label: dict[str, list[Path]] = {}
        for p, label, split in entries:
            if split is None:
                by_label.setdefault(label, []).append(p)
        auto = {}
        for label, paths in by_label.items():
            auto.update({(p, label): s for p, s in _seeded_split(paths, test_fraction, seed, label).items()})
        for p, label, split in entries:
            jobs.append(MeshJob(p, label, split or auto[(p, label)], p.stem))
    else:
        for cdir in sorted((p for p in src.iterdir() if p.is_dir()), key=lambda p: p.name):
            split_dirs = [cdir / s for s in ("train", "test") if (cdir / s).is_dir()]
            if split_dirs:
                for sdir in split_dirs:
                    for p in sorted(filter(_is_mesh, sdir.iterdir()), key=lambda p: natural_key(p.name)):
                        jobs.append(MeshJob(p, cdir.name, sdir.name, p.stem))
            else:
                paths = [p for p in cdir.iterdir() if _is_mesh(p)]
                for p, split in _seeded_split(paths, test_fraction, seed, cdir.name).items():
                    jobs.append(MeshJob(p, cdir.name, split, p.stem))
    if not jobs:
        raise DataError(f"{src}: no meshes ({', '.join(MESH_EXTENSIONS)}) in <Class>/[train|test/] folders")
    # the same name in one class with two formats (chair_1.obj, chair_1.ply): both
    # stay, named by stem and format (chair_1_obj, chair_1_ply)
    stems: dict[str, int] = {}
    for j in jobs:
        stems[j.object_id] = stems.get(j.object_id, 0) + 1
    jobs = [MeshJob(j.path, j.label, j.split, f"{j.name}_{j.path.suffix.lower().lstrip('.')}", j.rotation)
            if stems[j.object_id] > 1 else j for j in jobs]
    seen = {}
    for j in jobs:
        if j.object_id in seen:
            raise DataError(f"{j.path}: object name clashes with {seen[j.object_id]} ({j.object_id})")
        seen[j.object_id] = j.path
    return sorted(jobs, key=lambda j: (j.split != "train", j.split, j.label, natural_key(j.name)))


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def load_mesh(path, up_axis: str = "Z", _with_colors: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load any supported mesh as one triangle mesh in +Z-up coordinates.

    Scenes (OBJ groups, glTF node trees) are flattened with their transforms;
    OFF is read by :mod:`rotationnet.core.offmesh`, the reader the Blender add-on uses.
    ``up_axis="Y"`` turns a +Y-up source into +Z-up (+90° about X).

    Returns:
        vertices (n, 3) float64, faces (m, 3) int64.
    Raises:
        MeshError: unsupported extension, unreadable or truncated file, no
            vertices or faces, NaN/inf coordinates, only degenerate faces, or
            too many faces.
    """
    import trimesh

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in MESH_EXTENSIONS:
        raise MeshError(f"{path}: unsupported mesh format '{ext or '(none)'}' (use {', '.join(MESH_EXTENSIONS)})")
    if up_axis.upper() not in ("Z", "Y"):
        raise ValueError(f"up_axis must be 'Z' or 'Y', got {up_axis!r}")
    if not path.is_file():
        raise MeshError(f"{path}: mesh file not found")
    if path.stat().st_size == 0:
        raise MeshError(f"{path}: empty file")
    try:
        if ext == ".off":  # the project's one OFF reader, the one the Blender add-on bundles
            loaded = trimesh.Trimesh(*parse_off(path.read_bytes()), process=False)
        else:
            loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for broken files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MeshError(f"{path}: cannot read mesh: {msg}") from None
    if isinstance(loaded, list) or not hasattr(loaded, "faces"):
        raise MeshError(f"{path}: file holds no triangle mesh")
    v = np.asarray(loaded.vertices, dtype=np.float64)
    f = np.asarray(loaded.faces, dtype=np.int64)
    if f.size == 0:
        raise MeshError(f"{path}: mesh has no faces (not a valid {ext} file, or only points/lines)")
    if v.size == 0:
        raise MeshError(f"{path}: mesh has no vertices (not a valid {ext} file?)")
    if v.ndim != 2 or v.shape[1] != 3:
        raise MeshError(f"{path}: malformed vertex data (parsed shape {v.shape}, expected (n, 3))")
    if f.size and (f.ndim != 2 or f.shape[1] != 3):
        raise MeshError(f"{path}: malformed face data (parsed shape {f.shape}, expected (m, 3))")
    if f.shape[0] > MAX_FACES:
        raise MeshError(f"{path}: {f.shape[0]} faces, above the limit of {MAX_FACES}")
    if f.min() < 0 or f.max() >= len(v):
        raise MeshError(f"{path}: faces index vertices that do not exist")
    used = np.zeros(len(v), dtype=bool)
    used[f.ravel()] = True
    if not np.all(np.isfinite(v[used])):
        raise MeshError(f"{path}: vertices with NaN or infinite coordinates")
    # degeneracy is judged in the mesh's own scale, so huge or tiny coordinates
    # neither overflow nor underflow (halves keep lo/hi arithmetic finite)
    with np.errstate(over="ignore", invalid="ignore"):
        lo, hi = v[used].min(axis=0), v[used].max(axis=0)
        center = lo / 2 + hi / 2
        half = float(np.max(hi / 2 - lo / 2))
        if half == 0:
            raise MeshError(f"{path}: all faces are degenerate (zero area)")
        u = (v - center) / half
    if not np.all(np.isfinite(u[used])):
        raise MeshError(f"{path}: coordinate range too large to normalise")
    tri = u[f]
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not np.any(area2 > 1e-18):
        raise MeshError(f"{path}: all faces are degenerate (zero area)")
    if up_axis.upper() == "Y":  # a signed permutation: applied exactly, whatever the coordinates' size
        r = up_axis_rotation("Y")
        axes = np.abs(r).argmax(axis=1)
        v = v[:, axes] * r[np.arange(3), axes]
    if _with_colors:
        return v, f, _vertex_colors(loaded, len(v))
    return v, f


def load_mesh_colored(path, up_axis: str = "Z") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`load_mesh` plus the mesh's own colours where it has them: (n, 3)
    float32 in 0..1 per vertex — vertex colours, face colours (averaged onto
    vertices), a texture sampled at each vertex's UV or a material's base
    colour (glTF) — else None."""
    return load_mesh(path, up_axis, _with_colors=True)


def _vertex_colors(loaded, n: int) -> np.ndarray | None:
    vis = getattr(loaded, "visual", None)
    kind = getattr(vis, "kind", None)
    try:
        if kind == "texture":
            vis = vis.to_color()
            kind = vis.kind
        if kind == "vertex":
            c = np.asarray(vis.vertex_colors)
            c = np.broadcast_to(c[:3], (n, 3)) if c.ndim == 1 else c[:, :3]  # one colour: a material's
        elif kind == "face":
            fc = np.asarray(vis.face_colors, dtype=np.float64)[:, :3]
            c = np.zeros((n, 3))
            cnt = np.zeros(n)
            faces = np.asarray(loaded.faces)
            for k in range(3):
                np.add.at(c, faces[:, k], fc)
                np.add.at(cnt, faces[:, k], 1)
            c = c / np.maximum(cnt, 1)[:, None]
        else:
            return None
    except Exception:  # a broken texture or material: draw it grey rather than fail the mesh
        return None
    c = np.asarray(c, dtype=np.float32).reshape(-1, 3)
    if len(c) != n or not np.all(np.isfinite(c)):
        return None
    c = c / 255.0 if c.max() > 1.0 else c
    if np.ptp(c) < 1e-3 and abs(float(c.mean()) - 0.4) < 0.01:  # trimesh's default grey: no colours of its own
        return None
    return c


def normalize(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, dict]:
    """Centre the bounding box of the used vertices at the origin and scale into
    the unit sphere.  Returns (float32 vertices, {"center", "scale"}) with
    ``normalized = (v - center) * scale``."""
    mask = np.zeros(len(vertices), dtype=bool)
    mask[faces.ravel()] = True
    used = vertices[mask]
    lo, hi = used.min(axis=0), used.max(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        center = lo / 2 + hi / 2  # halves: no overflow for huge coordinates
        half = float(np.max(hi / 2 - lo / 2))
        radius = half * float(np.max(np.linalg.norm((used - center) / half, axis=1))) if half > 0 else 0.0
    if not np.isfinite(radius) or radius <= 0:
        raise MeshError("mesh has zero size or a coordinate range too large to normalise")
    scale = 1.0 / radius
    out = ((vertices - center) * scale).astype(np.float32)
    return out, {"center": [float(c) for c in center], "scale": scale}


def load_normalized(path, up_axis: str = "Z", rotation=None, colored: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """Load a mesh file, normalise it into the unit sphere (:func:`normalize`)
    and optionally rotate it (3×3).  Returns (float32 vertices, faces, the
    mesh's own colours or None (only with ``colored``), the normalisation record
    {"center", "scale"[, "rotation"]}).  Raises MeshError naming the file."""
    if colored:
        v, f, colors = load_mesh_colored(path, up_axis)
    else:
        (v, f), colors = load_mesh(path, up_axis), None
    try:
        vn, norm = normalize(v, f)
    except MeshError as e:
        raise MeshError(f"{path}: {e}") from None
    if rotation is not None:
        r = np.asarray(rotation, dtype=np.float32)
        vn = vn @ r.T
        norm["rotation"] = r.astype(float).round(9).tolist()
    return vn, f, colors, norm


def rotated_copies(jobs: list[MeshJob], copies: int, upright: bool, seed: int = 0) -> list[MeshJob]:
    """For every training mesh, ``copies`` extra jobs that render the object
    turned by a random rotation (about +Z for upright rigs, any rotation
    otherwise), named ``<name>__r<k>``.  Training on them teaches the network
    views that fall between the rig's cameras.  Deterministic per (seed, mesh
    path, k)."""
    from scipy.spatial.transform import Rotation

    out = []
    for j in jobs:
        if j.split != "train":
            continue
        for k in range(1, copies + 1):
            rs = int(hashlib.sha256(f"{seed}:{j.path.name}:{j.label}:{k}".encode()).hexdigest()[:8], 16)
            if upright:
                a = np.random.default_rng(rs).uniform(0, 2 * np.pi)
                m = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            else:
                m = Rotation.random(random_state=rs).as_matrix()
            out.append(MeshJob(j.path, j.label, j.split, f"{j.name}__r{k}",
                               tuple(tuple(float(x) for x in row) for row in m)))
    return out
