"""Headless rendering with Blender: view order, orientation, framing, determinism,
depth, bulk runs (resume, bad meshes, workers), contact sheets, real meshes."""

import shutil

import numpy as np
import pytest
import trimesh
from PIL import Image

from rotationnet.core.manifest import load_dataset
from rotationnet.core.views import get_rig

from conftest import shared

pytestmark = pytest.mark.usefixtures("blender")


def _renderer(**kw):
    from render.engine import Renderer, RenderSettings

    return Renderer(RenderSettings(**kw))


def _marked_mesh(direction, body=0.55):
    """A sphere with a small cube just inside the unit sphere towards ``direction``."""
    s = trimesh.creation.icosphere(subdivisions=2, radius=body)
    m = trimesh.creation.box(extents=[0.12] * 3)
    m.apply_translation(np.asarray(direction) * 0.9)
    anti = trimesh.creation.box(extents=[0.02] * 3)  # keeps the bounding box centred
    anti.apply_translation(-np.asarray(direction) * 0.9)
    mesh = trimesh.util.concatenate([s, m, anti])
    return mesh.vertices, mesh.faces


@pytest.mark.parametrize("spec,target", [("ring12", 7), ("dodeca20", 13)])
def test_marker_is_nearest_in_exactly_the_predicted_view(gpu_ok, spec, target):
    from render.meshes import normalize

    rig = get_rig(spec)
    v, f = _marked_mesh(rig.cameras[target])
    vn, _ = normalize(v, f)
    with _renderer(rig=spec, size=64, depth=True) as r:
        images, depth = r.render(vn, f)
    assert images.shape == (rig.num_views, 64, 64, 3) and depth.shape == (rig.num_views, 64, 64)
    nearest = depth.reshape(rig.num_views, -1).min(axis=1)
    assert int(np.argmin(nearest)) == target
    # the marker sits on the optical axis of its camera: nearest pixel at the centre
    iy, ix = np.unravel_index(np.argmin(depth[target]), depth[target].shape)
    assert abs(iy - 31.5) <= 4 and abs(ix - 31.5) <= 4
    # and its depth is the camera distance minus the marker's radius
    assert nearest[target] == pytest.approx(2.5 - 0.96, abs=0.06)


def _handed_mesh():
    box = trimesh.creation.box(extents=[0.6, 0.6, 0.6])
    side = trimesh.creation.box(extents=[0.3, 0.3, 0.3])
    side.apply_translation([0, 0.6, 0])  # +Y
    top = trimesh.creation.box(extents=[0.1, 0.1, 0.4])
    top.apply_translation([0, 0, 0.5])  # +Z
    m = trimesh.util.concatenate([box, side, top])
    return m.vertices - m.bounding_box.centroid, m.faces


def _mass_center(img, bg=255):
    mask = np.any(img < bg - 10, axis=-1)
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean(), mask


@pytest.mark.parametrize("engine", ["fast", "workbench", "cycles"])
def test_orientation_is_not_mirrored_in_any_engine(engine, request):
    if engine != "cycles":
        request.getfixturevalue("gpu_ok")
    from render.meshes import normalize

    v, f = _handed_mesh()
    vn, _ = normalize(v, f)
    with _renderer(rig="ring:4:0", size=64, engine=engine, samples=4) as r:
        images, _ = r.render(vn, f)
    # camera 0 at +X looks at -X with +Z up: +Y (the small side block) is on
    # the image's right, so the silhouette's mass lies left of its box centre
    def lean(img):
        x, _, mask = _mass_center(img)
        cols = np.nonzero(mask.any(axis=0))[0]
        return x - (cols[0] + cols[-1]) / 2

    assert lean(images[0]) < -2 and lean(images[2]) > 2
    # +Z is up: the top rows hold the thin top marker only
    _, _, mask = _mass_center(images[1])
    rows = np.nonzero(mask.any(axis=1))[0]
    top_width = mask[rows[0] + 1].sum()
    bottom_width = mask[rows[-1] - 1].sum()
    assert top_width < bottom_width


