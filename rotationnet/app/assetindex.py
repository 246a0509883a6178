"""The asset index behind "find the matching asset and its pose".

For every asset of a library (mesh files in ``Class/[train|test/]*.ext`` or
``Class/*.ext``, and objects marked as assets in ``.blend`` files) the index
keeps, cached on disk per asset file and settings (rebuilt only when the
asset's bytes change):

* the asset's mesh in its own frame as placed in Blender (the library's one
  up-axis setting applied), centred and scaled into the unit sphere, with the
  centre and scale that undo that, and its own colours where it has them
  (vertex or face colours, a texture sampled at the vertices, a glTF base
  colour, a .blend material's colour; grey otherwise);
* its pose templates (:mod:`rotationnet.app.pose`): renders from a view
  sphere and their spatial descriptors from the frozen offline ImageNet
  backbone (:mod:`rotationnet.app.descriptor`).

Each asset is an :class:`IndexEntry`: its normalisation and pooled template
vectors are read when the index loads; its templates and mesh when first used.

Nothing in it depends on a trained model: the cache key is the backbone, the
template and render settings and the up axis.  Rendering uses
:mod:`render.engine` (Blender as a module) in this process, which must
therefore not be Blender's own.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rotationnet.core.errors import DataError
from rotationnet.core.fileio import atomic_path, sha256_file

log = logging.getLogger("rotationnet.app.assetindex")

__all__ = ["Asset", "list_assets", "Mesh", "IndexEntry", "AssetIndex"]


@dataclass(frozen=True)
class Asset:
    id: str
    label: str | None  # the library's class name, if any
    source: str  # mesh file or .blend file
    kind: str  # "mesh" or "blend"
    object: str | None = None  # object name inside a .blend


def list_assets(library) -> list[Asset]:
    """Every asset of a library folder (or a single ``.blend`` file).

    Raises:
        DataError: missing library or no assets.
    """
    from render.blend import blend_asset_names
    from render.meshes import MESH_EXTENSIONS, find_meshes

    lib = Path(library)
    if not lib.exists():
        raise DataError(f"{lib}: asset library not found")
    assets: list[Asset] = []
    blends = [lib] if lib.suffix == ".blend" else sorted(lib.rglob("*.blend"))
    for b in blends:
        try:
            names = blend_asset_names(b)
        except Exception as e:
            raise DataError(f"{b}: cannot read assets from the .blend file: {e}") from None
        label = b.parent.name if b.parent != lib else None
        assets += [Asset(f"{b.relative_to(lib.parent if lib.is_file() else lib)}::{n}", label, str(b), "blend", n)
                   for n in names]
    if lib.is_dir() and any(p.suffix.lower() in MESH_EXTENSIONS for p in lib.rglob("*") if p.is_file()):
        for j in find_meshes(lib, test_fraction=0.0):
            assets.append(Asset(f"{j.label}/{j.path.name}" if j.split == "train" else f"{j.label}/{j.split}/{j.path.name}",
                                j.label, str(j.path), "mesh"))
    if not assets:
        raise DataError(f"{lib}: no assets (mesh files in <Class>/ folders or objects marked as assets in .blend files)")
    return assets


INDEX_VERSION = 6  # 6: templates also described as small objects' (pose.small_side); 5: BatchNorm folded, crops resampled before the float conversion, pooled vectors stored; 4: crops at one brightness (segment.normalise_brightness); 3: the asset's own colours; 2: model-independent pose templates; 1: RotationNet rig renders


@dataclass(frozen=True)
class Mesh:
    """An asset's mesh in its normalised frame: ``vertices`` (n, 3) float32
    centred and in the unit sphere, ``faces`` (m, 3) int32, its own ``colors``
    (n, 3) float32 in 0..1 or None."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None


class IndexEntry:
    """One asset of the index.

    Attributes:
        asset: the library's :class:`Asset` (source file, kind, class).
        center, scale: the normalisation, ``normalised = (v − center) · scale``
            for ``v`` in the asset's own frame (the library's up axis applied).
        pooled: (T, D) float32 its templates' pooled vectors (always loaded:
            the shortlist reads every asset's); ``pooled_small`` those of the
            templates described as small objects'.
        file: the cache file the rest is read from on first use:
        templates: :class:`rotationnet.app.pose.Templates`;
        mesh: :class:`Mesh` (for render-and-compare and thumbnails).
    """

    def __init__(self, asset: Asset, file: Path):
        self.asset, self.file = asset, Path(file)
        with np.load(self.file, allow_pickle=False) as z:
            self.center = np.asarray(z["center"], dtype=np.float64)
            self.scale = float(z["scale"])
            self.pooled = np.asarray(z["t_pooled"], dtype=np.float32)
            self.pooled_small = np.asarray(z["t_small_pooled"], dtype=np.float32) if "t_small_pooled" in z else None
        self._templates = None
        self._mesh = None

    @property
    def templates(self):
        if self._templates is None:
            from .pose import Templates

            with np.load(self.file, allow_pickle=False) as z:
                self._templates = Templates.from_arrays(z)
        return self._templates

    @property
    def mesh(self) -> Mesh:
        if self._mesh is None:
            with np.load(self.file, allow_pickle=False) as z:
                self._mesh = Mesh(z["vertices"], z["faces"], z["colors"] if "colors" in z.files else None)
        return self._mesh

    @staticmethod
    def write(path: Path, mesh: Mesh, norm: dict, templates) -> None:
        """Write one asset's cache file atomically."""
        arrays = {"center": np.asarray(norm["center"]), "scale": np.float64(norm["scale"]),
                  "vertices": mesh.vertices.astype(np.float32), "faces": mesh.faces.astype(np.int32),
                  **templates.arrays()}
        if mesh.colors is not None:
            arrays["colors"] = mesh.colors.astype(np.float32)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)


