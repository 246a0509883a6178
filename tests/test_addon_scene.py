"""Populate from a whole picture (blender_addon/populate.py): a scene reply built here by
hand from real library meshes (PSB PLY files, one turned into a +Y-up OFF file) is written
to a .blend by blender_addon/write_scene.py, and the .blend is reopened in a fresh process
(tests/addon_scene_scenario.py): the camera sees as the reply's K, the picture is its
background, every object's vertices in the camera frame are R · v + location, the floor
is the world's z = 0; no objects, broken files and bad replies behave; and the installed
add-on populates in one undo step, steps through an object's alternatives, and reruns
the worker with the boxes.  Walk-throughs the same way: a hand-made walkthrough reply
(numbered JPEG frames of a camera circling the set) becomes a camera keyed along the
track with the frames as an image sequence behind it, and the add-on's Populate from
Walk-through sends the worker the pictures or the video and populates its answer."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rotationnet.core.camera import Intrinsics
from rotationnet.core.views import matrix_to_quaternion, quaternion_to_matrix, up_axis_rotation

from conftest import shared

ROOT = Path(__file__).resolve().parents[1]
WRITE_SCENE = ROOT / "blender_addon" / "write_scene.py"
SCENARIO = ROOT / "tests" / "addon_scene_scenario.py"

pytestmark = pytest.mark.usefixtures("blender")

K = [[520.0, 0.0, 300.0], [0.0, 520.0, 250.0], [0.0, 0.0, 1.0]]  # principal point off the centre: shifts
WIDTH, HEIGHT = 640, 480


def _rz(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _camera(target, az_deg, pitch_deg, dist, roll_deg):
    """Camera-to-world rotation (columns x, y, z; −z forward) and position, looking at ``target``."""
    az, pitch = math.radians(az_deg), math.radians(pitch_deg)
    back = np.array([math.cos(pitch) * math.cos(az), math.cos(pitch) * math.sin(az), math.sin(pitch)])
    z = back
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
    x, y = c * x + s * y, -s * x + c * y
    return np.stack([x, y, z], axis=1), np.asarray(target, float) + dist * back


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Three real meshes as the worker would describe them (ASSET_FIELDS), their index-frame vertices,
    a picture, and a scene of them standing on a floor."""
    from PIL import Image

    from render.meshes import load_mesh, normalize

    tmp = tmp_path_factory.mktemp("addon_scene")
    psb = shared("meshes", "psb24")
    lib = tmp / "library"
    sources = {"Door/m1708.ply": psb / "Door" / "train" / "m1708.ply",
               "House/m462.ply": psb / "House" / "train" / "m462.ply"}
    # a +Y-up OFF file: the Tool mesh's index-frame vertices turned back (x, y, z) → (x, z, −y)
    tv, tf = load_mesh(psb / "Tool" / "train" / "m1102.ply")
    raw = tv @ up_axis_rotation("Y")  # rows: R_Y^T v, so R_Y · raw = v
    off = lib / "Tool" / "m1102.off"
    off.parent.mkdir(parents=True)
    off.write_text(f"OFF\n{len(raw)} {len(tf)} 0\n" + "".join(f"{a!r} {b!r} {c!r}\n" for a, b, c in raw)
                   + "".join(f"3 {a} {b} {c}\n" for a, b, c in tf))
    sources["Tool/m1102.off"] = off
    assets, verts = {}, {}
    for aid, src in sources.items():
        up = "Y" if src.suffix == ".off" else "Z"
        v, f = load_mesh(src, up_axis=up)
        _, norm = normalize(v, f)
        assets[aid] = {"id": aid, "label": aid.split("/")[0], "score": 0.5, "source": str(src), "kind": "mesh",
                       "object": None, "format": src.suffix[1:], "center": norm["center"], "scale": norm["scale"],
                       "up_axis": up}
        verts[aid] = v
    picture = tmp / "living room.png"
    px = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    px[..., 0] = np.arange(WIDTH)[None, :] * 255 // WIDTH
    px[..., 2] = np.arange(HEIGHT)[:, None] * 255 // HEIGHT
    Image.fromarray(px).save(picture)
    return {"tmp": tmp, "assets": assets, "verts": verts, "picture": picture}


