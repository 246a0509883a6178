"""Blender add-on latency, click → asset placed, on CPU; and the README picture.

    python benchmarks/addon_latency.py [--quick] [--figure docs/addon_example.png]

Builds a small asset library (the test suite's procedural props), renders and
trains a model on it, builds the extension zip, then drives Blender (bpy as a
module, its own process, no torch inside) through the add-on:

* first use — worker start + model load + asset index built from scratch,
* cold      — worker start + model load, index cached on disk,
* warm      — the worker is already up.

Each time: Classify then Place.  Goals: warm ≤ 2 s, cold ≤ 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_result  # noqa: E402

SCENARIO = r'''
import json, os, sys, time
cfg = json.load(open(sys.argv[1]))
os.environ["BLENDER_USER_RESOURCES"] = cfg["user_resources"]
import bpy, importlib
from mathutils import Vector
t_import = time.time()
if cfg["install"]:
    bpy.ops.extensions.package_install_files(filepath=cfg["zip"], repo="user_default", enable_on_install=True)
else:
    import addon_utils
    addon_utils.enable("bl_ext.user_default.rotationnet", default_set=True)
worker = importlib.import_module("bl_ext.user_default.rotationnet.worker")
prefs = bpy.context.preferences.addons["bl_ext.user_default.rotationnet"].preferences
prefs.python_path, prefs.run_dir, prefs.library = cfg["python"], cfg["run"], cfg["library"]
for p in cfg["references"]:
    bpy.ops.rotationnet.add_reference(filepath=p)
bpy.context.scene.rotationnet.active_reference = 0
bpy.context.scene.cursor.location = (0, 0, 0)
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
bpy.context.scene.collection.objects.link(cam)
cam.location = (4.0, -5.0, 3.0)
cam.rotation_mode = "QUATERNION"
cam.rotation_quaternion = (-cam.location).to_track_quat("-Z", "Y")
bpy.context.scene.camera = cam
bpy.context.view_layer.update()
times = []
for n in range(cfg["clicks"]):
    st = bpy.context.scene.rotationnet
    st.result_json = ""                      # a fresh click: classify, then place
    t0 = time.time()
    bpy.ops.rotationnet.place()              # no result yet → classify, place when done
    worker.wait_idle(600)
    times.append(time.time() - t0)
    assert st.error == "", st.error
obj = [o for o in bpy.data.objects if "rotationnet_class" in o.keys()][-1]
import numpy as np
mw = np.array(obj.matrix_world); rot = mw[:3, :3] / np.cbrt(abs(np.linalg.det(mw[:3, :3])))
to_cam = np.array(cam.matrix_world.translation) - mw[:3, 3]
res = st.result
print("RESULT " + json.dumps({"times": times, "result": res,
      "cam_dir": (rot.T @ (to_cam / np.linalg.norm(to_cam))).tolist(),
      "cam_up": (rot.T @ np.array(cam.matrix_world.col[1].xyz)).tolist(),
      "torch": "torch" in sys.modules}))
worker.shutdown()
'''


CATEGORIES = ("chair", "desk_lamp", "mug", "car")  # props whose pose the figure shows


def prepare(tmp: Path, quick: bool) -> dict:
    from PIL import Image

    from render.bulk import render_library
    from render.engine import Renderer, RenderSettings
    from render.procedural import write_library
    from render.meshes import load_normalized
    from rotationnet import cli
    from rotationnet.core.views import direction

    instances, held_out = (6, 1) if quick else (14, 2)
    lib = write_library(tmp / "library", instances=instances, test=held_out, seed=3, categories=CATEGORIES)
    s = render_library(lib, tmp / "data", RenderSettings(rig="ring12", size=112, supersample=2),
                       rotated_copies=2, progress=False)
    assert s.ok, s.failed
    run = tmp / "run"
    assert cli.main(["train", str(tmp / "data"), "--out", str(run), "--image-size", "112",
                     "--head-epochs", "150"]) == 0
    refs = [("car", 40.0, 20.0), ("chair", 200.0, 35.0), ("mug", 300.0, 25.0)]
    paths = []
    for label, az, el in refs:
        vn, f, _, _ = load_normalized(next((lib / label / "test").glob("*.ply")))
        with Renderer(RenderSettings(size=224, supersample=2)) as r:
            images, _ = r.render(vn, f, cameras=direction(az, el)[None])
        p = tmp / f"ref_{label}.png"
        Image.fromarray(images[0]).save(p)
        paths.append(str(p))
    out = subprocess.run([sys.executable, str(ROOT / "blender_addon" / "build.py"), "--out", str(tmp / "dist")],
                         check=True, capture_output=True, text=True)
    return {"lib": str(lib), "run": str(run), "refs": paths, "refs_meta": refs,
            "zip": out.stdout.strip().splitlines()[-1]}


def drive(tmp: Path, prep: dict, ref: str, install: bool, clicks: int, user: Path, run: str | None = None) -> dict:
    cfg = {"zip": prep["zip"], "run": prep["run"] if run is None else run, "library": prep["lib"], "references": [ref],
           "python": sys.executable, "user_resources": str(user), "install": install, "clicks": clicks}
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    (tmp / "scenario.py").write_text(SCENARIO)
    r = subprocess.run([sys.executable, str(tmp / "scenario.py"), str(tmp / "cfg.json")], capture_output=True,
                       text=True, timeout=1800)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if not line:
        sys.exit(r.stdout[-2000:] + r.stderr[-4000:])
    return json.loads(line[7:])


def figure(prep: dict, shots: list[dict], path: Path) -> None:
    """Each reference beside the placed asset as the scene camera sees it,
    rendered by the project's renderer."""
    from PIL import Image, ImageDraw

    from render.engine import Renderer, RenderSettings
    from render.meshes import load_normalized

    rows = []
    for ref, shot in zip(prep["refs"], shots):
        res = shot["result"]
        v, f, _, _ = load_normalized(res["asset"]["source"], res["asset"]["up_axis"])
        with Renderer(RenderSettings(size=224, supersample=2)) as r:
            placed, _ = r.render(v, f, cameras=np.array([shot["cam_dir"]]), up=np.array([shot["cam_up"]]))
        a = Image.open(ref).convert("RGB").resize((224, 224))
        b = Image.fromarray(placed[0])
        row = Image.new("RGB", (448 + 12, 224 + 22), (255, 255, 255))
        row.paste(a, (0, 22))
        row.paste(b, (236, 22))
        dr = ImageDraw.Draw(row)
        dr.text((4, 4), "reference", fill=(0, 0, 0))
        conf = res["images"][0].get("confidence", 0.0)
        dr.text((240, 4), f"placed: {res['asset']['id']} ({res['class']} {res['probability']:.0%}), "
                          f"pose {conf:.0%} sure", fill=(0, 0, 0))
        rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), (255, 255, 255))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--figure", default=None, help="also write the README picture here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        os.environ.setdefault("BLENDER_USER_RESOURCES", str(tmp / "blender-bench"))
        prep = prepare(tmp, args.quick)
        user = tmp / "blender-user"
        first = drive(tmp, prep, prep["refs"][0], install=True, clicks=3, user=user)
        cold = drive(tmp, prep, prep["refs"][0], install=False, clicks=3, user=user)
        rows = [
            {"case": "first use (worker start, model load, index build)", "seconds": first["times"][0]},
            {"case": "cold (worker start, model load, cached index)", "seconds": cold["times"][0]},
            {"case": "warm (worker up)", "seconds": float(np.median(first["times"][1:] + cold["times"][1:]))},
        ]
        bare = drive(tmp, prep, prep["refs"][0], install=False, clicks=3, user=user, run="")
        rows += [{"case": "no model: cold (worker start, cached index)", "seconds": bare["times"][0]},
                 {"case": "no model: warm", "seconds": float(np.median(bare["times"][1:]))}]
        print_table(rows, ["case", "seconds"])
        assert not first["torch"] and not cold["torch"]
        shots = [first] + [drive(tmp, prep, ref, install=False, clicks=1, user=user) for ref in prep["refs"][1:]]
        if args.figure:
            figure(prep, shots, Path(args.figure))
            print(f"wrote {args.figure}")
        path = write_result("addon_latency" + ("_quick" if args.quick else ""), rows,
                            {"goal": "warm <= 2 s, cold <= 15 s",
                             "classes": [s["result"]["class"] for s in shots],
                             "expected": [m[0] for m in prep["refs_meta"]]})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
