"""Fuzzing (hypothesis) of the two readers that take arbitrary user files: the
dataset manifest reader and the mesh loader.  Any input must either load or
raise the tools' own user error naming the file, never another exception."""

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import badinput
from render.meshes import MESH_EXTENSIONS, MeshError, load_mesh, normalize
from rotationnet.core.errors import DataError
from rotationnet.core.manifest import load_dataset
from rotationnet.core.views import get_rig

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
_json = st.recursive(_json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                         st.dictionaries(st.text(max_size=8), kids, max_size=5)),
                     max_leaves=25)


def _good_manifest() -> dict:
    return {"format": "rotationnet-dataset", "version": 1, "rig": get_rig("ring:3:0").to_dict(),
            "classes": ["a", "b"],
            "objects": [{"id": f"o{i}", "split": "train", "class": "ab"[i % 2],
                         "views": [f"v{i}_{k}.png" for k in range(3)]} for i in range(3)]}


def _paths(d, prefix=()):
    """Every (key path) inside a JSON value, for targeted mutation."""
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, prefix + (i,))


def _check_manifest_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "manifest.json"
        p.write_text(text, encoding="utf-8", errors="surrogatepass") if isinstance(text, str) else p.write_bytes(text)
        try:
            m = load_dataset(p)
        except DataError as e:
            assert str(p) in str(e), str(e)
            return
        # what loads is consistent
        assert len(set(m.classes)) == len(m.classes)
        for o in m.objects:
            assert o.label in m.classes and len(o.views) == m.rig.num_views
            assert not any(v.startswith("/") or ".." in v.split("/") for v in o.views)


@FUZZ
@given(st.data())
def test_fuzz_manifest_mutations(data):
    """A valid manifest with one value anywhere replaced by arbitrary JSON."""
    d = _good_manifest()
    paths = [p for p in _paths(d) if p]
    path = data.draw(st.sampled_from(paths))
    new = data.draw(_json)
    target = d
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = new
    _check_manifest_text(json.dumps(d))


@FUZZ
@given(_json)
def test_fuzz_manifest_arbitrary_json(value):
    _check_manifest_text(json.dumps(value))


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_manifest_arbitrary_bytes(blob):
    _check_manifest_text(blob)


def _check_mesh_bytes(blob: bytes, ext: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"m{ext}"
        p.write_bytes(blob)
        try:
            v, f = load_mesh(p)
        except MeshError as e:
            assert str(p) in str(e), str(e)
            return
        assert v.ndim == 2 and v.shape[1] == 3 and f.ndim == 2 and f.shape[1] == 3 and len(f) > 0
        assert f.min() >= 0 and f.max() < len(v)
        nv, _ = normalize(v, f)
        assert np.all(np.isfinite(nv[np.unique(f)]))


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(MESH_EXTENSIONS))
def test_fuzz_mesh_arbitrary_bytes(blob, ext):
    _check_mesh_bytes(blob, ext)


_num = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
                 st.integers(-5, 12).map(str), st.sampled_from(["", "x", "1e400", "-0", "nan"]))


@FUZZ
@given(st.lists(st.tuples(_num, _num, _num), min_size=0, max_size=8),
       st.lists(st.lists(st.integers(-3, 10), min_size=1, max_size=5), max_size=8),
       st.sampled_from([".obj", ".off"]), st.integers(0, 400))
def test_fuzz_mesh_structured_text(verts, faces, ext, cut):
    """Mesh-shaped text: odd numbers, bad indices, polygons, truncation."""
    if ext == ".obj":
        text = "".join(f"v {a} {b} {c}\n" for a, b, c in verts) + \
            "".join("f " + " ".join(str(i) for i in face) + "\n" for face in faces)
    else:
        text = f"OFF\n{len(verts)} {len(faces)} 0\n" + "".join(f"{a} {b} {c}\n" for a, b, c in verts) + \
            "".join(f"{len(face)} " + " ".join(str(i) for i in face) + "\n" for face in faces)
    if cut:
        text = text[: max(1, len(text) - cut)]
    _check_mesh_bytes(text.encode(), ext)


@FUZZ
@given(st.integers(0, 10_000), st.binary(min_size=1, max_size=8))
def test_fuzz_mesh_corrupted_binary_ply(pos, junk):
    """A valid binary PLY with a few bytes overwritten or the tail cut."""
    blob = bytearray(badinput.ply_binary(badinput.CUBE_V, badinput.CUBE_F))
    pos %= len(blob)
    blob[pos:pos + len(junk)] = junk
    _check_mesh_bytes(bytes(blob), ".ply")
    _check_mesh_bytes(bytes(blob[:pos]), ".ply")
