"""Synthetic whole pictures (render/scenes.py): the ground truth agrees with
itself and with the pixels, and a seed gives the same picture."""

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("gpu_ok")


@pytest.fixture(scope="module")
def props():
    from render.procedural import make_prop
    from render.scenes import SceneAsset

    rng = np.random.default_rng(3)
    out = []
    for cat, scale in (("chair", 0.9), ("mug", 0.12), ("table", 1.4)):
        m = make_prop(cat, rng)
        v = np.asarray(m.vertices, np.float64) * scale  # their own sizes, in their own units
        out.append(SceneAsset(f"{cat}/{cat}_0.ply", cat, v, np.asarray(m.faces)))
    return out


@pytest.mark.parametrize("look", ["plain", "randomised"])
def test_scene_truth_matches_its_geometry_and_pixels(props, look):
    from render.scenes import generate_scene
    from rotationnet.core.camera import Intrinsics
    from rotationnet.core.views import quaternion_to_matrix

    img, truth = generate_scene(props, np.random.default_rng(11), 320, 240, look=look)
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    cam = truth["camera"]
    intr = Intrinsics(np.array(cam["K"]), cam["width"], cam["height"])
    assert 30.0 <= cam["fov_deg"] <= 90.0
    n, off = np.array(truth["floor"]["normal"]), truth["floor"]["offset"]
    union = np.zeros((240, 320), bool)
    for a, o in zip(props, truth["objects"]):
        assert o["asset"] == a.id and 0.0 <= o["visible"] <= 1.0
        # the reply's pose, applied to the asset's own vertices, gives the box and stands on the floor
        r = quaternion_to_matrix(o["rotation_wxyz"])
        p = a.vertices @ r.T + np.array(o["location"])
        assert np.all(p[:, 2] < 0)  # in front of the camera
        uv = intr.project(p)
        x0, y0 = np.clip(uv.min(axis=0), 0, [320, 240])
        x1, y1 = np.clip(uv.max(axis=0), 0, [320, 240])
        np.testing.assert_allclose(o["box"], [x0, y0, x1 - x0, y1 - y0], atol=1e-3)
        heights = p @ n + off
        assert abs(heights.min()) < 1e-6 * np.ptp(a.vertices) + 1e-9 and heights.min() > -1e-6
        x, y, w, h = (int(round(c)) for c in o["box"])
        union[max(y - 1, 0):y + h + 1, max(x - 1, 0):x + w + 1] = True
    assert sum(o["visible"] > 0.2 for o in truth["objects"]) >= 2
    if look == "plain":  # on white: every drawn pixel lies in some object's box
        drawn = np.any(img < 250, axis=2)
        assert drawn.sum() > 200 and not np.any(drawn & ~union)
    # a seed gives the same picture
    img2, truth2 = generate_scene(props, np.random.default_rng(11), 320, 240, look=look)
    assert np.array_equal(img, img2) and truth == truth2


def test_an_object_is_located_from_its_box_rotation_and_size(props):
    """fit_translation puts each asset of a synthetic picture back where the truth
    says, from its whole-outline box, its rotation and its own size (objects whose
    box the frame does not cut)."""
    from render.scenes import generate_scene
    from rotationnet.core.camera import Intrinsics, fit_translation
    from rotationnet.core.views import quaternion_to_matrix

    checked = 0
    for seed in (11, 12, 13):
        _, truth = generate_scene(props, np.random.default_rng(seed), 320, 240)
        cam = truth["camera"]
        intr = Intrinsics(np.array(cam["K"]), cam["width"], cam["height"])
        for a, o in zip(props, truth["objects"]):
            x, y, w, h = o["box"]
            if x <= 0 or y <= 0 or x + w >= 320 or y + h >= 240 or w < 4:
                continue
            r = quaternion_to_matrix(o["rotation_wxyz"])
            t = fit_translation(a.vertices @ r.T, o["box"], intr)
            true = np.array(o["location"])
            assert np.linalg.norm(t - true) <= 0.01 * np.linalg.norm(true), (t, true)
            checked += 1
    assert checked >= 5
