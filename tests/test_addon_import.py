"""Place brings the library's own file into Blender (tests/addon_import_scenario.py
drives the installed add-on, library only, no model): a textured glTF binary with a
node hierarchy and an OBJ with its .mtl and PNG texture arrive with their materials,
image textures, UV layers and hierarchy under one Empty; the world-space geometry is
the source's, in the index's frame (up axis Z and Y), turned by the reply's rotation;
a second Place shares the imported data; a broken or missing file is an error naming
it that leaves the scene as it was; a missing texture is a warning naming it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rotationnet.core import protocol as P
from rotationnet.core.views import rotation_between_views

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("gpu_ok")

CRATE_V = np.array([[x, y, z] for x in (0, 2) for y in (0, 1) for z in (0, 0.5)], float) + [3, -1, 4]
CRATE_F = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


def _write_obj(folder: Path, png: bool = True) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    if png:
        a = np.zeros((8, 8, 3), np.uint8)
        a[::2], a[1::2] = (200, 50, 20), (20, 60, 220)
        Image.fromarray(a).save(folder / "wood.png")
    (folder / "crate.mtl").write_text("newmtl Wood\nKd 0.8 0.8 0.8\nmap_Kd wood.png\n")
    lines = ["mtllib crate.mtl", "o Crate", *(f"v {a} {b} {c}" for a, b, c in CRATE_V),
             "vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1", "usemtl Wood"]
    lines += ["f " + " ".join(f"{i + 1}/{k + 1}" for k, i in enumerate(f)) for f in CRATE_F]
    (folder / "crate.obj").write_text("\n".join(lines) + "\n")
    return folder / "crate.obj"


def _obj_vertices(path: Path) -> np.ndarray:
    """The OBJ's vertices, read here from the text (not through any importer)."""
    return np.array([[float(x) for x in ln.split()[1:4]] for ln in path.read_text().splitlines()
                     if ln.startswith("v ")])


def _index_frame(v, up_axis):
    return np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1) if up_axis == "Y" else v


def _hausdorff(a, b) -> float:
    d = np.linalg.norm(np.asarray(a)[:, None, :] - np.asarray(b)[None, :, :], axis=2)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import trimesh
    from PIL import Image

    tmp = tmp_path_factory.mktemp("addon_import")
    glb = tmp / "lib_glb" / "Thing" / "thing.glb"
    glb.parent.mkdir(parents=True)
    subprocess.run([sys.executable, str(ROOT / "tests" / "make_textured_glb.py"), str(glb)], check=True,
                   capture_output=True)
    obj = _write_obj(tmp / "lib_obj" / "Crate")
    nopng = _write_obj(tmp / "lib_nopng" / "Crate", png=False)
    broken = _write_obj(tmp / "lib_broken" / "Crate")
    broken.write_bytes(np.random.default_rng(0).bytes(2000))
    broken_glb = tmp / "lib_broken" / "Thing" / "thing.glb"
    broken_glb.parent.mkdir(parents=True)
    broken_glb.write_bytes(glb.read_bytes()[:600])  # truncated
    gone = tmp / "lib_gone" / "Crate" / "crate.obj"
    off = tmp / "lib_off" / "Crate" / "crate.off"  # no Blender importer: the project's reader
    off.parent.mkdir(parents=True)
    off.write_text(f"OFF\n{len(CRATE_V)} {len(CRATE_F)} 0\n" + "".join(f"{a} {b} {c}\n" for a, b, c in CRATE_V)
                   + "".join("4 " + " ".join(map(str, f)) + "\n" for f in CRATE_F))
    blend = tmp / "lib_blend" / "Crate" / "crates.blend"
    blend.parent.mkdir(parents=True)
    subprocess.run([sys.executable, str(ROOT / "tests" / "make_blend_asset.py"), str(obj), str(blend), "BlendCrate"],
                   check=True, capture_output=True)
    lo, hi = CRATE_V.min(axis=0), CRATE_V.max(axis=0)  # a .blend object's index frame is its own
    blend_asset = {"kind": "blend", "format": "blend", "source": str(blend), "object": "BlendCrate",
                   "id": "Crate/crates.blend::BlendCrate", "up_axis": "Z", "center": ((lo + hi) / 2).tolist(),
                   "scale": 1.0 / float(np.linalg.norm(CRATE_V - (lo + hi) / 2, axis=1).max())}
    ref = tmp / "reference.png"
    pic = np.full((96, 96, 3), 255, np.uint8)
    pic[30:70, 20:80] = (150, 90, 40)
    pic[40:60, 30:50] = (60, 60, 200)
    Image.fromarray(pic).save(ref)
    out = subprocess.run([sys.executable, str(ROOT / "blender_addon" / "build.py"), "--out", str(tmp / "dist")],
                         check=True, capture_output=True, text=True)
    # two real classifications (the worker indexes and matches), the other steps reuse their replies
    # with another source file or the other up axis
    steps = [
        {"name": "glb_z", "library": str(tmp / "lib_glb"), "up_axis": "Z", "places": 2},
        {"name": "glb_y", "from": "glb_z", "override": {"up_axis": "Y"}, "y_up_center": True},
        {"name": "obj_y", "library": str(tmp / "lib_obj"), "up_axis": "Y", "keep_size": False},
        {"name": "nopng", "from": "obj_y", "override": {"source": str(nopng)}},
        {"name": "garbage", "from": "obj_y", "override": {"source": str(broken)}},
        {"name": "garbage_glb", "from": "glb_z", "override": {"source": str(broken_glb)}},
        {"name": "gone", "from": "obj_y", "override": {"source": str(gone)}},
        {"name": "off_y", "from": "obj_y", "override": {"source": str(off), "format": "off"}},
        {"name": "blend_link", "from": "obj_y", "override": blend_asset, "link": True, "places": 2},
    ]
    cfg = {"zip": out.stdout.strip().splitlines()[-1], "python": sys.executable,
           "user_resources": str(tmp / "blender"), "reference": str(ref), "cursor": [1.0, 2.0, 0.5],
           "camera_direction": [0.3, -1.0, 0.4], "steps": steps}
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "addon_import_scenario.py"), str(tmp / "cfg.json")],
                       capture_output=True, text=True, errors="replace", timeout=900)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(line[7:])
    res["steps"] = {s["name"]: s for s in res["steps"]}
    src = {"glb": np.asarray(trimesh.load(glb, force="mesh", process=False).vertices, float),
           "obj": _obj_vertices(obj), "blend": CRATE_V, "off": CRATE_V}
    return {"out": res, "src": src, "glb": glb, "obj": obj, "broken": broken, "broken_glb": broken_glb, "gone": gone,
            "cfg": cfg}


