"""The asset index renders every asset from its template sphere (cameras given
per call, no rig of its own), keys its cache by everything that decides an
entry, loads templates and meshes lazily, and is independent of any trained
model."""

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("gpu_ok")


def test_index_renders_its_own_view_sphere(tmp_path):
    from render.engine import Renderer, RenderSettings
    from render.meshes import load_mesh, normalize
    from render.procedural import write_library
    from rotationnet.app.assetindex import AssetIndex, IndexEntry, list_assets
    from rotationnet.app.pose import TemplateSpec
    from rotationnet.app.segment import render_crops
    from rotationnet.core.views import camera_up_vectors

    spec = TemplateSpec(azimuth_step=45.0, elevations=(-10.0, 35.0), render_size=64, crop=48)
    lib = write_library(tmp_path / "lib", instances=1, test=0, seed=2, categories=("chair", "mug"))
    index = AssetIndex(tmp_path / "cache", spec=spec)
    # the cache key holds the template sphere, so another sphere never reuses these files
    other = AssetIndex(tmp_path / "cache", descriptor=index.descriptor,
                       spec=TemplateSpec(azimuth_step=40.0, elevations=(-10.0, 35.0), render_size=64, crop=48))
    assert other.key != index.key
    assert AssetIndex(tmp_path / "cache", descriptor=index.descriptor, spec=spec, up_axis="Y").key != index.key
    res = index.update(list_assets(lib))
    assert res["failed"] == [] and res["assets"] == 2 and res["rebuilt"] == 2
    entry = index.entries["chair/" + next((lib / "chair").rglob("*.ply")).name]
    assert isinstance(entry, IndexEntry) and entry._templates is None and entry._mesh is None  # loaded lazily
    t = entry.templates
    assert t.features.feat.shape[:3] == (17, 3, 3) and t.features.sil.shape == (17, 32, 32)
    assert t.pooled.shape == (17, t.features.feat.shape[-1]) and entry.pooled.shape == t.pooled.shape
    np.testing.assert_allclose(t.directions, spec.directions(), atol=1e-6)
    # the normalisation undoes onto the source: (v - center) * scale is the stored mesh
    v, f = load_mesh(entry.asset.source, "Z")
    vn, norm = normalize(v, f)
    np.testing.assert_allclose(entry.center, norm["center"], atol=1e-9)
    assert entry.scale == pytest.approx(norm["scale"])
    np.testing.assert_allclose(entry.mesh.vertices, vn, atol=1e-6)
    # the templates are exactly what a renderer draws from those cameras, described
    with Renderer(RenderSettings(size=64, background="transparent")) as r:
        direct, _ = r.render(vn, f, cameras=spec.directions(), up=camera_up_vectors(spec.directions()))
    crops, masks = render_crops(direct, 48)
    d = index.descriptor(crops, masks)
    np.testing.assert_allclose(d.feat.astype(np.float32), t.features.feat.astype(np.float32), atol=2e-3)
    np.testing.assert_allclose(d.pooled(), t.pooled, atol=2e-3)
    # a second index over the same cache rebuilds nothing
    again = AssetIndex(tmp_path / "cache", descriptor=index.descriptor, spec=spec)
    assert again.update(list_assets(lib))["rebuilt"] == 0
    index.close()