def test_framing_keeps_the_unit_sphere_in_every_view(gpu_ok):
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    for spec in ("ring12", "dodeca20"):
        with _renderer(rig=spec, size=96) as r:
            images, _ = r.render(sphere.vertices, sphere.faces)
        border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
        assert border.min() >= 250, "object touches the frame border"
        widths = [(_mass_center(im)[2].any(axis=0)).sum() for im in images]
        assert min(widths) > 0.8 * 96  # and it fills most of the frame


def test_rendering_is_deterministic_and_options_apply(gpu_ok):
    v, f = _handed_mesh()
    with _renderer(rig="ring12", size=48) as r:
        a, _ = r.render(v, f)
        b, _ = r.render(v, f)
    assert np.array_equal(a, b)
    with _renderer(rig="ring12", size=48, background="transparent") as r:
        t, _ = r.render(v, f)
    assert t.shape[-1] == 4 and t[:, 0, 0, 3].max() == 0 and t[..., 3].max() == 255
    with _renderer(rig="ring12", size=48, color="gray", background="black") as r:
        g, _ = r.render(v, f)
    assert g.shape[-1] == 1 and g[:, 0, 0, 0].max() == 0
    with _renderer(rig="ring12", size=48, engine="workbench", aa="OFF") as r:
        w1, _ = r.render(v, f)
        w2, _ = r.render(v, f)
    assert np.array_equal(w1, w2)


# ---------------------------------------------------------------- bulk ----

def _library(root, n_per_class=2):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for cls, make in (("box", lambda: trimesh.creation.box(extents=rng.uniform(0.3, 1.0, 3))),
                      ("cone", lambda: trimesh.creation.cone(radius=rng.uniform(0.2, 0.5), height=1.0))):
        for split in ("train", "test"):
            d = root / cls / split
            d.mkdir(parents=True)
            for i in range(n_per_class):
                make().export(d / f"{cls}_{i}.{'off' if i % 2 else 'ply'}")
    return root


