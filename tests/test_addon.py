"""The Blender add-on, end to end and headless: build the extension zip, install it
offline, configure a small trained model and an asset library, classify a
rendered reference image of a held-out object from a viewpoint between the
rig's cameras, place the asset, and check class and pose."""

import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rotationnet.core import protocol as P

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("gpu_ok")


def _direction(az_deg, el_deg):
    from rotationnet.core.views import direction

    return direction(az_deg, el_deg)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import synth

    from render.bulk import render_library
    from render.engine import Renderer, RenderSettings
    from render.procedural import write_library
    from rotationnet import cli
    from rotationnet.core.views import from_cameras

    tmp = tmp_path_factory.mktemp("addon")
    lib = write_library(tmp / "library", instances=6, test=1, seed=1, categories=synth.CLASSES)
    held_out_chair = next((lib / "chair" / "test").glob("*.ply"))
    # a .blend asset in the chair class: a copy of a held-out chair, marked as asset
    subprocess.run([sys.executable, str(ROOT / "tests" / "make_blend_asset.py"),
                    str(held_out_chair), str(lib / "chair" / "blend_chair.blend"),
                    "BlendChair"], check=True, capture_output=True)
    data = tmp / "data"
    s = render_library(lib, data, RenderSettings(rig="ring12", size=64, supersample=2), rotated_copies=2,
                       progress=False)
    assert s.ok
    run = tmp / "run"
    assert cli.main(["train", str(data), "--out", str(run), "--image-size", "64", "--head-epochs", "150",
                     "--seed", "0"]) == 0
    # references: the held-out chair seen from between the rig's cameras
    refs = {"chair_45": (45.0, 25.0), "chair_160": (160.0, 35.0)}
    cams = np.array([_direction(*refs[k]) for k in refs] + [[0, 0, 1.0]])
    paths = []
    with Renderer(RenderSettings(rig=from_cameras(cams, upright=False), size=64, supersample=2)) as r:
        images, _, _ = r.render_file(held_out_chair)
    from PIL import Image

    for i, k in enumerate(refs):
        p = tmp / f"{k}.png"
        Image.fromarray(images[i]).save(p)
        paths.append(str(p))
    out = subprocess.run([sys.executable, str(ROOT / "blender_addon" / "build.py"), "--out", str(tmp / "dist")],
                         check=True, capture_output=True, text=True)
    zip_path = out.stdout.strip().splitlines()[-1]
    return {"tmp": tmp, "lib": lib, "run": run, "refs": paths, "dirs": [_direction(*refs[k]) for k in refs],
            "zip": zip_path}


def _scenario(setup, **extra):
    cfg = {"zip": setup["zip"], "run": str(setup["run"]), "library": str(setup["lib"]), "references": setup["refs"],
           "user_resources": str(setup["tmp"] / f"blender-{len(extra)}"), "python": sys.executable, **extra}
    path = setup["tmp"] / "scenario.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, str(ROOT / "blender_addon" / "scenario.py"), str(path)],
                       capture_output=True, text=True, timeout=900)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(line[7:])


def test_extension_zip_is_valid(setup):
    names = zipfile.ZipFile(setup["zip"]).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert any(n.startswith("wheels/rotationnet-") for n in names)
    assert not any("build.py" in n or "scenario.py" in n or "__pycache__" in n for n in names)
    # the bundled wheel holds only rotationnet/__init__.py and rotationnet/core (numpy-only, no torch)
    import io

    whl = next(n for n in names if n.startswith("wheels/rotationnet-"))
    inner = zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(setup["zip"]).read(whl))).namelist()
    code = sorted(n for n in inner if n.endswith(".py"))
    assert "rotationnet/__init__.py" in code and "rotationnet/core/protocol.py" in code
    assert all(n == "rotationnet/__init__.py" or n.startswith("rotationnet/core/") for n in code), code