def _reply(library, floor=True):
    """A scene reply: the assets standing on the floor z = 0 (each turned about the vertical), seen by a
    tilted, rolled camera; object 0 has an alternative pose of its own asset and one of another asset."""
    assets, verts = library["assets"], library["verts"]
    layout = [("Door/m1708.ply", (0.0, 0.0), 20.0), ("House/m462.ply", (1.4, 0.6), 100.0),
              ("Tool/m1102.off", (-1.2, 0.8), 200.0), ("Door/m1708.ply", (0.6, -1.0), -40.0)]
    world = []
    for aid, (x, y), yaw in layout:
        r = _rz(yaw)
        lo = (verts[aid] @ r.T).min(axis=0)
        world.append((aid, r, np.array([x, y, -lo[2]])))  # standing on z = 0
    cam_r, cam_pos = _camera([0.2, 0.0, 0.3], -120.0, 30.0, 6.0, 5.0)
    to_cam = cam_r.T
    intr = Intrinsics(np.array(K), WIDTH, HEIGHT, "given")

    def answer(aid, r, t, conf):
        return {"asset": aid, "rotation_wxyz": matrix_to_quaternion(to_cam @ r).tolist(),
                "location": (to_cam @ (t - cam_pos)).tolist(), "confidence": conf}

    objects = []
    for n, (aid, r, t) in enumerate(world):
        uv = intr.project((verts[aid] @ r.T + t - cam_pos) @ to_cam.T)
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        o = {**answer(aid, r, t, 0.9 - 0.1 * n), "label": assets[aid]["label"],
             "box": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
             "score": 0.7, "alternatives": [], "thumbnail": None}
        objects.append(o)
    aid0, r0, t0 = world[0]
    objects[0]["alternatives"] = [answer(aid0, r0 @ _rz(180.0), t0 + [0.1, 0.0, 0.0], 0.3),
                                  answer("House/m462.ply", r0, t0 + [0.0, 0.2, 0.0], 0.2)]
    reply = {"image": str(library["picture"]), "camera": intr.to_dict(), "objects": objects,
             "floor": {"normal": (to_cam @ [0.0, 0.0, 1.0]).tolist(), "offset": float(cam_pos[2])} if floor else None,
             "assets": assets, "message": ""}
    return json.loads(json.dumps(reply))  # a copy: tests change it


WK = [[130.0, 0.0, 75.0], [0.0, 130.0, 62.5], [0.0, 0.0, 1.0]]  # K / 4: K's Blender camera at the frames' size
WWIDTH, WHEIGHT = 160, 120


def _walk_reply(library, n=4):
    """A walkthrough reply: a camera circling the door and the house that stand on the floor z = 0, its
    ``n`` frames written as frame_000001.jpg, … (each a plain colour); everything in the first frame's
    camera frame.  Object 0 has an alternative pose and another asset; object 2's file is missing."""
    from PIL import Image

    assets, verts = dict(library["assets"]), library["verts"]
    folder = library["tmp"] / "walk" / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    cams = [_camera([0.5, 0.0, 0.4], az, 25.0 + 3 * k, 6.0 - 0.3 * k, 4.0 - 3 * k)
            for k, az in enumerate(np.linspace(-130.0, -50.0, n))]
    c0, p0 = cams[0]
    frames = []
    for k, (c, pos) in enumerate(cams):
        image = folder / f"frame_{k + 1:06d}.jpg"
        Image.new("RGB", (WWIDTH, WHEIGHT), (60 * k % 256, 100, 200 - 40 * k)).save(image, quality=80)
        frames.append({"image": str(image), "source": str(image), "time_s": None,
                       "rotation_wxyz": matrix_to_quaternion(c.T @ c0).tolist(), "position": (c0.T @ (pos - p0)).tolist()})
    gone = library["tmp"] / "walk" / "gone" / "m1102.off"
    assets["Tool/gone.off"] = {**assets["Tool/m1102.off"], "id": "Tool/gone.off", "source": str(gone)}

    def answer(aid, r, t, conf):
        return {"asset": aid, "rotation_wxyz": matrix_to_quaternion(c0.T @ r).tolist(),
                "location": (c0.T @ (np.asarray(t, float) - p0)).tolist(), "confidence": conf}

    objects = []
    for n_obj, (aid, (x, y), yaw) in enumerate([("Door/m1708.ply", (0.0, 0.0), 20.0),
                                                 ("House/m462.ply", (1.4, 0.6), 100.0),
                                                 ("Tool/gone.off", (-1.2, 0.8), 200.0)]):
        r = _rz(yaw)
        lo = (verts[aid if aid in verts else "Tool/m1102.off"] @ r.T).min(axis=0)
        t = np.array([x, y, -lo[2]])  # standing on z = 0
        o = {**answer(aid, r, t, 0.9 - 0.2 * n_obj), "label": assets[aid]["label"], "frames_seen": [0, 1, n - 1],
             "alternatives": []}
        if n_obj == 0:
            o["alternatives"] = [answer(aid, r @ _rz(180.0), t + [0.1, 0.0, 0.0], 0.3),
                                 answer("House/m462.ply", r, t + [0.0, 0.2, 0.0], 0.2)]
        objects.append(o)
    reply = {"source": frames[0]["image"], "camera": Intrinsics(np.array(WK), WWIDTH, WHEIGHT, "given").to_dict(),
             "frames": frames, "skipped": [], "objects": objects,
             "floor": {"normal": (c0.T @ [0.0, 0.0, 1.0]).tolist(), "offset": float(p0[2])},
             "scale": {"source": "assets", "objects": 2}, "assets": assets, "message": ""}
    return json.loads(json.dumps(reply))


