"""The asset index renders every asset with the model's own rig — a custom
rig included (it used to fall back to ring12 for those)."""

import numpy as np
import pytest

from rotationnet.core.views import from_cameras

pytestmark = pytest.mark.usefixtures("gpu_ok")


def _custom_rig():
    az = np.radians([0.0, 70.0, 150.0, 220.0, 300.0])
    el = np.radians([5.0, 40.0, -10.0, 25.0, 60.0])
    cams = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1)
    return from_cameras(cams, upright=False)


def test_index_uses_a_custom_rig(tmp_path):
    from render.engine import Renderer, RenderSettings
    from render.meshes import load_mesh, normalize
    from render.procedural import write_library
    from rotationnet.app.assetindex import AssetIndex, list_assets
    from rotationnet.nn.model import RotationNet
    from rotationnet.nn.predict import Predictor

    rig = _custom_rig()
    assert rig.spec == "custom" and rig.num_views == 5
    model = RotationNet("timm:test_efficientnet", 2, rig, pretrained=False, input_size=48)
    pred = Predictor(model, {"classes": ["chair", "mug"]}, device="cpu")
    lib = write_library(tmp_path / "lib", instances=1, test=0, seed=2, categories=("chair", "mug"))
    index = AssetIndex(pred, tmp_path / "cache")
    assert index.settings.rig is rig
    res = index.update(list_assets(lib))
    assert res["failed"] == [] and res["assets"] == 2
    entry = index.entries["chair/" + next((lib / "chair").rglob("*.ply")).name]
    assert entry["views"].shape == (5, 48, 48, 3)
    v, f = load_mesh(entry["asset"].source, "Z")
    vn, _ = normalize(v, f)
    with Renderer(RenderSettings(rig=rig, size=48, supersample=2)) as r:
        direct, _ = r.render(vn, f)
    np.testing.assert_array_equal(entry["views"], direct)
    # a ring12 render of the same asset differs: the index really used the custom cameras
    with Renderer(RenderSettings(rig="ring12", size=48, supersample=2)) as r:
        ring, _ = r.render(vn, f)
    assert np.abs(ring[:5].astype(int) - direct.astype(int)).mean() > 1.0
    # the cache key holds the rig's cameras, so an index for another rig never reuses these files
    recorded = index.settings.pixel_settings()["rig"]
    np.testing.assert_allclose(recorded["cameras"], rig.cameras, atol=1e-8)
