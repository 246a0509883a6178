"""Camera rigs: geometry, derived rotation candidates and their group structure."""

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from rotationnet.core import views


def _check_group(rig):
    R = rig.candidate_rotations
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    # R_j maps camera candidates[j, k] onto camera k
    for j in range(rig.num_candidates):
        np.testing.assert_allclose(rig.cameras[rig.candidates[j]] @ R[j].T, rig.cameras, atol=1e-9)
    # every row is a permutation, rows are distinct, identity first
    assert all(sorted(row) == list(range(rig.num_views)) for row in rig.candidates.tolist())
    assert len({tuple(r) for r in rig.candidates.tolist()}) == rig.num_candidates
    assert rig.candidates[0].tolist() == list(range(rig.num_views))
    # closure: the composition of two candidates is a candidate
    rows = {tuple(r) for r in rig.candidates.tolist()}
    for a, b in itertools.product(range(rig.num_candidates), repeat=2):
        comp = R[a] @ R[b]
        assert np.min(np.linalg.norm((R - comp).reshape(len(R), -1), axis=1)) < 1e-6
        # permutation of the composition: slot k <- cand_b[cand_a[k]]
        assert tuple(rig.candidates[b][rig.candidates[a]].tolist()) in rows


def test_ring12_geometry_and_cyclic_shifts():
    rig = views.ring()
    assert rig.spec == "ring12" and rig.num_views == 12
    ae = rig.azimuth_elevation_deg()
    np.testing.assert_allclose(ae[:, 0], np.arange(12) * 30.0, atol=1e-9)
    np.testing.assert_allclose(ae[:, 1], 30.0, atol=1e-9)
    expected = np.array([[(j + k) % 12 for k in range(12)] for j in range(12)])
    np.testing.assert_array_equal(rig.candidates, expected)
    _check_group(rig)
    # camera 1 is 30 deg counter-clockwise from camera 0 (seen from +Z)
    assert np.cross(rig.cameras[0], rig.cameras[1])[2] > 0


def test_ring_up_vectors_point_up():
    rig = views.ring(8, 45.0)
    assert np.all(rig.up[:, 2] > 0)
    np.testing.assert_allclose(np.sum(rig.up * rig.cameras, axis=1), 0.0, atol=1e-12)


def test_dodecahedron_has_60_candidates():
    rig = views.dodecahedron()
    assert rig.num_views == 20 and rig.num_candidates == 60
    _check_group(rig)
    ang = rig.view_angles_deg()
    nearest = np.sort(ang, axis=1)[:, 1]
    np.testing.assert_allclose(nearest, 41.8103149, atol=1e-5)
    # distinct candidates are at least 72 degrees apart
    R = rig.candidate_rotations
    d = views.geodesic_deg(R[:, None], R[None, :])
    assert np.min(d[~np.eye(60, dtype=bool)]) > 72.0 - 1e-6
    # documented vertex order
    phi = (1 + math.sqrt(5)) / 2
    np.testing.assert_allclose(rig.cameras[0], np.ones(3) / math.sqrt(3))
    np.testing.assert_allclose(rig.cameras[8], np.array([0, 1 / phi, phi]) / math.sqrt(3))


def test_rings_candidates_are_azimuth_shifts():
    rig = views.rings([-60, -30, 0, 30, 60, -75, -45, -15, 15, 45], 16)
    assert rig.num_views == 160 and rig.num_candidates == 16
    _check_group(rig)
    np.testing.assert_allclose(rig.candidate_rotations[:, 2, 2], 1.0, atol=1e-9)


def test_equator_ring_rejects_upside_down_flips():
    # the camera set of an elevation-0 ring is also symmetric under 180° flips
    # about horizontal axes; an upright rig must not count them
    assert views.ring(6, 0.0).num_candidates == 6
    assert views.from_cameras(views.ring(6, 0.0).cameras, upright=False).num_candidates == 12


def test_get_rig_specs_and_roundtrip():
    assert views.get_rig("ring12") is views.get_rig("ring12")
    assert views.get_rig("ring:8:20").num_views == 8
    assert views.get_rig("rings:4:0,40").num_views == 8
    for spec in ("ring12", "dodeca20", "rings:4:0,40"):
        rig = views.get_rig(spec)
        back = views.ViewRig.from_dict(rig.to_dict())
        np.testing.assert_array_equal(back.candidates, rig.candidates)
    custom = views.from_cameras([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]])
    back = views.ViewRig.from_dict(custom.to_dict())
    assert back.num_candidates == 4