def _write(tmp, reply, name, *extra):
    src = tmp / f"{name}.json"
    src.write_text(json.dumps(reply))
    out = tmp / f"{name}.blend"
    r = subprocess.run([sys.executable, str(WRITE_SCENE), str(src), str(out), *extra], capture_output=True,
                       text=True, errors="replace", timeout=300, env={**os.environ, "BLENDER_USER_RESOURCES": ""})
    return r, out


def _read(blend):
    r = subprocess.run([sys.executable, str(SCENARIO), "read", str(blend)], capture_output=True, text=True,
                       errors="replace", timeout=300)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(line[7:])


def _pose(answer):
    m = np.eye(4)
    m[:3, :3] = quaternion_to_matrix(np.array(answer["rotation_wxyz"]))
    m[:3, 3] = answer["location"]
    return m


def _hausdorff(a, b) -> float:
    from scipy.spatial import cKDTree

    a, b = np.asarray(a), np.asarray(b)
    return float(max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max()))


def _check_objects(library, reply, out, placed):
    """Each placed object's world vertices, in the camera's frame, are R · v + location."""
    cam = np.array(out["camera"]["matrix_world"])
    roots = {r["index"]: r for r in out["roots"]}
    assert sorted(roots) == placed
    for n in placed:
        o, root = reply["objects"][n], roots[n]
        assert root["asset"] == o["asset"] and root["choice"] == 0
        v = library["verts"][o["asset"]]
        size = 1.0 / library["assets"][o["asset"]]["scale"]
        w = np.array(root["vertices"])
        inv = np.linalg.inv(cam)
        got = w @ inv[:3, :3].T + inv[:3, 3]
        pose = _pose(o)
        want = v @ pose[:3, :3].T + pose[:3, 3]
        assert _hausdorff(got, want) < 1e-4 * size, (n, o["asset"])
        # the Empty carries the pose: camera.matrix_world @ [R | location], the source's size
        np.testing.assert_allclose(np.array(root["matrix_world"]), cam @ pose, atol=1e-5)
        assert root["collections"] == [Path(reply["image"]).stem]


def _check_camera(out):
    want = Intrinsics(np.array(K), WIDTH, HEIGHT).blender_camera()
    cam = out["camera"]
    assert out["scene_camera"] is not None and cam["type"] == "PERSP"
    for k in ("lens", "sensor_width", "shift_x", "shift_y"):
        assert cam[k] == pytest.approx(want[k], rel=1e-6, abs=1e-7), k
    assert cam["sensor_fit"] == want["sensor_fit"]
    assert out["resolution"] == [want["resolution_x"], want["resolution_y"], 100]
    assert cam["show_background_images"]
    return cam


@pytest.fixture(scope="module")
def written(library):
    reply = _reply(library)
    r, blend = _write(library["tmp"], reply, "scene")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout  # stdout holds only the JSON line; Blender's own output goes to stderr
    return {"reply": reply, "stdout": json.loads(lines[0]), "blend": blend, "out": _read(blend)}


