"""Pinhole intrinsics: field of view ↔ K, projection ↔ rays in Blender's camera
frame, and the focal length from a photo's EXIF tags."""

import math

import numpy as np
import pytest

from rotationnet.core.camera import Intrinsics, from_exif


def test_field_of_view_round_trips_and_the_axis_hits_the_principal_point():
    c = Intrinsics.from_fov(60.0, 640, 480)
    assert c.fov_deg == pytest.approx(60.0)
    assert c.K[0, 0] == pytest.approx(320 / math.tan(math.radians(30)))
    np.testing.assert_allclose(c.project([0.0, 0.0, -3.0]), [320, 240])
    # up and to the right in the camera frame (+x, +y) is up and right in the picture (u > cx, v < cy)
    u, v = c.project([0.5, 0.5, -2.0])
    assert u > 320 and v < 240
    # the picture's right edge is half the field of view off the axis
    assert c.project([math.tan(math.radians(30)), 0.0, -1.0])[0] == pytest.approx(640)
    assert c.to_dict()["fov_deg"] == pytest.approx(60.0) and c.to_dict()["source"] == "given"


def test_rays_invert_projection_with_skew_and_unequal_focal_lengths():
    c = Intrinsics(np.array([[800.0, 3.0, 310.0], [0.0, 760.0, 250.0], [0.0, 0.0, 1.0]]), 640, 480, "estimated")
    rng = np.random.default_rng(0)
    pts = np.stack([rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50), rng.uniform(-6, -1, 50)], axis=1)
    px = c.project(pts)
    d = c.rays(px)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(d, pts / np.linalg.norm(pts, axis=1, keepdims=True), atol=1e-9)


@pytest.mark.parametrize("bad, message", [
    (dict(K=np.eye(2), width=10, height=10), "3×3"),
    (dict(K=np.array([[-5.0, 0, 1], [0, 5, 1], [0, 0, 1]]), width=10, height=10), "positive"),
    (dict(K=np.array([[5.0, 0, 1], [1, 5, 1], [0, 0, 1]]), width=10, height=10), r"\[\[fx"),
    (dict(K=np.eye(3), width=0, height=10), "size"),
    (dict(K=np.eye(3), width=10, height=10, source="guessed"), "source"),
])
def test_bad_intrinsics_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        Intrinsics(**bad)
    with pytest.raises(ValueError, match="field of view"):
        Intrinsics.from_fov(0.0, 10, 10)


def test_focal_length_from_exif():
    # a 50 mm-equivalent lens: a full-frame camera's horizontal field of view, 39.6°, on a 3:2 picture
    c = from_exif({"FocalLengthIn35mmFilm": 50}, 6000, 4000)
    assert c.source == "exif" and c.fov_deg == pytest.approx(2 * math.degrees(math.atan(18 / 50)), abs=0.05)
    # focal length in mm and the sensor's pixel density (per inch), the picture resized to half
    c2 = from_exif({"FocalLength": (47, 10), "FocalPlaneXResolution": 5080, "FocalPlaneResolutionUnit": 2,
                    "ExifImageWidth": 4000}, 2000, 1500)
    assert c2.K[0, 0] == pytest.approx(4.7 * 5080 / 25.4 / 2)
    # tags that do not say
    assert from_exif({}, 640, 480) is None
    assert from_exif({"FocalLength": 4.7}, 640, 480) is None
    assert from_exif({"FocalLengthIn35mmFilm": 0}, 640, 480) is None


def test_fit_translation_recovers_where_a_box_of_points_stands():
    from rotationnet.core.camera import fit_translation
    from rotationnet.core.views import quaternion_to_matrix

    intr = Intrinsics.from_fov(50.0, 640, 480)
    rng = np.random.default_rng(4)
    pts = rng.uniform(-0.3, 0.3, (200, 3)) * [1.0, 2.0, 0.5]
    for _ in range(5):
        r = quaternion_to_matrix(rng.normal(size=4))
        t = np.array([rng.uniform(-1, 1), rng.uniform(-0.7, 0.7), rng.uniform(-9, -3)])
        q = pts @ r.T
        uv = intr.project(q + t)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        got = fit_translation(q, [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], intr)
        np.testing.assert_allclose(got, t, atol=1e-4 * np.linalg.norm(t))
    with pytest.raises(ValueError, match="positive size"):
        fit_translation(pts, [0, 0, 0, 10], intr)
