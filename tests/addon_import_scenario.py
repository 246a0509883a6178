"""Place through the installed add-on in Blender-as-a-module (its own process:
torch must never load here), for tests/test_addon_import.py.

    python tests/addon_import_scenario.py CONFIG.json

CONFIG: {"zip", "python", "user_resources", "reference", "cursor", "camera_direction",
"steps": [{"name", "library", "up_axis", "keep_size", "places"} or {"name", "from", "override",
"y_up_center", "keep_size", "places"}]}.  A step with a library classifies it (no model: the
library alone) and places its asset ``places`` times; a step "from" another reuses that reply
with asset fields replaced (another source file, the other up axis).  Prints one JSON line: per step the reply's asset and pose, what each Place made
(hierarchy, world vertices, materials, images, UV layers), its warnings or error.
"""

import json
import os
import sys
import time

cfg = json.load(open(sys.argv[1]))
os.environ["BLENDER_USER_RESOURCES"] = cfg["user_resources"]

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Vector  # noqa: E402

t0 = time.time()
bpy.ops.extensions.package_install_files(filepath=cfg["zip"], repo="user_default", enable_on_install=True)
mod_name = "bl_ext.user_default.rotationnet"
import importlib  # noqa: E402

worker = importlib.import_module(mod_name + ".worker")
prefs = bpy.context.preferences.addons[mod_name].preferences
prefs.python_path = cfg["python"]
prefs.run_dir = ""
scene = bpy.context.scene
st = scene.rotationnet
bpy.ops.rotationnet.add_reference(filepath=cfg["reference"])
cursor = np.array(cfg["cursor"], float)
scene.cursor.location = cursor
cam_dir = np.array(cfg["camera_direction"], float)
cam_dir /= np.linalg.norm(cam_dir)
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
scene.collection.objects.link(cam)
cam.location = cursor + 6.0 * cam_dir
cam.rotation_mode = "QUATERNION"
cam.rotation_quaternion = (Vector(cursor) - cam.location).to_track_quat("-Z", "Y")
scene.camera = cam
bpy.context.view_layer.update()
bpy.ops.ed.undo_push(message="scenario set up")
out = {"camera": {"location": list(cam.matrix_world.translation), "up": list(cam.matrix_world.col[1].xyz)}}


def op(fn, *a, **kw):
    try:
        return list(fn(*a, **kw))
    except RuntimeError as e:
        return str(e)


def counts():
    return {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "materials", "images", "collections")}


def describe(root):
    """The placed Empty and everything below it, in world space."""
    objs = []
    for o in [root, *root.children_recursive]:
        d = {"name": o.name, "type": o.type, "parent": o.parent.name if o.parent else None,
             "data": o.data.name if o.data is not None else None,
             "library": o.library.name if o.library else None,
             "data_library": o.data.library.name if o.data is not None and o.data.library else None}
        if o.type == "MESH":
            me = o.data
            co = np.empty(len(me.vertices) * 3, np.float32)
            me.vertices.foreach_get("co", co)
            w = np.array(o.matrix_world)
            d["world"] = (co.reshape(-1, 3).astype(np.float64) @ w[:3, :3].T + w[:3, 3]).tolist()
            d["uv_layers"] = [u.name for u in me.uv_layers]
            d["materials"] = [m.name if m else None for m in me.materials]
            images = []
            for m in me.materials:
                if m is None or m.node_tree is None:
                    continue
                for n in m.node_tree.nodes:
                    if n.type == "TEX_IMAGE" and n.image is not None:
                        img = n.image
                        px = np.empty(img.size[0] * img.size[1] * 4, np.float32)
                        if img.size[0]:
                            img.pixels.foreach_get(px)
                        images.append({"name": img.name, "filepath": bpy.path.abspath(img.filepath),
                                       "packed": img.packed_file is not None, "size": list(img.size),
                                       "pixels": px.reshape(-1, 4)[:, :3].round(3).tolist()})
            d["images"] = images
        objs.append(d)
    return {"objects": objs, "matrix_world": [list(r) for r in root.matrix_world],
            "props": {k: (root[k].to_list() if hasattr(root[k], "to_list") else root[k])
                      for k in root.keys() if k.startswith("rotationnet_")}}


out["steps"] = []
results = {}
for step in cfg["steps"]:
    rec = {"name": step["name"]}
    prefs.keep_size = step.get("keep_size", True)
    prefs.link_blend = step.get("link", False)
    if "library" in step:
        prefs.library = step["library"]
        prefs.up_axis = step.get("up_axis", "Z")
        t1 = time.time()
        bpy.ops.rotationnet.classify()
        worker.wait_idle(600)
        rec["classify_seconds"] = time.time() - t1
        rec["classify_error"] = st.error
        res = st.result or {}
    else:  # another step's reply with some asset fields replaced (no worker round trip)
        res = json.loads(json.dumps(results[step["from"]]))
        res["asset"].update(step.get("override", {}))
        if step.get("y_up_center"):  # the same file indexed +Y-up: (x, y, z) → (x, −z, y)
            x, y, z = res["asset"]["center"]
            res["asset"]["center"] = [x, -z, y]
        st.result_json = json.dumps(res)
    results[step["name"]] = res
    rec["asset"] = res.get("asset")
    rec["pose"] = {k: res["images"][0].get(k) for k in ("asset_view_direction", "asset_view_up")} if res else None
    rec["places"] = []
    for _ in range(step.get("places", 1)):
        scene_before = sorted(o.name for o in scene.objects)
        before = counts()
        t2 = time.time()
        r = op(bpy.ops.rotationnet.place)
        p = {"return": r, "seconds": time.time() - t2, "error": st.error, "warning": st.warning,
             "counts_before": before, "counts_after": counts(), "scene_before": scene_before,
             "scene_after": sorted(o.name for o in scene.objects)}
        root = bpy.context.view_layer.objects.active
        if r == ["FINISHED"] and root is not None and "rotationnet_class" in root:
            p.update(describe(root))
        rec["places"].append(p)
    out["steps"].append(rec)

# one undo removes the last placement whole, and keeps the classification
st.result_json = json.dumps(results[cfg["steps"][0]["name"]])
bpy.ops.ed.undo_push(message="before the last Place")  # every click in the panel pushes one
names = sorted(o.name for o in scene.objects)
op(bpy.ops.rotationnet.place, "EXEC_DEFAULT", True)  # with its undo step, as a click in the panel
out["undo"] = {"before": names, "placed": sorted(o.name for o in bpy.context.scene.objects)}
out["undo"]["return"] = op(bpy.ops.ed.undo)
out["undo"]["after"] = sorted(o.name for o in bpy.context.scene.objects)
out["undo"]["result_kept"] = bpy.context.scene.rotationnet.result is not None
out["torch_in_blender"] = "torch" in sys.modules
worker.shutdown()
out["total_seconds"] = time.time() - t0
print("RESULT " + json.dumps(out))