def _bad_meshes(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "empty.obj").write_bytes(b"")
    (d / "garbage.stl").write_bytes(bytes(range(256)) * 3)
    (d / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (d / "nan.obj").write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    (d / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")
    (d / "truncated.ply").write_bytes(trimesh.creation.box().export(file_type="ply")[:200])


def test_bulk_render_resume_and_bad_meshes(gpu_ok, tmp_path, capsys):
    from rotationnet import cli

    lib = _library(tmp_path / "lib")
    _bad_meshes(lib / "bad" / "train")
    out = tmp_path / "out"
    code = cli.main(["render", str(lib), str(out), "--size", "32", "--workers", "2"])
    assert code == 1  # some meshes failed
    captured = capsys.readouterr()
    for name, reason in (("empty.obj", "empty file"), ("points.obj", "no faces"), ("nan.obj", "NaN"),
                         ("flat.obj", "degenerate"), ("garbage.stl", ""), ("truncated.ply", "")):
        line = next((ln for ln in captured.err.splitlines() if name in ln), None)
        assert line is not None and reason in line, (name, captured.err)
    m = load_dataset(out)
    assert m.classes == ["box", "cone"] and len(m.objects) == 8
    assert all((out / p).is_file() for o in m.objects for p in o.views)
    assert m.objects[0].source["sha256"] and m.objects[0].normalization["scale"] > 0
    assert m.info["settings"]["size"] == 32 and m.info["versions"]["bpy"] == "5.0.1"
    assert "failed" in (out / "render.log").read_text()
    first = {p: (out / p).read_bytes() for o in m.objects for p in o.views}
    # rerun: nothing to do for good meshes
    shutil.rmtree(lib / "bad")
    assert cli.main(["render", str(lib), str(out), "--size", "32"]) == 0
    assert "rendered 0, skipped 8" in capsys.readouterr().out
    # a changed mesh is rendered again, the others are not
    trimesh.creation.icosphere().export(lib / "box" / "train" / "box_0.ply")
    assert cli.main(["render", str(lib), str(out), "--size", "32"]) == 0
    assert "rendered 1, skipped 7" in capsys.readouterr().out
    changed = [p for p in first if (out / p).read_bytes() != first[p]]
    assert changed and all("box_0_" in p for p in changed)
    assert not list(out.rglob("*.tmp*"))


def test_shards_add_up_and_limit(gpu_ok, tmp_path, capsys):
    from rotationnet import cli

    lib = _library(tmp_path / "lib")
    out = tmp_path / "out"
    for i in range(3):
        assert cli.main(["render", str(lib), str(out), "--size", "24", "--shard", f"{i}/3"]) == 0
    assert len(load_dataset(out).objects) == 8
    assert cli.main(["render", str(lib), str(tmp_path / "few"), "--size", "24", "--limit", "3"]) == 0
    assert len(load_dataset(tmp_path / "few").objects) == 3
    assert cli.main(["render", str(lib), str(tmp_path / "x"), "--shard", "3/3"]) == 2


def test_three_shards_on_separate_machines_merge_into_the_single_run(gpu_ok, tmp_path, capsys):
    """Each shard renders into its own folder (as on separate machines, with
    --depth so the extra files travel too); ``rotationnet merge`` joins them
    into exactly what one uninterrupted run writes."""
    from rotationnet import cli

    lib = _library(tmp_path / "lib")
    args = ["--size", "24", "--rig", "ring:6:30", "--depth"]
    assert cli.main(["render", str(lib), str(tmp_path / "single"), *args]) == 0
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i, d in enumerate(shards):
        assert cli.main(["render", str(lib), str(d), *args, "--shard", f"{i}/3"]) == 0
        assert 0 < len(load_dataset(d).objects) < 8
    assert cli.main(["merge", str(tmp_path / "merged"), *map(str, shards)]) == 0
    assert "8 objects" in capsys.readouterr().out

    def tree(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and not p.name.startswith("render")}
    single, merged = tree(tmp_path / "single"), tree(tmp_path / "merged")
    assert sorted(single) == sorted(merged)
    assert [k for k in single if single[k] != merged[k]] == []  # manifest.json included
    # merging again is a no-op that also fills in a lost file; other settings are refused
    lost = next((tmp_path / "merged" / "train").rglob("*_003_depth.png"))
    lost.unlink()
    assert cli.main(["merge", str(tmp_path / "merged"), *map(str, shards)]) == 0
    assert tree(tmp_path / "merged") == merged
    assert cli.main(["render", str(lib), str(tmp_path / "other"), "--size", "32", "--shard", "0/3"]) == 0
    assert cli.main(["merge", str(tmp_path / "merged"), str(tmp_path / "other")]) == 2
    assert "other settings" in capsys.readouterr().err
    assert cli.main(["merge", str(tmp_path / "m2"), str(tmp_path / "nothing")]) == 2
    assert "manifest not found" in capsys.readouterr().err


def test_flat_library_list_file_and_y_up(gpu_ok, tmp_path):
    from render.bulk import render_library
    from render.engine import RenderSettings

    flat = tmp_path / "flat" / "widget"
    flat.mkdir(parents=True)
    for i in range(5):
        trimesh.creation.box(extents=[0.2 + 0.1 * i, 0.5, 0.5]).export(flat / f"w{i}.stl")
    s = RenderSettings(rig="ring:4:0", size=32)
    summary = render_library(tmp_path / "flat", tmp_path / "o1", s, test_fraction=0.4, progress=False)
    assert summary.rendered == 5 and summary.ok
    assert sorted(o.split for o in load_dataset(tmp_path / "o1").objects) == ["test", "test", "train", "train", "train"]
    # a Y-up OBJ listed in a list file: its +Y marker must end up on top (+Z)
    side = trimesh.creation.box(extents=[0.6, 0.6, 0.6])
    mark = trimesh.creation.box(extents=[0.1, 0.1, 0.5])
    mark.apply_translation([0, 0.5, 0])
    trimesh.util.concatenate([side, mark]).export(tmp_path / "yup.obj")
    (tmp_path / "list.txt").write_text("yup.obj,thing,train\n")
    sy = RenderSettings(rig="ring:4:0", size=48, up_axis="Y")
    assert render_library(tmp_path / "list.txt", tmp_path / "o2", sy, progress=False).ok
    img = np.asarray(Image.open(tmp_path / "o2" / "train" / "thing" / "yup_000.png"))
    mask = np.any(img < 245, axis=-1)
    rows = np.nonzero(mask.any(axis=1))[0]
    assert mask[rows[0] + 1].sum() < mask[rows[-1] - 1].sum()  # thin marker on top


def test_gltf_scene_is_flattened(gpu_ok, tmp_path):
    """A GLB with two nodes (one moved by its node transform) renders as one mesh."""
    from render.meshes import load_mesh

    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(extents=[0.5, 0.5, 0.5]), node_name="a")
    far = np.eye(4)
    far[:3, 3] = [2.0, 0, 0]
    scene.add_geometry(trimesh.creation.box(extents=[0.5, 0.5, 0.5]), node_name="b", transform=far)
    path = tmp_path / "two.glb"
    scene.export(path)
    v, f = load_mesh(path)
    assert len(f) == 24 and np.ptp(v[:, 0]) == pytest.approx(2.5)
    with _renderer(rig="ring:4:0", size=48) as r:
        images, _, norm = r.render_file(path)
    widths = [np.any(im < 245, axis=-1).any(axis=0).sum() for im in images]
    assert min(widths[1], widths[3]) > 1.3 * max(widths[0], widths[2])  # side by side seen from ±Y


def test_contact_sheet(gpu_ok, tmp_path):
    from rotationnet import cli

    lib = _library(tmp_path / "lib", 1)
    out = tmp_path / "out"
    assert cli.main(["render", str(lib), str(out), "--size", "32"]) == 0
    assert cli.main(["sheet", str(out), "--thumb", "40"]) == 0
    sheet = Image.open(out / "sheets" / "cone.png")
    assert sheet.size == (160 + 12 * 40, 18 + 2 * 40)


def test_real_meshes_render_cleanly(gpu_ok, tmp_path):
    """PSB and ModelNet meshes: every view shows the object and none is clipped."""
    from render.engine import Renderer, RenderSettings
    from render.meshes import find_meshes

    psb = find_meshes(shared("meshes", "psb24"))
    picks = [j for j in psb if j.label in ("Car", "Quadruped", "Sword", "Door")][::5]
    picks += find_meshes(shared("modelnet-mini", "ModelNet40"))
    with Renderer(RenderSettings(rig="dodeca20", size=64)) as r:
        for job in picks:
            images, _, norm = r.render_file(job.path)
            border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
            assert border.min() >= 250, job.path
            assert all((im < 240).any() for im in images), job.path
            assert norm["scale"] > 0


def test_bulk_depth_maps_and_transparent_gray(gpu_ok, tmp_path):
    from rotationnet import cli

    lib = _library(tmp_path / "lib", 1)
    out = tmp_path / "out"
    assert cli.main(["render", str(lib), str(out), "--size", "32", "--depth", "--gray",
                     "--background", "transparent", "--limit", "1"]) == 0
    m = load_dataset(out)
    o = m.objects[0]
    img = Image.open(out / o.views[0])
    assert img.mode == "LA"
    d = np.asarray(Image.open(out / o.views[0].replace(".png", "_depth.png")))
    assert d.dtype == np.uint16 and d[0, 0] == 65535 and d.min() < 65535
    # decoded depth of the nearest pixel lies inside the unit sphere's depth range
    near = 1.5 + 2.0 * d.min() / 65534
    assert 1.5 <= near <= 2.5
    assert "uint16" in m.info["depth_encoding"]


def test_the_meshes_own_colours_are_drawn(gpu_ok, tmp_path):
    """Vertex colours of a PLY and a glTF material's base colour reach the fast
    engine's pixels; a mesh without colours stays grey."""
    import trimesh

    from render.meshes import load_mesh_colored, normalize

    box = trimesh.creation.box((1.0, 0.6, 0.4))
    red = box.copy()
    red.visual.vertex_colors = np.tile([220, 30, 30, 255], (len(red.vertices), 1)).astype(np.uint8)
    red.export(tmp_path / "red.ply")
    green = box.copy()
    green.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
        baseColorFactor=[30, 200, 40, 255]))
    green.export(tmp_path / "green.glb")
    box.export(tmp_path / "plain.ply")
    means = {}
    with _renderer(rig="ring12", size=48) as r:
        for name in ("red.ply", "green.glb", "plain.ply"):
            v, f, c = load_mesh_colored(tmp_path / name)
            vn, _ = normalize(v, f)
            img, _ = r.render(vn, f, c)
            obj = img[img.sum(-1) < 3 * 250]  # the object's pixels (background white)
            means[name] = obj.reshape(-1, 3).mean(0)
    assert means["red.ply"][0] > means["red.ply"][1] + 60
    assert means["green.glb"][1] > means["green.glb"][0] + 60
    assert abs(means["plain.ply"][0] - means["plain.ply"][1]) < 2


