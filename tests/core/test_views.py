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