def _check_geometry(run, step, fmt):
    """World-space vertices = cursor + R · k · (index-frame source vertices − centre)."""
    out = run["out"]
    s = out["steps"][step]
    asset = P.check_asset(s["asset"])  # what the add-on checked before placing
    assert asset["format"] == fmt and asset["up_axis"] == ("Y" if step.endswith("_y") else "Z")
    v = _index_frame(run["src"][fmt], asset["up_axis"])
    lo, hi = v.min(axis=0), v.max(axis=0)
    center = (lo + hi) / 2
    radius = np.linalg.norm(v - center, axis=1).max()
    np.testing.assert_allclose(asset["center"], center, atol=1e-6 * radius)  # the index's frame is the source's
    assert 1.0 / asset["scale"] == pytest.approx(radius, rel=1e-6)
    cam = out["camera"]
    cursor = np.array(run["cfg"]["cursor"])
    w = np.array(cam["location"]) - cursor
    R = rotation_between_views(np.array(s["pose"]["asset_view_direction"]), np.array(s["pose"]["asset_view_up"]),
                               w / np.linalg.norm(w), np.array(cam["up"]))
    k = 1.0 if next(x for x in run["cfg"]["steps"] if x["name"] == step).get("keep_size", True) else asset["scale"]
    want = cursor + k * (v - center) @ R.T
    for placed in s["places"]:
        got = np.concatenate([o["world"] for o in placed["objects"] if o["type"] == "MESH"])
        assert _hausdorff(got, want) < 1e-4 * k * radius
        # the Empty stands on the asset's centre, turned by R
        mw = np.array(placed["matrix_world"])
        np.testing.assert_allclose(mw[:3, 3], cursor, atol=1e-5)
        np.testing.assert_allclose(mw[:3, :3] / k, R, atol=1e-5)
        assert placed["warning"] == "", placed["warning"]


def test_textured_glb_arrives_with_hierarchy_materials_texture_and_uvs(run):
    s = run["out"]["steps"]["glb_z"]
    assert s["classify_error"] == "" and s["asset"]["source"] == str(run["glb"])
    first = s["places"][0]
    assert first["return"] == ["FINISHED"], first["error"]
    objs = {o["name"]: o for o in first["objects"]}
    root = first["objects"][0]
    assert root["type"] == "EMPTY" and root["name"] == "thing"  # one placed thing, carrying the pose
    assert objs["Root"]["parent"] == "thing" and objs["Root"]["type"] == "EMPTY"  # the file's hierarchy below it
    assert objs["Body"]["parent"] == "Root" and objs["Wheel"]["parent"] == "Body"
    body = objs["Body"]
    assert body["materials"] == ["Painted"] and body["uv_layers"] == ["UVMap"]
    assert objs["Wheel"]["materials"] == ["Red"]
    (img,) = body["images"]
    assert img["packed"] and img["size"] == [16, 16]  # the GLB's own image, loaded from the file
    px = np.array(img["pixels"]).reshape(16, 16, 3)
    assert px[0, 0].tolist() == [1.0, 0.0, 0.0] and px[1, 1].tolist() == [0.0, 0.0, 1.0]
    assert first["props"]["rotationnet_asset"] == "Thing/thing.glb"
    assert first["props"]["rotationnet_source"] == str(run["glb"])