def test_blend_material_colour_reaches_the_asset(gpu_ok, tmp_path):
    """A .blend asset's material colour is read with its mesh (for its templates)."""
    import subprocess
    import sys
    from pathlib import Path

    import trimesh

    from render.blend import blend_asset_names, blend_object_mesh

    trimesh.creation.box((1.0, 0.6, 0.4)).export(tmp_path / "box.ply")
    script = Path(__file__).resolve().parents[1] / "make_blend_asset.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "box.ply"), str(tmp_path / "box.blend"), "RedBox",
                    "0.9,0.1,0.1"], check=True, capture_output=True)
    assert blend_asset_names(tmp_path / "box.blend") == ["RedBox"]
    v, f, c = blend_object_mesh(str(tmp_path / "box.blend"), "RedBox", with_colors=True)
    assert len(v) == 8 and c.shape == (8, 3)
    np.testing.assert_allclose(c, np.tile([0.9, 0.1, 0.1], (8, 1)), atol=1e-5)


def test_cameras_per_call_match_the_rig_and_any_number_is_chunked(gpu_ok):
    """Cameras given with the call draw exactly what the rig's cameras draw, and
    a call with more views than one atlas holds comes back whole and in order."""
    from rotationnet.core.views import direction, rolled_up

    v, f = _handed_mesh()
    with _renderer(rig="ring12", size=48) as r:
        rig_images, _ = r.render(v, f)
        given, _ = r.render(v, f, cameras=r.rig.cameras, up=r.rig.up)
        assert np.array_equal(rig_images, given)
        rng = np.random.default_rng(0)
        cams = direction(rng.uniform(0, 360, 150), rng.uniform(-60, 80, 150))
        ups = rolled_up(cams, rng.uniform(-30, 30, 150))
        many, _ = r.render(v, f, cameras=cams, up=ups)
        assert many.shape == (150, 48, 48, 3) and r._gpu["cap"] < 150  # several chunks
        for i in (0, 63, 64, 149):
            one, _ = r.render(v, f, cameras=cams[i:i + 1], up=ups[i:i + 1])
            assert np.array_equal(one[0], many[i])
        with pytest.raises(ValueError, match="cameras"):
            r.render(v, f, cameras=np.zeros((2, 3)))


