"""The asset index behind "find the matching asset and its pose".

For every asset of a library (mesh files in ``Class/[train|test/]*.ext`` or
``Class/*.ext``, and objects marked as assets in ``.blend`` files) the index
keeps, cached on disk per (mesh hash, model, render settings):

* its renders from every camera of the model's rig (at the model's input size),
* its own reference alignment: the rotation candidate its full set of views
  selects for its class — the original Caffe code's ``make_reference_poses`` —
  so a predicted view slot k means "seen like image ``candidates[j, k]`` of
  this asset",
* L2-normalised backbone features of every view (retrieval descriptors).

Retrieval among the assets of the predicted class scores how well each
reference image matches the asset's own render from the view its predicted
slot maps to.  Rendering uses :mod:`render.engine` (Blender as a module) in
this process, which must therefore not be Blender's own.
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


class AssetIndex:
    """Asset renders, alignments and descriptors for one model.

    Args:
        predictor: a :class:`rotationnet.nn.predict.Predictor`.
        cache_dir: where per-asset ``.npz`` files live.
    """

    def __init__(self, predictor, cache_dir):
        from render.engine import RenderSettings

        self.predictor = predictor
        self.cache = Path(cache_dir)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.settings = RenderSettings(rig=predictor.rig, size=predictor.size, supersample=2)
        self.model_key = predictor.meta.get("tensors_sha256", "")[:12]
        blob = json.dumps(self.settings.pixel_settings(), sort_keys=True).encode()
        self.render_key = hashlib.sha256(blob).hexdigest()[:12]
        self.entries: dict[str, dict] = {}
        self._renderer = None

    def _key(self, asset: Asset) -> str:
        h = sha256_file(asset.source)
        extra = f"::{asset.object}" if asset.object else ""
        return hashlib.sha256(f"{h}{extra}".encode()).hexdigest()[:20] + f"-{self.model_key}-{self.render_key}"

    def _renderer_(self):
        if self._renderer is None:
            from render.engine import Renderer

            self._renderer = Renderer(self.settings)
        return self._renderer

    def update(self, assets: list[Asset], progress=None) -> dict:
        """Load cached entries and build missing ones.  ``progress(done, total,
        message)`` is called after each asset.  Returns counts and failures."""
        from render.blend import blend_object_mesh
        from render.meshes import load_mesh, normalize

        pred = self.predictor
        cand = pred.rig.candidates
        rebuilt, failed = 0, []
        self.entries = {}
        for n, a in enumerate(assets):
            try:
                key = self._key(a)
                path = self.cache / f"{key}.npz"
                if path.exists():
                    with np.load(path, allow_pickle=False) as z:
                        e = {k: z[k] for k in z.files}
                else:
                    if a.kind == "mesh":
                        v, f = load_mesh(a.source, "Z")
                    else:
                        v, f = blend_object_mesh(a.source, a.object)
                    vn, norm = normalize(v, f)
                    images, _ = self._renderer_().render(vn, f)
                    ratios, feats = pred.ratios_and_features(list(images))
                    scores = _ordered_scores(ratios, cand)  # (K, C)
                    label_idx = pred.classes.index(a.label) if a.label in pred.classes else int(scores.max(0).argmax())
                    e = {"views": images, "features": feats.astype(np.float32),
                         "label_idx": np.int64(label_idx), "alignment": np.int64(scores[:, label_idx].argmax()),
                         "center": np.asarray(norm["center"]), "scale": np.float64(norm["scale"]),
                         "vertices": vn, "faces": f.astype(np.int32)}
                    with atomic_path(path) as tmp:
                        with open(tmp, "wb") as fh:
                            np.savez(fh, **e)
                    rebuilt += 1
                e["mesh_file"] = str(path)
                self.entries[a.id] = {"asset": a, **e}
            except Exception as ex:  # one bad asset never stops the others
                msg = str(ex) if a.source in str(ex) else f"{a.source}: {ex}"
                failed.append({"asset": a.id, "error": msg})
                log.warning("asset %s failed: %s", a.id, msg)
            if progress:
                progress(n + 1, len(assets), a.id)
        return {"assets": len(self.entries), "rebuilt": rebuilt, "failed": failed}

    def retrieve(self, class_idx: int, slots, ref_features: np.ndarray, top: int = 5) -> list[dict]:
        """Assets of class ``class_idx`` ranked by agreement of the reference
        images (their features and predicted slots) with the asset's own view
        at each slot (mapped through the asset's alignment)."""
        cand = self.predictor.rig.candidates
        out = []
        for aid, e in self.entries.items():
            if int(e["label_idx"]) != class_idx:
                continue
            idx = cand[int(e["alignment"]), np.asarray(slots)]
            sim = np.sum(e["features"][idx] * ref_features, axis=1)
            out.append({"id": aid, "score": float(sim.mean()), "asset_views": [int(i) for i in idx]})
        out.sort(key=lambda d: -d["score"])
        return out[:top]


def _ordered_scores(ratios: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    from rotationnet.nn.assign import ordered_assignment

    return ordered_assignment(ratios, list(range(ratios.shape[0])), candidates)
