"""The numpy-only OFF reader (rotationnet.core.offmesh): the same vertices and
triangles as trimesh's OFF reader, which the renderer used before, for every
file trimesh reads; a clear error otherwise."""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rotationnet.core.errors import DataError
from rotationnet.core.offmesh import parse_off, read_off

SQUARE = "0 0 0\n1 0 0\n1 1 0\n0 1 0\n0.5 1.5 0\n"


def _trimesh_off(text):
    import trimesh

    m = trimesh.load(io.BytesIO(text.encode() if isinstance(text, str) else text), file_type="off",
                     force="mesh", process=False)
    return np.asarray(m.vertices), np.asarray(m.faces)


@pytest.mark.parametrize("text", [
    "OFF\n5 2 0\n" + SQUARE + "3 0 1 2\n3 0 2 3\n",
    "OFF\n5 1 0\n" + SQUARE + "4 0 1 2 3\n",
    "OFF\n5 3 0\n" + SQUARE + "3 0 1 2\n4 0 1 2 3\n3 1 2 3\n",  # quads after the triangles
    "OFF\n5 2 0\n" + SQUARE + "5 0 1 2 3 4\n5 4 3 2 1 0\n",  # polygons: fans
    "OFF5 2 0\n" + SQUARE + "3 0 1 2\n3 0 2 3\n",  # ModelNet's header glued to the counts
    "# a comment\nOFF # keyword\n5 2 0 # counts\n" + SQUARE.replace("\n", " # v\n", 1) + "3 0 1 2\n\n3 0 2 3\n",
    "COFF\n5 1 0\n" + SQUARE.replace("\n", " 255 0 0 255\n") + "3 0 1 2 255 255 255\n",  # colours ignored
    "OFF 5 1 0\n" + SQUARE + "3 0 1 2\n",
    "OFF\n5 2 0\n" + SQUARE + "2 0 1\n3 0 1 2\n",  # a two-corner face is dropped
])
def test_same_as_trimesh(text):
    v, f = parse_off(text)
    tv, tf = _trimesh_off(text)
    np.testing.assert_array_equal(v, tv)
    np.testing.assert_array_equal(f, tf)
    assert v.dtype == np.float64 and f.dtype == np.int64 and f.shape[1] == 3


def test_triangles_and_pentagons_read_where_trimesh_failed():
    v, f = parse_off("OFF\n5 2 0\n" + SQUARE + "3 0 1 2\n5 0 1 2 3 4\n")
    assert f.tolist() == [[0, 1, 2], [0, 1, 2], [0, 2, 3], [0, 3, 4]]


@pytest.mark.parametrize("text, message", [
    ("hello\n", "no OFF header"),
    ("OFF\n", "missing the vertex/face count"),
    ("OFF\n3.5 1 0\n", "counts line is not integers"),
    ("OFF\n5 1 0\n0 0 0\n", "fewer than the 5 vertices"),
    ("OFF\n5 1 0\n" + SQUARE.replace("1 1 0", "1 x 0") + "3 0 1 2\n", "not a number"),
    ("OFF\n5 1 0\n" + SQUARE + "3 0 1 9\n", "outside the range"),
    ("OFF\n5 1 0\n" + SQUARE + "3 0 -1 2\n", "outside the range"),
    ("OFF\n5 1 0\n" + SQUARE + "three 0 1 2\n", "corner count"),
])
def test_errors_say_what_is_wrong(text, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        parse_off(text)
    p = tmp_path / "bad.off"
    p.write_text(text)
    with pytest.raises(DataError, match=str(p)):
        read_off(p)


_num = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
                 st.integers(-5, 12).map(str), st.sampled_from(["", "x", "1e400", "-0", "nan"]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.tuples(_num, _num, _num), max_size=8),
       st.lists(st.lists(st.integers(-3, 10), min_size=1, max_size=5), max_size=8),
       st.integers(0, 400), st.booleans())
def test_fuzz_same_as_trimesh_whenever_trimesh_reads(verts, faces, cut, glued):
    text = f"OFF{'' if glued else chr(10)}{len(verts)} {len(faces)} 0\n" + \
        "".join(f"{a} {b} {c}\n" for a, b, c in verts) + \
        "".join(f"{len(face)} " + " ".join(str(i) for i in face) + "\n" for face in faces)
    if cut:
        text = text[: max(1, len(text) - cut)]
    try:
        tv, tf = _trimesh_off(text)
    except Exception:
        try:
            parse_off(text)
        except ValueError:
            pass
        return
    v, f = parse_off(text)
    np.testing.assert_array_equal(v, tv)
    np.testing.assert_array_equal(f.reshape(-1, 3), np.asarray(tf).reshape(-1, 3))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.binary(max_size=400), st.sampled_from([b"", b"OFF\n", b"OFF\n3 1 0\n"]))
def test_fuzz_any_bytes_load_or_raise_valueerror(blob, head):
    try:
        v, f = parse_off(head + blob)
    except ValueError:
        return
    assert v.ndim == 2 and v.shape[1] == 3 and f.ndim == 2 and f.shape[1] == 3
    assert not len(f) or (f.min() >= 0 and f.max() < len(v))