@pytest.mark.parametrize("size, k", [((320, 240), (300.0, 180.0, 100.0)), ((240, 320), (280.0, 100.0, 180.0))])
def test_a_blender_camera_from_intrinsics_sees_what_they_project(gpu_ok, tmp_path, size, k):
    """Small spheres rendered by Workbench through a Blender camera set from K
    (rotationnet.core.camera) land where K projects their centres, landscape and portrait,
    principal point off the middle."""
    import bmesh
    import bpy
    from mathutils import Matrix
    from PIL import Image

    from rotationnet.core.camera import Intrinsics

    w, h = size
    fx, cx, cy = k
    intr = Intrinsics(np.array([[fx, 0, cx], [0, fx, cy], [0, 0, 1.0]]), w, h)
    cfg = intr.blender_camera()
    sc = bpy.data.scenes.new("rn_intrinsics")
    try:
        sc.render.engine = "BLENDER_WORKBENCH"
        sc.render.resolution_x, sc.render.resolution_y = cfg["resolution_x"], cfg["resolution_y"]
        sc.render.resolution_percentage = 100
        sc.render.film_transparent = True
        cam = bpy.data.objects.new("rn_cam", bpy.data.cameras.new("rn_cam"))
        sc.collection.objects.link(cam)
        sc.camera = cam
        for key in ("sensor_fit", "sensor_width", "lens", "shift_x", "shift_y"):
            setattr(cam.data, key, cfg[key])
        cam.matrix_world = Matrix.Identity(4)  # the camera frame is the world frame
        me = bpy.data.meshes.new("rn_ball")
        bm = bmesh.new()
        bmesh.ops.create_uvsphere(bm, u_segments=16, v_segments=8, radius=0.04)
        bm.to_mesh(me)
        bm.free()
        points = [(0.0, 0.0, -3.0), (0.45, 0.3, -3.0), (-0.5, -0.4, -2.5)]
        for p in points:
            o = bpy.data.objects.new("rn_ball", me)
            o.location = p
            sc.collection.objects.link(o)
        sc.render.filepath = str(tmp_path / "k.png")
        bpy.ops.render.render(write_still=True, scene=sc.name)
        alpha = np.asarray(Image.open(tmp_path / "k.png"))[..., 3] > 127
    finally:
        for o in list(sc.collection.objects):
            bpy.data.objects.remove(o, do_unlink=True)
        bpy.data.scenes.remove(sc)
    expected = intr.project(np.array(points))  # (u, v), pixel centres at half-integers
    for u, v in expected:
        r, c = int(v), int(u)
        win = alpha[max(r - 12, 0):r + 12, max(c - 12, 0):c + 12]
        ys, xs = np.nonzero(win)
        assert len(ys) > 10, (u, v)
        assert abs(xs.mean() + max(c - 12, 0) + 0.5 - u) < 0.6 and abs(ys.mean() + max(r - 12, 0) + 0.5 - v) < 0.6


