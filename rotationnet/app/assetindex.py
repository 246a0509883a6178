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
  backbone.

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

__all__ = ["Asset", "list_assets", "AssetIndex"]


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


INDEX_VERSION = 4  # 4: crops at one brightness (segment.normalise_brightness); 3: the asset's own colours; 2: model-independent pose templates; 1: RotationNet rig renders


class AssetIndex:
    """Asset meshes and pose templates, cached in ``cache_dir`` (one ``.npz`` per asset).

    Args:
        cache_dir: folder of the per-asset files.
        descriptor: a :class:`rotationnet.app.pose.Descriptor` (built on first use when None).
        spec: where the templates are seen from.
        up_axis: the library's up axis ("Z", or "Y" for +Y-up sources), as the renderer's ``--up-axis``.
    """

    def __init__(self, cache_dir, descriptor=None, spec=None, up_axis: str = "Z"):
        from render.engine import RenderSettings
        from rotationnet.core.views import from_cameras

        from .pose import TemplateSpec

        self.cache = Path(cache_dir)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.spec = spec or TemplateSpec()
        self.up_axis = up_axis.upper()
        if self.up_axis not in ("Z", "Y"):
            raise ValueError(f"up_axis must be Z or Y, got {up_axis!r}")
        self._descriptor = descriptor
        rig = from_cameras(self.spec.directions(), upright=False, spec="custom")
        self.settings = RenderSettings(rig=rig, size=self.spec.render_size, supersample=self.spec.supersample,
                                       background="transparent")
        self.entries: dict[str, dict] = {}
        self._renderers: dict[str, object] = {}

    @property
    def descriptor(self):
        if self._descriptor is None:
            from .pose import Descriptor

            self._descriptor = Descriptor()
        return self._descriptor

    @property
    def key(self) -> str:
        """Hash of everything besides the asset that decides an entry."""
        blob = json.dumps({"version": INDEX_VERSION, "render": self.settings.pixel_settings(),
                           "templates": self.spec.key(), "descriptor": self.descriptor.key(),
                           "up_axis": self.up_axis}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def _asset_key(self, asset: Asset) -> str:
        h = sha256_file(asset.source)
        extra = f"::{asset.object}" if asset.object else ""
        return hashlib.sha256(f"{h}{extra}".encode()).hexdigest()[:20] + f"-{self.key}"

    def renderer(self, kind: str = "templates"):
        """The Blender renderers this index uses, started once: ``templates``
        (the view sphere), ``views`` (a few free cameras, for refinement) and
        ``thumbs`` (free cameras on white, for thumbnails)."""
        if kind not in self._renderers:
            from render.engine import Renderer, RenderSettings
            from rotationnet.core.views import from_cameras

            if kind == "templates":
                settings = self.settings
            else:
                few = from_cameras(self.spec.directions()[:16], upright=False)
                settings = (RenderSettings(rig=few, size=self.spec.render_size, supersample=self.spec.supersample,
                                           background="transparent") if kind == "views" else
                            RenderSettings(rig=few, size=160, supersample=2, background="white"))
            self._renderers[kind] = Renderer(settings)
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

        from .pose import Templates, build_templates

        rebuilt, failed = 0, []
        self.entries = {}
        for n, a in enumerate(assets):
            try:
                path = self.cache / f"{self._asset_key(a)}.npz"
                if path.exists():
                    with np.load(path, allow_pickle=False) as z:
                        e = {k: z[k] for k in z.files}
                else:
                    colors = None
                    if a.kind == "mesh":
                        v, f, colors = load_mesh_colored(a.source, self.up_axis)
                    else:
                        v, f, colors = blend_object_mesh(a.source, a.object, with_colors=True)
                    vn, norm = normalize(v, f)
                    t = build_templates(self.renderer(), vn, f, self.descriptor, self.spec, colors)
                    e = {"center": np.asarray(norm["center"]), "scale": np.float64(norm["scale"]),
                         "vertices": vn.astype(np.float32), "faces": f.astype(np.int32), **t.arrays()}
                    if colors is not None:
                        e["colors"] = colors.astype(np.float32)
                    with atomic_path(path) as tmp:
                        with open(tmp, "wb") as fh:
                            np.savez(fh, **e)
                    rebuilt += 1
                e["mesh_file"] = str(path)
                e["templates"] = Templates.from_arrays(e)
                self.entries[a.id] = {"asset": a, **e}
            except Exception as ex:  # one bad asset never stops the others
                msg = str(ex) if a.source in str(ex) else f"{a.source}: {ex}"
                failed.append({"asset": a.id, "error": msg})
                log.warning("asset %s failed: %s", a.id, msg)
            if progress:
                progress(n + 1, len(assets), a.id)
        return {"assets": len(self.entries), "rebuilt": rebuilt, "failed": failed}

    def render_views(self, asset_id: str, directions: np.ndarray, ups: np.ndarray, kind: str = "views") -> np.ndarray:
        """The asset seen from free cameras (N ≤ 16 at a time): (N, S, S, 4)
        RGBA (``views``) or (N, S, S, 3) on white (``thumbs``)."""
        e = self.entries[asset_id]
        return self.renderer(kind).render(e["vertices"], e["faces"], e.get("colors"), cameras=directions, up=ups)[0]
