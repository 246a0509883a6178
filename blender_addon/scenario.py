"""Drive the installed add-on in Blender-as-a-module, the way an artist would.

Run as its own process (Blender's process must never load torch):

    python blender_addon/scenario.py CONFIG.json

CONFIG: {"zip", "run", "library", "references": [...], "user_resources", "python"}.
Prints one JSON line: classification, placement and checks.
"""

import json
import os
import sys
import time

cfg = json.load(open(sys.argv[1]))
os.environ["BLENDER_USER_RESOURCES"] = cfg["user_resources"]

import bpy  # noqa: E402
import numpy as np  # noqa: E402

out = {}
t0 = time.time()
bpy.ops.extensions.package_install_files(filepath=cfg["zip"], repo="user_default", enable_on_install=True)
mod_name = "bl_ext.user_default.rotationnet"
out["enabled"] = mod_name in bpy.context.preferences.addons
import importlib  # noqa: E402

addon = importlib.import_module(mod_name)
worker = importlib.import_module(mod_name + ".worker")
prefs = bpy.context.preferences.addons[mod_name].preferences
prefs.python_path = cfg["python"]
prefs.run_dir = cfg["run"]
prefs.library = cfg.get("library_override") or cfg["library"]
prefs.top_k = 3



def op(fn, *a, **kw):
    """Call an operator; an operator that reports an error raises RuntimeError
    when called from Python: return the message instead."""
    try:
        return list(fn(*a, **kw))
    except RuntimeError as e:
        return str(e)


# an error first: classify with no reference images
out["no_reference_return"] = op(bpy.ops.rotationnet.classify)
out["no_reference_error"] = bpy.context.scene.rotationnet.error

for p in cfg["references"][:1]:
    bpy.ops.rotationnet.add_reference(filepath=p)
for p in cfg["references"][1:]:  # the others as images already loaded in Blender
    img = bpy.data.images.load(p)
    bpy.ops.rotationnet.add_loaded_image(image=img.name)
out["references"] = len(bpy.context.scene.rotationnet.references)
bpy.context.scene.rotationnet.active_reference = 0

# a scene camera looking at the cursor from a chosen direction
cam_dir = np.array(cfg.get("camera_direction", [0.3, -1.0, 0.4]))
cam_dir /= np.linalg.norm(cam_dir)
cursor = np.array(cfg.get("cursor", [1.0, 2.0, 0.0]))
bpy.context.scene.cursor.location = cursor
cam_data = bpy.data.cameras.new("cam")
cam = bpy.data.objects.new("cam", cam_data)
bpy.context.scene.collection.objects.link(cam)
cam.location = cursor + 6.0 * cam_dir
from mathutils import Vector  # noqa: E402

cam.rotation_mode = "QUATERNION"
cam.rotation_quaternion = (Vector(cursor) - cam.location).to_track_quat("-Z", "Y")
bpy.context.scene.camera = cam
bpy.context.view_layer.update()

t1 = time.time()
bpy.ops.rotationnet.classify()
out["busy_after_click"] = worker.busy()
ok = worker.wait_idle(600)
out["classify_seconds"] = time.time() - t1
st = bpy.context.scene.rotationnet
out["error"] = st.error
out["result"] = st.result

t2 = time.time()
n_before = len(bpy.context.scene.objects)
r = op(bpy.ops.rotationnet.place)
out["place_seconds"] = time.time() - t2
out["place_return"] = r
out["place_warning"] = bpy.context.scene.rotationnet.warning
new = [o for o in bpy.context.scene.objects if "rotationnet_class" in o.keys()]
if new:
    obj = new[-1]  # the placed Empty; the file's objects hang below it
    out["placed"] = {k: (obj[k].to_list() if hasattr(obj[k], "to_list") else obj[k])
                     for k in obj.keys() if k.startswith("rotationnet_")}
    out["placed"]["type"] = obj.type
    meshes = [o for o in obj.children_recursive if o.type == "MESH"]
    mw = np.array(obj.matrix_world)
    lin = mw[:3, :3]
    scale = np.cbrt(abs(np.linalg.det(lin)))
    rot = lin / scale
    # the asset's centre (its bounding-box centre in the Empty's frame) in the world
    inv = np.linalg.inv(mw)
    pts = []
    for m in meshes:
        co = np.empty(len(m.data.vertices) * 3, np.float32)
        m.data.vertices.foreach_get("co", co)
        w = np.array(m.matrix_world)
        pts.append(co.reshape(-1, 3) @ (inv @ w)[:3, :3].T + (inv @ w)[:3, 3])
    co = np.concatenate(pts)
    center_local = (co.min(axis=0) + co.max(axis=0)) / 2
    center_world = mw[:3, :3] @ center_local + mw[:3, 3]
    out["placed"]["location"] = center_world.tolist()
    out["placed"]["rotation"] = rot.tolist()
    out["placed"]["scale"] = float(scale)
    # where the camera stands as seen from the asset's own frame
    to_cam = np.array(cam.matrix_world.translation) - center_world
    out["camera_in_asset_frame"] = (rot.T @ (to_cam / np.linalg.norm(to_cam))).tolist()
    cam_up = np.array(cam.matrix_world.col[1].xyz)
    out["camera_up_in_asset_frame"] = (rot.T @ cam_up).tolist()
    out["vertices"] = sum(len(m.data.vertices) for m in meshes)
    out["mesh_objects"] = len(meshes)
    # step through the alternative poses and back: each step is one undo step and turns the asset in place
    before = np.array(obj.matrix_world)
    out["next_pose_return"] = op(bpy.ops.rotationnet.next_pose, step=1)
    after = np.array(obj.matrix_world)
    out["next_pose_turned_deg"] = float(np.degrees(np.arccos(np.clip(
        (np.trace((before[:3, :3] / scale).T @ (after[:3, :3] / scale)) - 1) / 2, -1, 1))))
    out["next_pose_moved"] = float(np.linalg.norm((after @ np.append(center_local, 1))[:3] - center_world))
    out["next_pose_choice"] = int(obj["rotationnet_pose_choice"])
    op(bpy.ops.rotationnet.next_pose, step=-1)
    out["back_to_best"] = bool(np.allclose(np.array(obj.matrix_world), before, atol=1e-5))
out["objects_added"] = len(bpy.context.scene.objects) - n_before

# a second click is warm: the worker is still up
t3 = time.time()
bpy.ops.rotationnet.classify()
worker.wait_idle(600)
out["warm_classify_seconds"] = time.time() - t3
out["worker_alive"] = worker.is_alive()

# cancel kills the worker and reports it
bpy.ops.rotationnet.classify()
bpy.ops.rotationnet.cancel()
out["after_cancel_error"] = bpy.context.scene.rotationnet.error
out["worker_alive_after_cancel"] = worker.is_alive()

# the worker dies in the middle of a request: a message, no hang, no crash
bpy.ops.rotationnet.classify()
worker._proc.kill()
worker.wait_idle(60)
out["worker_died_error"] = bpy.context.scene.rotationnet.error

# failures show a message, never crash: missing model
prefs.run_dir = "/nonexistent/run"
out["missing_model_return"] = op(bpy.ops.rotationnet.classify)
out["missing_model_error"] = bpy.context.scene.rotationnet.error
out["torch_in_blender"] = "torch" in sys.modules
worker.shutdown()
out["total_seconds"] = time.time() - t0
print("RESULT " + json.dumps(out))