@pytest.mark.parametrize(
    "call",
    [
        lambda: views.get_rig("hexagon"),
        lambda: views.ring(1),
        lambda: views.ring(12, 90.0),
        lambda: views.rings([], 8),
        lambda: views.rings([10, 10], 8),
        lambda: views.from_cameras([[0, 0, 1], [0, 0, 2]]),
        lambda: views.from_cameras([[0, 0, 1], [0, 0, -1]]),
        lambda: views.from_cameras([[np.nan, 0, 1], [1, 0, 0]]),
        lambda: views.ViewRig.from_dict({"spec": "ring12", "cameras": [[1, 0, 0]] * 12}),
        lambda: views.matrix_to_quaternion(np.eye(4)),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_quaternion_and_rotation_helpers():
    from scipy.spatial.transform import Rotation

    R = Rotation.random(40, random_state=1).as_matrix()
    q = views.matrix_to_quaternion(R)
    ref = Rotation.from_matrix(R).as_quat()[:, [3, 0, 1, 2]]
    ref *= np.sign(ref[:, :1])
    np.testing.assert_allclose(q, ref, atol=1e-12)
    rig = views.ring()
    M = views.rotation_between_views(rig.cameras[0], rig.up[0], rig.cameras[3], rig.up[3])
    np.testing.assert_allclose(M @ rig.cameras[0], rig.cameras[3], atol=1e-12)
    assert views.geodesic_deg(np.eye(3), M) == pytest.approx(90.0)


def test_views_import_without_torch():
    code = "import sys, rotationnet.core.views, rotationnet.core.manifest; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_direction_and_angles_are_inverse():
    rng = np.random.default_rng(0)
    az, el = rng.uniform(0, 360, 50), rng.uniform(-89, 89, 50)
    d = views.direction(az, el)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)
    ae = views.azimuth_elevation(d)
    np.testing.assert_allclose(ae[:, 0], az, atol=1e-9)
    np.testing.assert_allclose(ae[:, 1], el, atol=1e-9)
    np.testing.assert_allclose(views.direction(90.0, 0.0), [0.0, 1.0, 0.0], atol=1e-12)
    assert views.angle_deg([1, 0, 0], [0, 2, 0]) == pytest.approx(90.0)


def test_quaternions_round_trip_and_match_blender_order():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(20, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    m = views.quaternion_to_matrix(q)
    np.testing.assert_allclose(m @ np.swapaxes(m, 1, 2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12)
    np.testing.assert_allclose(views.matrix_to_quaternion(m), q, atol=1e-9)
    # 90° about +Z: (w, x, y, z) = (cos 45°, 0, 0, sin 45°) takes +X to +Y
    r = views.quaternion_to_matrix([math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)])
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_turn_camera_moves_right_up_and_rolls():
    c = views.direction(0.0, 0.0)  # on +X, looking at the origin
    u = views.camera_up_vectors(c)
    right = np.cross(u, c)
    d2, u2 = views.turn_camera(c, u, 10.0, 0.0, 0.0)
    assert views.angle_deg(c, d2) == pytest.approx(10.0) and d2 @ right > 0  # towards its right
    np.testing.assert_allclose(u2, u, atol=1e-12)  # a pure turn to the right keeps the up vector
    d3, u3 = views.turn_camera(c, u, 0.0, 20.0, 0.0)
    assert views.azimuth_elevation(d3)[1] == pytest.approx(20.0)  # upwards
    d4, u4 = views.turn_camera(c, u, 0.0, 0.0, 30.0)
    np.testing.assert_allclose(d4, c, atol=1e-12)
    # turning the camera counter-clockwise turns the picture's content clockwise
    np.testing.assert_allclose(u4, views.rolled_up(c, -30.0), atol=1e-12)
    # batched: the same as one by one
    cs = views.direction([0.0, 100.0, 200.0], [10.0, 40.0, -20.0])
    us = views.rolled_up(cs, [0.0, 10.0, -5.0])
    db, ub = views.turn_camera(cs, us, [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0])
    for i in range(3):
        di, ui = views.turn_camera(cs[i], us[i], i + 1.0, i + 4.0, i + 7.0)
        np.testing.assert_allclose(db[i], di, atol=1e-12)
        np.testing.assert_allclose(ub[i], ui, atol=1e-12)


def test_world_to_camera_is_blender_camera_convention():
    c = views.direction(30.0, 20.0)
    r = views.world_to_camera(c, views.camera_up_vectors(c))
    np.testing.assert_allclose(r @ c, [0, 0, 1], atol=1e-12)  # towards the camera = camera +Z (it looks along -Z)
    np.testing.assert_allclose(r @ views.camera_up_vectors(c), [0, 1, 0], atol=1e-12)


def test_up_axis_rotation_turns_y_up_into_z_up():
    r = views.up_axis_rotation("y")
    np.testing.assert_array_equal(r @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])  # the source's up becomes +Z
    np.testing.assert_array_equal(r @ [0.0, 0.0, 1.0], [0.0, -1.0, 0.0])
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_array_equal(views.up_axis_rotation("Z"), np.eye(3))
    with pytest.raises(ValueError, match="up_axis"):
        views.up_axis_rotation("X")
