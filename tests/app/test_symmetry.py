"""Rotational symmetries about the up axis, detected from the mesh, and the
symmetry-aware errors the pose benchmark reports."""

import numpy as np
import trimesh

from rotationnet.app.symmetry import (symmetric_rotation_error_deg, symmetric_view_error_deg,
                                      up_axis_symmetries)


def _norm(mesh):
    v = mesh.vertices - mesh.bounds.mean(axis=0)
    return v / np.linalg.norm(v, axis=1).max(), mesh.faces


def test_symmetries_of_simple_shapes():
    assert len(up_axis_symmetries(*_norm(trimesh.creation.cylinder(0.5, 1.0, sections=64)))) == 72  # revolution
    assert up_axis_symmetries(*_norm(trimesh.creation.box((1.0, 0.5, 0.3)))) == [0.0, 180.0]
    assert up_axis_symmetries(*_norm(trimesh.creation.box((0.6, 0.6, 0.3)))) == [0.0, 90.0, 180.0, 270.0]
    # a box with a knob on one side has none
    box = trimesh.creation.box((1.0, 0.5, 0.3))
    knob = trimesh.creation.box((0.2, 0.2, 0.2))
    knob.apply_translation([0.55, 0.1, 0.0])
    assert up_axis_symmetries(*_norm(trimesh.util.concatenate([box, knob]))) == [0.0]


def test_errors_up_to_symmetry():
    d = np.array([1.0, 0.0, 0.3])
    opposite = np.array([-1.0, 0.0, 0.3])
    assert symmetric_view_error_deg(opposite, d) > 100
    assert symmetric_view_error_deg(opposite, d, [0.0, 180.0]) < 1e-6
    up = np.array([0.0, 0.0, 1.0])
    assert symmetric_rotation_error_deg(opposite, up, d, up, [0.0, 180.0]) < 1e-5
    assert abs(symmetric_rotation_error_deg(d, up, d, up) ) < 1e-5