def test_geometry_is_the_index_frame_turned_by_the_reply_rotation(run):
    _check_geometry(run, "glb_z", "glb")  # glTF imported Y-up → Z-up by Blender, the index used raw coordinates
    _check_geometry(run, "glb_y", "glb")  # the importer's conversion is the index's
    _check_geometry(run, "obj_y", "obj")  # and the unit-sphere size (Keep Size off)
    _check_geometry(run, "off_y", "off")  # built from rotationnet.core.offmesh, the up axis applied


def test_blend_asset_linked_from_its_file(run):
    """With Link .blend Assets the object's mesh stays in the library file (read-only), a
    local object holds it under the Empty; its own location in the file does not matter."""
    _check_geometry(run, "blend_link", "blend")
    first, second = run["out"]["steps"]["blend_link"]["places"]
    for placed in (first, second):
        root, crate = placed["objects"]
        assert root["type"] == "EMPTY" and crate["parent"] == root["name"]
        assert crate["data_library"] == "crates.blend" and crate["library"] is None
    assert second["objects"][1]["data"] == first["objects"][1]["data"]
    assert second["counts_after"]["meshes"] == second["counts_before"]["meshes"]


def test_second_place_shares_the_imported_data(run):
    first, second = run["out"]["steps"]["glb_z"]["places"]
    assert second["return"] == ["FINISHED"]
    a = {o["name"]: o for o in first["objects"]}
    b = {o["name"].rsplit(".", 1)[0]: o for o in second["objects"][1:]}
    for name in ("Body", "Wheel"):
        assert b[name]["data"] == a[name]["data"]  # the same mesh datablock, a new object
        assert b[name]["name"] != a[name]["name"]
    assert b["Body"]["parent"] == b["Root"]["name"] and b["Root"]["parent"] == second["objects"][0]["name"]
    # no second import: new objects only, no new mesh, material or image
    before, after = second["counts_before"], second["counts_after"]
    assert after["objects"] - before["objects"] == 4  # Empty, Root, Body, Wheel
    assert [after[k] - before[k] for k in ("meshes", "materials", "images")] == [0, 0, 0]
    # the first Place imported: template and copy share the meshes (2 + 2 images? one image, two materials)
    f_before, f_after = first["counts_before"], first["counts_after"]
    assert f_after["meshes"] - f_before["meshes"] == 2 and f_after["materials"] - f_before["materials"] == 2
    # the same file with the other up axis is another record: imported again
    glb_y = run["out"]["steps"]["glb_y"]["places"][0]
    assert glb_y["counts_after"]["meshes"] - glb_y["counts_before"]["meshes"] == 2


def test_obj_arrives_with_its_mtl_texture_and_uvs(run):
    for step in ("obj_y",):
        (placed,) = run["out"]["steps"][step]["places"]
        assert placed["return"] == ["FINISHED"], placed["error"]
        root, crate = placed["objects"]
        assert root["type"] == "EMPTY" and crate["parent"] == root["name"]
        assert crate["materials"] == ["Wood"] and crate["uv_layers"] == ["UVMap"]
        (img,) = crate["images"]
        assert img["filepath"] == str(run["obj"].parent / "wood.png") and img["size"] == [8, 8]
        assert not img["packed"]


def test_missing_texture_is_a_warning_naming_it(run):
    (placed,) = run["out"]["steps"]["nopng"]["places"]
    assert placed["return"] == ["FINISHED"]
    assert "wood.png" in placed["warning"] and "not found" in placed["warning"]
    assert "crate.obj" in placed["warning"]


@pytest.mark.parametrize("step, path_key, words", [("garbage", "broken", "found no mesh"),
                                                     ("garbage_glb", "broken_glb", "importer failed"),
                                                     ("gone", "gone", "not found")])
def test_broken_or_missing_file_is_an_error_naming_it_and_the_scene_is_unchanged(run, step, path_key, words):
    (placed,) = run["out"]["steps"][step]["places"]
    assert placed["return"] != ["FINISHED"]
    assert str(run[path_key]) in placed["error"] and words in placed["error"], placed["error"]
    assert placed["scene_after"] == placed["scene_before"]
    assert placed["counts_after"] == placed["counts_before"]  # everything the attempt made is gone


def test_one_undo_removes_the_placement_and_keeps_the_result(run):
    u = run["out"]["undo"]
    assert len(u["placed"]) == len(u["before"]) + 4  # Empty, Root, Body, Wheel
    assert u["return"] == ["FINISHED"] and u["after"] == u["before"] and u["result_kept"]
    assert run["out"]["torch_in_blender"] is False