def test_posed_render_through_intrinsics_matches_the_orbit_camera_and_crops_windows(gpu_ok):
    """render_posed (a mesh at a pose, a picture's K, a square window of that picture)
    draws what the orbit camera draws when given the same camera, and a window of a
    larger picture holds the object where K projects it."""
    import math

    from rotationnet.core.camera import Intrinsics
    from rotationnet.core.views import direction, rolled_up, world_to_camera

    v, f = _handed_mesh()
    size = 64
    with _renderer(size=size, background="transparent") as r:
        c = direction([30.0, 200.0], [20.0, -10.0])
        u = rolled_up(c, [0.0, 12.0])
        orbit, _ = r.render(v, f, cameras=c, up=u)
        rot = world_to_camera(c, u)  # mesh (world) frame → camera frame
        t = -np.einsum("nij,nj->ni", rot, c * r.settings.distance)
        fpx = size / 2 / math.tan(r.settings.fov / 2)
        k = np.array([[fpx, 0, size / 2], [0, fpx, size / 2], [0, 0, 1.0]])
        posed = r.render_posed(v, f, rotations=rot, translations=t, K=k, windows=[[0, 0, size]] * 2)
        same = np.all(posed == orbit, axis=-1).mean()
        assert same > 0.995, same
        # the mesh 4 units in front of a 640×480 camera, seen through a window around its projection
        intr = Intrinsics.from_fov(60.0, 640, 480)
        pose_t = np.array([0.8, -0.3, -4.0])
        uv = intr.project(v.astype(np.float64) + pose_t)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        side = float((hi - lo).max() * 1.5)
        win = np.array([*(lo + hi) / 2 - side / 2, side])
        img = r.render_posed(v, f, rotations=np.eye(3), translations=pose_t, K=intr.K, windows=win)[0]
        ys, xs = np.nonzero(img[..., 3] > 127)
        scale = size / side
        np.testing.assert_allclose([xs.min(), ys.min()], (lo - win[:2]) * scale, atol=1.5)
        np.testing.assert_allclose([xs.max() + 1, ys.max() + 1], (hi - win[:2]) * scale, atol=1.5)
        with pytest.raises(ValueError, match="behind"):
            r.render_posed(v, f, rotations=np.eye(3), translations=[0, 0, 5.0], K=intr.K, windows=win)