def test_classify_and_place_in_blender(setup):
    out = _scenario(setup)
    assert out["enabled"]
    assert out["torch_in_blender"] is False  # torch stays in the worker
    assert "reference image" in out["no_reference_error"]
    assert out["busy_after_click"] is True  # the click returned at once; the worker answers later
    assert out["error"] == "", out["error"]
    res = out["result"]
    assert res["class"] == "chair" and res["asset"]["label"] == "chair"
    assert [r["class"] for r in res["ranking"]][0] == "chair" and len(res["ranking"]) == 3
    for im in res["images"]:
        assert Path(im["thumbnail"]).is_file()
    # the placed object
    placed = out["placed"]
    # the library's own .ply under one Empty that carries the pose (not a mesh rebuilt from the index's cache)
    assert out["objects_added"] == 2 and out["place_return"] == ["FINISHED"]
    assert placed["type"] == "EMPTY" and out["mesh_objects"] == 1
    assert out["place_warning"] == ""  # the imported geometry is the indexed one
    assert P.check_asset(res["asset"])["source"].endswith(".ply") and res["asset"]["format"] == "ply"
    assert placed["rotationnet_class"] == "chair"
    assert placed["rotationnet_asset"] == res["asset"]["id"]
    np.testing.assert_allclose(placed["location"], [1.0, 2.0, 0.0], atol=1e-4)  # asset centre on the cursor
    R = np.array(placed["rotation"])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-5)
    # the scene camera sees the placed asset from the reference's viewpoint, within
    # the rig's angular resolution (30° between neighbouring cameras); all
    # synthetic chairs share one canonical frame, so the comparison is direct
    ref_dir = setup["dirs"][0]  # the active reference is the first one
    seen = np.array(out["camera_in_asset_frame"])
    angle = math.degrees(math.acos(np.clip(seen @ ref_dir, -1, 1)))
    assert angle <= 30.0, (angle, res["images"])
    # and the image is upright: the camera's up is the asset's up side
    assert out["camera_up_in_asset_frame"][2] > 0.5
    # the alternative poses: the next one turns the asset about its centre, and back again
    assert out["next_pose_return"] == ["FINISHED"] and out["next_pose_choice"] == 1
    assert out["next_pose_turned_deg"] > 20.0 and out["next_pose_moved"] < 1e-3
    assert out["back_to_best"]
    # warm second click, cancel, missing model
    assert out["warm_classify_seconds"] < out["classify_seconds"]
    assert out["worker_alive"] and not out["worker_alive_after_cancel"]
    assert out["after_cancel_error"] == "cancelled"
    assert "no trained model" in out["missing_model_error"]
    assert "worker stopped" in out["worker_died_error"]
    assert out["references"] == 2 and len(res["images"]) == 2  # a file and an image loaded in Blender


def test_blend_asset_library(setup, tmp_path):
    """Objects marked as assets in a .blend file are indexed and placed too."""
    blend_only = tmp_path / "blendlib" / "chair"
    blend_only.mkdir(parents=True)
    (blend_only / "blend_chair.blend").symlink_to(setup["lib"] / "chair" / "blend_chair.blend")
    out = _scenario(setup, library_override=str(tmp_path / "blendlib"))
    assert out["error"] == "", out["error"]
    assert out["result"]["asset"]["kind"] == "blend"
    assert out["result"]["asset"]["id"].endswith("::BlendChair")
    assert P.check_asset(out["result"]["asset"])["object"] == "BlendChair"
    placed = out["placed"]
    assert out["objects_added"] == 2 and out["mesh_objects"] == 1 and out["place_warning"] == ""
    assert placed["rotationnet_class"] == "chair"
    np.testing.assert_allclose(placed["location"], [1.0, 2.0, 0.0], atol=1e-4)  # not the asset's own (5, -3, 1)
    seen = np.array(out["camera_in_asset_frame"])
    angle = math.degrees(math.acos(np.clip(seen @ setup["dirs"][0], -1, 1)))
    assert angle <= 30.0


def test_asset_index_is_cached_and_rebuilt_for_changed_assets(setup, tmp_path):
    """The worker side: first use renders every asset, the next only changed ones."""
    import shutil

    import trimesh

    from rotationnet.app.service import Service, _json_default

    lib = tmp_path / "lib"
    shutil.copytree(setup["lib"], lib, ignore=shutil.ignore_patterns("*.blend"))
    msgs = []
    svc = Service(msgs.append)
    cfg = {"id": 1, "run": str(setup["run"]), "library": str(lib), "cache": str(tmp_path / "cache")}
    assert svc.configure(cfg)["assets"] == 24
    first = svc.index_({"id": 2})
    assert first["rebuilt"] == 24 and not first["failed"]
    assert any("indexing" in m.get("message", "") for m in msgs)
    svc2 = Service(msgs.append)  # a new worker process finds the cache
    svc2.configure(cfg)
    assert svc2.index_({"id": 3})["rebuilt"] == 0
    trimesh.creation.icosphere().export(lib / "mug" / "train" / "mug_01.ply")
    (lib / "car" / "train" / "car_02.ply").write_text("broken")
    svc2.configure({**cfg, "library": str(lib) + "/"})  # re-list the library
    again = svc2.index_({"id": 4})
    assert again["rebuilt"] == 1
    assert len(again["failed"]) == 1 and "car_02.ply" in again["failed"][0]["error"]
    res = svc2.classify({"id": 5, "images": setup["refs"][:1], "top_k": 2})
    assert res["class"] == res["model_class"] == "chair" and res["asset"]["label"] == "chair"
    # the reply's asset names the library's file, never the worker's cache (what the add-on checks too)
    asset = P.check_asset(json.loads(json.dumps(res["asset"], default=_json_default)))
    assert Path(asset["source"]).parent.parent == lib / "chair" and asset["up_axis"] == "Z"
    assert str(tmp_path / "cache") not in json.dumps(res["asset"], default=_json_default)
    # a library without the predicted class still gives an asset and its pose (it used to stop
    # with "no asset of class 'chair'"): the search widens to the whole library
    cars = tmp_path / "cars"
    shutil.copytree(lib / "car", cars / "car")
    (cars / "car" / "train" / "car_02.ply").unlink()
    svc2.configure({**cfg, "library": str(cars)})
    res = svc2.classify({"id": 6, "images": setup["refs"][:1]})
    assert res["model_class"] == "chair" and res["asset"]["label"] == "car" and "asset_view_direction" in res["images"][0]
    assert res["class"] == "car"  # the answer's class is the placed asset's