class AssetIndex:
    """Asset meshes and pose templates, cached in ``cache_dir`` (one ``.npz`` per asset).

    Args:
        cache_dir: folder of the per-asset files.
        descriptor: a :class:`rotationnet.app.descriptor.Descriptor` (built on first use when None).
        spec: where the templates are seen from.
        up_axis: the library's up axis ("Z", or "Y" for +Y-up sources), as the renderer's ``--up-axis``.
    """

    def __init__(self, cache_dir, descriptor=None, spec=None, up_axis: str = "Z"):
        from .pose import TemplateSpec

        self.cache = Path(cache_dir)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.spec = spec or TemplateSpec()
        self.up_axis = up_axis.upper()
        if self.up_axis not in ("Z", "Y"):
            raise ValueError(f"up_axis must be Z or Y, got {up_axis!r}")
        self._descriptor = descriptor
        self.entries: dict[str, IndexEntry] = {}
        self._renderers: dict[str, object] = {}

    @property
    def descriptor(self):
        if self._descriptor is None:
            from .descriptor import Descriptor

            self._descriptor = Descriptor()
        return self._descriptor

    def _settings(self, kind: str):
        from render.engine import RenderSettings

        if kind == "thumbs":
            return RenderSettings(size=160, supersample=2, background="white")
        return RenderSettings(size=self.spec.render_size, background="transparent")

    @property
    def key(self) -> str:
        """Hash of everything besides the asset that decides an entry."""
        s = self._settings("templates").pixel_settings()
        s.pop("rig")  # cameras are given with every call (the spec's)
        blob = json.dumps({"version": INDEX_VERSION, "render": s, "templates": self.spec.key(),
                           "descriptor": self.descriptor.key(), "up_axis": self.up_axis}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def _asset_key(self, asset: Asset) -> str:
        h = sha256_file(asset.source)
        extra = f"::{asset.object}" if asset.object else ""
        return hashlib.sha256(f"{h}{extra}".encode()).hexdigest()[:20] + f"-{self.key}"

    def renderer(self, kind: str = "templates"):
        """The Blender renderers this index uses, started once: ``templates``
        (transparent background, the templates' size; also render-and-compare)
        and ``thumbs`` (on white, for thumbnails).  Cameras come with each call."""
        if kind not in self._renderers:
            from render.engine import Renderer

            self._renderers[kind] = Renderer(self._settings(kind))
        return self._renderers[kind]

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    def update(self, assets: list[Asset], progress=None) -> dict:
        """Load cached entries and build missing ones.  ``progress(done, total,
        message)`` is called after each asset.  Returns counts and failures;
        one bad asset never stops the others."""
        from render.blend import blend_object_mesh
        from render.meshes import load_mesh_colored, normalize

        from .pose import build_templates

        rebuilt, failed = 0, []
        self.entries = {}
        for n, a in enumerate(assets):
            try:
                path = self.cache / f"{self._asset_key(a)}.npz"
                if not path.exists():
                    if a.kind == "mesh":
                        v, f, colors = load_mesh_colored(a.source, self.up_axis)
                    else:
                        v, f, colors = blend_object_mesh(a.source, a.object, with_colors=True)
                    vn, norm = normalize(v, f)
                    mesh = Mesh(vn, f, colors)
                    t = build_templates(lambda d, u, m=mesh: self.render_mesh(m, d, u), self.descriptor, self.spec)
                    IndexEntry.write(path, mesh, norm, t)
                    rebuilt += 1
                self.entries[a.id] = IndexEntry(a, path)
            except Exception as ex:  # one bad asset never stops the others
                msg = str(ex) if a.source in str(ex) else f"{a.source}: {ex}"
                failed.append({"asset": a.id, "error": msg})
                log.warning("asset %s failed: %s", a.id, msg)
            if progress:
                progress(n + 1, len(assets), a.id)
        return {"assets": len(self.entries), "rebuilt": rebuilt, "failed": failed}

    def render_mesh(self, mesh: Mesh, directions: np.ndarray, ups: np.ndarray, kind: str = "templates"
                    ) -> np.ndarray:
        """A mesh seen from any cameras: (N, S, S, 4) RGBA (``templates``) or
        (N, S, S, 3) on white (``thumbs``)."""
        return self.renderer(kind).render(mesh.vertices, mesh.faces, mesh.colors, cameras=directions, up=ups)[0]

    def render(self, asset_id: str, directions: np.ndarray, ups: np.ndarray, kind: str = "templates") -> np.ndarray:
        """An indexed asset seen from any cameras (see :meth:`render_mesh`);
        a :data:`rotationnet.app.pose.RenderFn`."""
        return self.render_mesh(self.entries[asset_id].mesh, directions, ups, kind)
