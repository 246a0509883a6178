"""The asset index renders every asset with its template rig, passed to the
renderer as a ViewRig (never turned back into a spec string), keyed by that
rig's cameras, and independent of any trained model."""

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("gpu_ok")


def test_index_renders_its_own_view_sphere(tmp_path):
    from render.engine import Renderer, RenderSettings
    from render.meshes import load_mesh, normalize
    from render.procedural import write_library
    from rotationnet.app.assetindex import AssetIndex, list_assets
    from rotationnet.app.pose import TemplateSpec, crops_of

    spec = TemplateSpec(azimuth_step=45.0, elevations=(-10.0, 35.0), render_size=64, crop=48)
    lib = write_library(tmp_path / "lib", instances=1, test=0, seed=2, categories=("chair", "mug"))
    index = AssetIndex(tmp_path / "cache", spec=spec)
    rig = index.settings.rig
    assert rig.spec == "custom" and rig.num_views == 8 * 2 + 1
    np.testing.assert_allclose(rig.cameras, spec.directions(), atol=1e-12)
    # the cache key holds the rig's cameras, so another sphere never reuses these files
    np.testing.assert_allclose(index.settings.pixel_settings()["rig"]["cameras"], rig.cameras, atol=1e-8)
    other = AssetIndex(tmp_path / "cache", descriptor=index.descriptor,
                       spec=TemplateSpec(azimuth_step=40.0, elevations=(-10.0, 35.0), render_size=64, crop=48))
    assert other.key != index.key
    res = index.update(list_assets(lib))
    assert res["failed"] == [] and res["assets"] == 2 and res["rebuilt"] == 2
    entry = index.entries["chair/" + next((lib / "chair").rglob("*.ply")).name]
    t = entry["templates"]
    assert t.feat.shape[:3] == (17, 3, 3) and t.sil.shape == (17, 32, 32)
    np.testing.assert_allclose(t.directions, spec.directions(), atol=1e-6)
    # the templates are exactly what that rig renders
    v, f = load_mesh(entry["asset"].source, "Z")
    vn, _ = normalize(v, f)
    with Renderer(RenderSettings(rig=rig, size=64, background="transparent")) as r:
        direct, _ = r.render(vn, f)
    crops, masks = crops_of(direct, 48)
    d = index.descriptor(crops, masks)
    np.testing.assert_allclose(d["feat"].astype(np.float32), t.feat.astype(np.float32), atol=2e-3)
    # a second index over the same cache rebuilds nothing
    again = AssetIndex(tmp_path / "cache", descriptor=index.descriptor, spec=spec)
    assert again.update(list_assets(lib))["rebuilt"] == 0
    index.close()