def test_write_scene_reports_the_blend(written):
    s = written["stdout"]
    assert s["blend"] == str(written["blend"]) and s["objects"] == 4 and s["warnings"] == []
    assert written["blend"].is_file()
    assert not [p for p in written["blend"].parent.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_camera_sees_as_the_reply_and_shows_the_picture(written, library):
    out = written["out"]
    cam = _check_camera(out)
    (bg,) = cam["backgrounds"]
    assert os.path.realpath(bg["image"]) == os.path.realpath(library["picture"])
    assert bg["alpha"] >= 0.99 and bg["show"] and bg["depth"] == "BACK" and bg["size"] == [WIDTH, HEIGHT]
    # one collection named after the picture holds the camera and the objects
    assert out["collections"] == ["living room"] and cam["collections"] == ["living room"]
    assert out["top_level_objects"] == []
    props = out["collection_props"]["living room"]
    assert json.loads(props["rotationnet_scene"])["objects"] == written["reply"]["objects"]
    assert props["rotationnet_picture"] == str(library["picture"])
    assert out["torch_in_blender"] is False
    # the clipping range holds every object
    m = np.linalg.inv(np.array(cam["matrix_world"]))
    depth = -np.concatenate([np.array(r["vertices"]) @ m[2, :3] + m[2, 3] for r in out["roots"]])
    assert cam["clip_start"] < depth.min() and depth.max() < cam["clip_end"]


def test_objects_are_where_the_reply_puts_them(written, library):
    _check_objects(library, written["reply"], written["out"], [0, 1, 2, 3])
    roots = written["out"]["roots"]
    assert roots[0]["meshes"] == roots[3]["meshes"]  # one asset twice: imported once, the data shared
    assert written["out"]["library_collections"] == [".RotationNet Library"]


def test_floor_becomes_the_ground(written, library):
    """The floor maps to z = 0 with +Z up: the objects standing on it have their lowest points at z = 0,
    the camera stands above x = y = 0 at its height over the floor, looking along +Y."""
    out, reply = written["out"], written["reply"]
    for root in out["roots"]:
        size = 1.0 / library["assets"][root["asset"]]["scale"]
        assert np.array(root["vertices"])[:, 2].min() == pytest.approx(0.0, abs=1e-4 * size), root["asset"]
    cam = np.array(out["camera"]["matrix_world"])
    np.testing.assert_allclose(cam[:3, 3], [0.0, 0.0, reply["floor"]["offset"]], atol=1e-6)
    forward = -cam[:3, 2]
    assert abs(forward[0]) < 1e-6 and forward[1] > 0 and forward[2] < 0  # looking down at the set, along +Y
    np.testing.assert_allclose(cam[:3, :3].T @ [0, 0, 1.0], reply["floor"]["normal"], atol=1e-6)


def test_without_a_floor_the_camera_stands_at_the_origin_looking_along_y(library):
    reply = _reply(library, floor=False)
    r, blend = _write(library["tmp"], reply, "nofloor")
    assert r.returncode == 0, r.stderr[-3000:]
    out = _read(blend)
    cam = np.array(out["camera"]["matrix_world"])
    np.testing.assert_allclose(cam, [[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], atol=1e-7)
    _check_objects(library, reply, out, [0, 1, 2, 3])


def test_no_objects_gives_just_the_camera(library):
    reply = {**_reply(library), "objects": [], "floor": None, "assets": {},
             "message": "no library object found in the picture"}
    r, blend = _write(library["tmp"], reply, "empty")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert s["objects"] == 0 and s["warnings"] == [] and "no library object" in s["message"]
    out = _read(blend)
    _check_camera(out)
    assert out["scene_objects"] == ["living room camera"] and out["roots"] == []
    assert out["collection_props"]["living room"]["rotationnet_message"] == "no library object found in the picture"


def test_a_broken_asset_file_is_a_warning_naming_it_and_the_others_are_placed(library):
    reply = _reply(library)
    broken = library["tmp"] / "broken" / "House" / "m462.ply"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99\n" + os.urandom(300))
    gone = library["tmp"] / "gone" / "m1102.off"
    reply["assets"]["House/m462.ply"] = {**reply["assets"]["House/m462.ply"], "source": str(broken)}
    reply["assets"]["Tool/m1102.off"] = {**reply["assets"]["Tool/m1102.off"], "source": str(gone)}
    r, blend = _write(library["tmp"], reply, "broken")
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert s["objects"] == 2
    assert len(s["warnings"]) == 2, s["warnings"]
    assert str(broken) in s["warnings"][0] and "object 2" in s["warnings"][0]
    assert str(gone) in s["warnings"][1] and "not found" in s["warnings"][1]
    out = _read(blend)
    _check_objects(library, reply, out, [0, 3])
    # what the failed imports made is gone: one template collection, for the door
    assert sum(1 for n in out["scene_objects"] if n.startswith("m462")) == 0


@pytest.mark.parametrize("case", ["missing", "not json", "no camera", "skewed camera", "bad floor", "bad asset"])
def test_unreadable_or_unusable_result_exits_2_naming_the_file(library, case):
    tmp = library["tmp"]
    reply = _reply(library)
    name = "bad_" + case.replace(" ", "_")
    if case == "missing":
        src, out = tmp / "nothing.json", tmp / f"{name}.blend"
        r = subprocess.run([sys.executable, str(WRITE_SCENE), str(src), str(out)], capture_output=True, text=True,
                           timeout=300)
    elif case == "not json":
        src, out = tmp / f"{name}.json", tmp / f"{name}.blend"
        src.write_text("{not json")
        r = subprocess.run([sys.executable, str(WRITE_SCENE), str(src), str(out)], capture_output=True, text=True,
                           timeout=300)
    else:
        if case == "no camera":
            del reply["camera"]
        elif case == "skewed camera":
            reply["camera"]["K"] = [[520.0, 0.0, 300.0], [0.0, 400.0, 250.0], [0.0, 0.0, 1.0]]  # fx ≠ fy
        elif case == "bad floor":
            reply["floor"] = {"normal": [0.0, 0.0, 0.0], "offset": 1.0}
        else:
            reply["assets"]["House/m462.ply"]["format"] = "fbx"
        r, out = _write(tmp, reply, name)
        src = tmp / f"{name}.json"
    assert r.returncode == 2, (r.stdout, r.stderr[-2000:])
    assert r.stdout == ""
    assert f"write_scene: {src}:" in r.stderr
    assert not out.exists()
    words = {"missing": "cannot read", "not json": "not a JSON", "no camera": "no field 'camera'",
             "skewed camera": "square pixels", "bad floor": "normal is zero", "bad asset": "format"}[case]
    assert words in r.stderr, r.stderr[-2000:]


def test_populate_failing_midway_leaves_nothing(library, walk_reply):
    src, walk = library["tmp"] / "midway.json", library["tmp"] / "midway_walk.json"
    src.write_text(json.dumps(_reply(library)))
    walk.write_text(json.dumps(walk_reply))
    r = subprocess.run([sys.executable, str(SCENARIO), "midway", str(src), str(walk)], capture_output=True,
                       text=True, errors="replace", timeout=300)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(line[7:])
    for kind in ("scene", "walk"):  # a picture's populate, then a walk-through's
        out = res[kind]
        assert out["error"] == "out of memory", kind
        assert out["after"] == out["before"], kind  # no camera, collection, object, mesh, picture or track left
        # the scene camera, resolution and frame range as they were
        assert out["settings"] == out["settings_before"], kind


# -- walk-throughs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def walk_reply(library):
    return _walk_reply(library)


@pytest.fixture(scope="module")
def walk_written(library, walk_reply):
    reply = json.loads(json.dumps(walk_reply))
    r, blend = _write(library["tmp"], reply, "walk")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    out = _read(blend)
    return {"reply": reply, "stdout": json.loads(lines[0]), "blend": blend, "out": out,
            "world": np.array(out["camera"]["track"]["matrix_world"][0])}


def _frame_pose(frame):
    """[Rᵀ | position]: the frame's camera frame → the walk-through's world frame."""
    m = np.eye(4)
    m[:3, :3] = quaternion_to_matrix(np.array(frame["rotation_wxyz"])).T
    m[:3, 3] = frame["position"]
    return m


def test_walkthrough_camera_is_keyed_along_the_track(walk_written):
    out, reply, world = walk_written["out"], walk_written["reply"], walk_written["world"]
    n = len(reply["frames"])
    s = walk_written["stdout"]
    assert s["frames"] == n and s["objects"] == 2
    # the camera sees as the reply's K at the frames' size
    want = Intrinsics(np.array(WK), WWIDTH, WHEIGHT).blender_camera()
    cam = out["camera"]
    for k in ("lens", "sensor_width", "shift_x", "shift_y"):
        assert cam[k] == pytest.approx(want[k], rel=1e-6, abs=1e-7), k
    assert out["resolution"] == [WWIDTH, WHEIGHT, 100]
    track = cam["track"]
    assert track["frame_range"] == [1, n]
    # one key per frame on each of location (3) and the quaternion (4), linear between them
    assert sorted((c[0], c[1]) for c in track["fcurves"]) == [("location", i) for i in range(3)] + [
        ("rotation_quaternion", i) for i in range(4)]
    assert all(c[2] == n and c[3] == ["LINEAR"] for c in track["fcurves"]), track["fcurves"]
    # world: the floor is z = 0 with +Z up, the first frame's camera above x = y = 0 looking along +Y
    np.testing.assert_allclose(world[:3, 3], [0.0, 0.0, reply["floor"]["offset"]], atol=1e-6)
    forward = -world[:3, 2]
    assert abs(forward[0]) < 1e-6 and forward[1] > 0
    np.testing.assert_allclose(world[:3, :3].T @ [0, 0, 1.0], reply["floor"]["normal"], atol=1e-6)
    # at frame k the camera is world @ [R | -R p]⁻¹ of frames[k - 1]
    for k, frame in enumerate(reply["frames"]):
        np.testing.assert_allclose(np.array(track["matrix_world"][k]), world @ _frame_pose(frame), atol=1e-5)
    assert out["collections"] == ["frame_000001"] and cam["collections"] == ["frame_000001"]
    props = out["collection_props"]["frame_000001"]
    assert props["rotationnet_kind"] == "walkthrough" and props["rotationnet_frames"] == n
    assert json.loads(props["rotationnet_scene"])["frames"] == reply["frames"]


def test_walkthrough_background_is_the_frames_as_an_image_sequence(walk_written):
    track, frames = walk_written["out"]["camera"]["track"], walk_written["reply"]["frames"]
    (bg,) = walk_written["out"]["camera"]["backgrounds"]
    assert bg["show"] and bg["depth"] == "BACK" and bg["alpha"] >= 0.99
    assert track["image_user"] == {"source": "SEQUENCE", "frame_start": 1, "frame_duration": len(frames),
                                   "frame_offset": 0, "auto_refresh": True, "filepath": frames[0]["image"]}
    # timeline frame k shows frames[k - 1]
    assert track["background_files"] == [f["image"] for f in frames]


def test_walkthrough_objects_are_placed_once_in_the_world(walk_written, library):
    out, reply, world = walk_written["out"], walk_written["reply"], walk_written["world"]
    roots = {r["index"]: r for r in out["roots"]}
    assert sorted(roots) == [0, 1]  # object 2's file is missing
    for n, root in roots.items():
        o = reply["objects"][n]
        assert root["asset"] == o["asset"] and root["choice"] == 0
        np.testing.assert_allclose(np.array(root["matrix_world"]), world @ _pose(o), atol=1e-5)
        size = 1.0 / library["assets"][o["asset"]]["scale"]
        assert np.array(root["vertices"])[:, 2].min() == pytest.approx(0.0, abs=1e-4 * size)  # on the floor
    (w,) = walk_written["stdout"]["warnings"]
    assert "object 3" in w and reply["assets"]["Tool/gone.off"]["source"] in w and "not found" in w


@pytest.mark.parametrize("case", ["missing field", "unknown asset"])
def test_unusable_walkthrough_exits_2_naming_the_file(library, walk_reply, case):
    reply = json.loads(json.dumps(walk_reply))
    if case == "missing field":
        del reply["frames"][1]["position"]
    else:
        reply["objects"][1]["asset"] = "Chair/nowhere.ply"
    name = "bad_walk_" + case.replace(" ", "_")
    r, out = _write(library["tmp"], reply, name)
    assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr[-2000:])
    assert f"write_scene: {library['tmp'] / name}.json:" in r.stderr
    assert not out.exists()
    words = {"missing field": "frame 1 has no field 'position'",
             "unknown asset": "'Chair/nowhere.ply' is not among the reply's assets"}[case]
    assert words in r.stderr, r.stderr[-2000:]


def test_usage(tmp_path):
    r = subprocess.run([sys.executable, str(WRITE_SCENE), "only_one.json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "usage:" in r.stderr


# -- the installed add-on --------------------------------------------------------------

FAKE_WORKER = '''
import json, os, shutil, sys
sys.path.insert(0, {root!r})
from rotationnet.core import protocol
reply = json.load(open({reply!r}))
walk = json.load(open({walk!r}))
print(json.dumps(protocol.ready_reply(os.getpid())), flush=True)
for line in sys.stdin:
    req = protocol.parse_request(line)
    with open({log!r}, "a") as f:
        f.write(json.dumps(req) + "\\n")
    rid = req["id"]
    if req["cmd"] == "scene" and req["image"].endswith("broken.png"):
        print(json.dumps(protocol.error_reply(rid, req["image"] + ": cannot read the picture")), flush=True)
    elif req["cmd"] == "scene":
        print(json.dumps(protocol.progress_reply(rid, 0.5, "looking for objects")), flush=True)
        res = dict(reply, image=req["image"])
        if "boxes" in req:  # exactly one object per box
            objs = reply["objects"]
            res["objects"] = [dict(objs[i % len(objs)], box=b) for i, b in enumerate(req["boxes"])]
        print(json.dumps(protocol.ok_reply(rid, res)), flush=True)
    elif req["cmd"] == "walkthrough":  # the frames written into out/frames, numbered, as the worker does
        print(json.dumps(protocol.progress_reply(rid, 0.5, "tracking")), flush=True)
        os.makedirs(os.path.join(req["out"], "frames"))
        frames = []
        for i, f in enumerate(walk["frames"]):
            frames.append(dict(f, image=os.path.join(req["out"], "frames", "frame_%06d.jpg" % (i + 1))))
            shutil.copyfile(f["image"], frames[-1]["image"])
        res = dict(walk, frames=frames, source=req.get("video") or req["images"][0])
        print(json.dumps(protocol.ok_reply(rid, res)), flush=True)
    else:
        print(json.dumps(protocol.ok_reply(rid, {{}})), flush=True)
    if req["cmd"] == "shutdown":
        break
'''


@pytest.fixture(scope="module")
def addon(library, walk_reply):
    tmp = library["tmp"] / "addon"
    tmp.mkdir()
    reply = _reply(library)
    (tmp / "reply.json").write_text(json.dumps(reply))
    walk = walk_reply
    (tmp / "walk.json").write_text(json.dumps(walk))
    log = tmp / "requests.jsonl"
    log.write_text("")
    (tmp / "fake_worker.py").write_text(FAKE_WORKER.format(root=str(ROOT), reply=str(tmp / "reply.json"),
                                                           walk=str(tmp / "walk.json"), log=str(log)))
    python = tmp / "python"  # the worker's "interpreter": answers the add-on's check, runs the fake worker
    python.write_text(f'#!/bin/sh\n[ "$1" = "-c" ] && exit 0\nexec {sys.executable} {tmp / "fake_worker.py"}\n')
    python.chmod(0o755)
    (tmp / "library").mkdir()
    (tmp / "broken.png").write_bytes(b"not a picture")
    (tmp / "saved").mkdir()
    (tmp / "saved" / "walk.mp4").write_bytes(b"not really a video: the stand-in worker does not read it")
    build = subprocess.run([sys.executable, str(ROOT / "blender_addon" / "build.py"), "--out", str(tmp / "dist")],
                           check=True, capture_output=True, text=True)
    cfg = {"zip": build.stdout.strip().splitlines()[-1], "user_resources": str(tmp / "blender"), "reply": reply,
           "python": str(python), "library": str(tmp / "library"), "picture": str(library["picture"]),
           "bad_picture": str(tmp / "broken.png"), "requests": str(log),
           "walk_pictures": [f["image"] for f in walk["frames"]], "video": str(tmp / "saved" / "walk.mp4"),
           "blend": str(tmp / "saved" / "walked.blend")}
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, str(SCENARIO), "addon", str(tmp / "cfg.json")], capture_output=True,
                       text=True, errors="replace", timeout=600)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, r.stdout[-3000:] + r.stderr[-3000:]
    return {"out": json.loads(line[7:]), "reply": reply, "zip": cfg["zip"], "walk": walk, "cfg": cfg}


def test_zip_bundles_populate_but_not_the_command_line_script(addon):
    import zipfile

    names = zipfile.ZipFile(addon["zip"]).namelist()
    assert "populate.py" in names and "write_scene.py" not in names


def test_populate_is_one_undo_step(addon):
    out = addon["out"]
    assert {"populate_from_picture", "populate_scene", "scene_next_pose", "scene_next_asset",
            "scene_remove_object", "scene_add_box"} <= set(out["operators"])
    p = out["populate"]
    assert p["return"] == ["FINISHED"] and p["error"] == "" and p["warning"] == ""
    before = p["before"]["collections"]
    assert p["after"] == sorted([*before, "living room"]) and p["collection"] == "living room"
    assert len(p["roots"]) == 4
    assert out["undo"]["return"] == ["FINISHED"] and out["undo"]["collections"] == before
    assert out["undo"]["camera"] != "living room camera"
    assert out["redo"]["collections"] == p["after"]
    assert out["torch_in_blender"] is False


def test_next_pose_and_next_asset_step_through_the_alternatives(addon):
    reply = addon["reply"]
    o = reply["objects"][0]
    alt_pose, alt_asset = o["alternatives"]
    steps = addon["out"]["steps"]
    want = [(alt_pose, 1, o["asset"]), (o, 0, o["asset"]),  # Next Pose: the asset's other pose, and back
            (alt_asset, 2, "House/m462.ply"), (o, 0, o["asset"]),  # Next Asset: the other asset, and back
            (alt_pose, 1, o["asset"])]  # Next Pose backwards wraps round
    for step, (ans, choice, asset) in zip(steps, want):
        assert step["return"] == ["FINISHED"], step
        root = step["root"]
        assert root["choice"] == choice and root["asset"] == asset and root["index"] == 0
        cam = np.array(step["camera_matrix"])
        np.testing.assert_allclose(np.array(root["matrix_world"]), cam @ _pose(ans), atol=1e-5)
        assert root["confidence"] == pytest.approx(ans["confidence"])
    assert steps[2]["root"]["meshes"] != steps[1]["root"]["meshes"]  # another file imported
    # undo takes back the last step only
    assert addon["out"]["undo_step"]["root"]["choice"] == 0


def test_remove_and_replace(addon):
    out = addon["out"]
    assert out["remove"]["return"] == ["FINISHED"] and out["remove"]["before"] == 4
    assert out["remove"]["after"] == [0, 2, 3]
    assert "no other asset" in out["no_alternative_asset"]["error"]
    rep = out["replace"]
    assert rep["return"] == ["FINISHED"] and rep["collections"].count(rep["replaced"]) == 1
    assert rep["collection"] == rep["replaced"] and rep["roots"] == [0, 1, 2, 3]  # the new one, under the old name
    populated = [c for c in rep["collections"] if c.startswith("living room")]
    assert len([c for c in rep["cameras"] if c.startswith("living room camera")]) == len(populated)  # old one gone


def test_populate_from_picture_and_rerun_with_a_box_through_the_worker(addon):
    out = addon["out"]
    fp = out["from_picture"]
    assert fp["return"] == ["FINISHED"] and fp["busy"] and fp["idle"]
    assert fp["error"] == "" and fp["collection"] == "living room" and fp["roots"] == [0, 1, 2, 3]
    reqs = [q for q in out["requests"] if q["cmd"] == "scene"]
    assert reqs[0]["image"] == str(Path(addon["reply"]["image"])) and "boxes" not in reqs[0]
    # the rerun: the boxes of the objects still there (object 2 was removed) and the typed one,
    # with the first reply's camera, replacing the collection
    rr = out["rerun"]
    assert rr["return"] == ["FINISHED"] and rr["error"] == ""
    objs = addon["reply"]["objects"]
    assert reqs[1]["boxes"] == [objs[0]["box"], objs[2]["box"], objs[3]["box"], [5.0, 6.0, 70.0, 80.0]]
    assert reqs[1]["camera"] == {"K": addon["reply"]["camera"]["K"]}
    assert rr["collection"] == "living room" and rr["roots"] == [0, 1, 2, 3]
    assert rr["collections"].count("living room") == 1
    assert "width and height" in out["empty_box"]["error"]
    assert "picture not found" in out["missing_picture"]["error"]
    we = out["worker_error"]
    assert we["return"] == ["FINISHED"] and "broken.png: cannot read the picture" in we["error"]
    assert we["new_collections"] == 0
    cmds = [q["cmd"] for q in out["requests"]]
    assert cmds.count("configure") == cmds.count("scene") + cmds.count("walkthrough") == 3 + 2  # one per request


def test_populate_from_walkthrough_through_the_worker(addon):
    out, walk, cfg = addon["out"], addon["walk"], addon["cfg"]
    assert {"populate_from_walkthrough", "populate_walkthrough_reply"} <= set(out["operators"])
    reqs = [q for q in out["requests"] if q["cmd"] == "walkthrough"]
    assert len(reqs) == 2  # one picture alone was refused before asking the worker
    # pictures: in name order, the scene camera's K at the frames' size, frames into the add-on's cache
    assert reqs[0]["images"] == cfg["walk_pictures"] and "video" not in reqs[0]
    np.testing.assert_allclose(reqs[0]["camera"]["K"], WK, atol=1e-4)
    assert reqs[0]["out"].startswith(cfg["user_resources"]) and "walkthroughs" in reqs[0]["out"]
    n = len(walk["frames"])
    w = out["walk"]
    assert w["return"] == ["FINISHED"] and w["error"] == "", w
    assert w["collection"] == "frame_000001" and w["kind"] == "walkthrough" and w["roots"] == [0, 1]
    assert w["keyed"] and w["frame_range"] == [1, n] and w["camera"] == "frame_000001 camera"
    assert "Tool/gone.off" in w["warning"]
    assert os.path.realpath(w["background"]) == os.path.realpath(Path(reqs[0]["out"]) / "frames" / "frame_000001.jpg")
    # one undo step takes the whole walk-through back (frame range included), redo brings it again
    assert out["walk_undo"]["collection"] is None and "frame_000001" not in out["walk_undo"]["collections"]
    assert out["walk_undo"]["frame_range"] != [1, n]
    assert out["walk_redo"]["collection"] == "frame_000001" and out["walk_redo"]["frame_range"] == [1, n]
    assert "two or more pictures" in out["walk_one_picture"]["error"]
    # a video, the .blend saved: the frames go beside it, the background's path is relative to it
    v = out["walk_video"]
    assert reqs[1]["video"] == cfg["video"] and "images" not in reqs[1] and "camera" not in reqs[1]
    assert reqs[1]["out"] == str(Path(cfg["blend"]).parent / "rotationnet_walkthroughs" / "walk")
    assert v["return"] == ["FINISHED"] and v["error"] == "" and v["collection"] == "walk" and v["roots"] == [0, 1]
    assert v["background"] == "//rotationnet_walkthroughs/walk/frames/frame_000001.jpg"
    assert out["torch_in_blender"] is False


def test_next_asset_on_a_walkthrough_object_places_it_in_the_world(addon):
    """The walk-through's answers are in its world frame: Next Asset puts the other asset at
    reference @ [R | t] (the first frame's camera), wherever the camera is on its track now."""
    out, walk = addon["out"], addon["walk"]
    step = out["walk_next_asset"]
    assert step["return"] == ["FINISHED"] and step["error"] == "", step
    alt = walk["objects"][0]["alternatives"][1]
    root = step["root"]
    assert root["asset"] == alt["asset"] == "House/m462.ply" and root["choice"] == 2
    world = np.array(out["walk_redo"]["camera_at_1"])
    np.testing.assert_allclose(np.array(root["matrix_world"]), world @ _pose(alt), atol=1e-5)
    assert not np.allclose(np.array(step["camera_now"]), world, atol=1e-3)  # the camera had moved on
