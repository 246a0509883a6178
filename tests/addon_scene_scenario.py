"""Blender-side probes for tests/test_addon_scene.py, each run as its own process
(Blender's process never loads torch).

    python tests/addon_scene_scenario.py read SCENE.blend
        open a .blend written by blender_addon/write_scene.py and describe it: the
        scene camera and its background, the collections, every populated object's
        world matrix and world-space vertices; for an animated camera its keys and,
        at every frame of the scene's range, its world matrix and the background's file.
    python tests/addon_scene_scenario.py midway REPLY.json [WALKTHROUGH.json]
        populate (from the checkout, in this process) with a step that fails after
        the camera and the objects were made: everything it made is removed; the
        same for populate_walkthrough when a walkthrough reply is given.
    python tests/addon_scene_scenario.py addon CONFIG.json
        install the add-on zip and drive the whole-picture operators: populate a
        reply in one undo step, undo it, Next Pose / Next Asset / Remove, a
        replacing populate, and Populate from Picture / Add Box & Rerun through a
        worker (CONFIG: {"zip", "user_resources", "reply", "python", "library",
        "picture", "bad_picture", "requests", "walk_pictures", "video", "blend"}),
        then Populate from Walk-through with pictures (the scene camera's lens) and,
        the file saved, with a video; Undo; Next Asset on a walk-through object.

Prints one line ``RESULT {json}``.
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="rotationnet-test-blender-"))
mode, arg = sys.argv[1], sys.argv[2]
if mode == "addon":
    cfg = json.load(open(arg))
    os.environ["BLENDER_USER_RESOURCES"] = cfg["user_resources"]

import bpy  # noqa: E402
import numpy as np  # noqa: E402


def mat(m):
    return [list(r) for r in m]


def world_vertices(root):
    pts = []
    for o in [root, *root.children_recursive]:
        if o.type != "MESH":
            continue
        me = o.data
        co = np.empty(len(me.vertices) * 3, np.float64)
        me.vertices.foreach_get("co", co)
        w = np.array(o.matrix_world)
        pts.append(co.reshape(-1, 3) @ w[:3, :3].T + w[:3, 3])
    return np.concatenate(pts).tolist() if pts else []


def describe_root(o):
    return {"name": o.name, "index": int(o["rotationnet_scene_index"]), "choice": int(o["rotationnet_scene_choice"]),
            "asset": o.get("rotationnet_asset"), "confidence": float(o.get("rotationnet_confidence", -1)),
            "matrix_world": mat(o.matrix_world), "vertices": world_vertices(o),
            "collections": [c.name for c in o.users_collection],
            "meshes": [c.data.name for c in o.children_recursive if c.type == "MESH"]}


def describe_track(cam):
    """An animated camera: its F-curves' keys, and per frame its world matrix and background file."""
    from bpy_extras import anim_utils

    ad = cam.animation_data
    bag = anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)
    sc = bpy.context.scene
    out = {"fcurves": [[fc.data_path, fc.array_index, len(fc.keyframe_points),
                        sorted({k.interpolation for k in fc.keyframe_points})] for fc in bag.fcurves],
           "frame_range": [sc.frame_start, sc.frame_end], "matrix_world": [], "background_files": []}
    bg = cam.data.background_images[0] if len(cam.data.background_images) else None
    if bg is not None and bg.image is not None:
        u = bg.image_user
        out["image_user"] = {"source": bg.image.source, "frame_start": u.frame_start,
                             "frame_duration": u.frame_duration, "frame_offset": u.frame_offset,
                             "auto_refresh": u.use_auto_refresh, "filepath": bpy.path.abspath(bg.image.filepath)}
    for k in range(sc.frame_start, sc.frame_end + 1):
        sc.frame_set(k)
        out["matrix_world"].append(mat(cam.matrix_world))
        if bg is not None and bg.image is not None:
            out["background_files"].append(bpy.path.abspath(bg.image.filepath_from_user(image_user=bg.image_user)))
    sc.frame_set(sc.frame_start)
    return out


def describe_scene():
    sc = bpy.context.scene
    cam = sc.camera
    out = {"scene_camera": cam.name if cam else None,
           "resolution": [sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage],
           "collections": [c.name for c in sc.collection.children],
           "scene_objects": sorted(o.name for o in sc.objects),
           "top_level_objects": [o.name for o in sc.collection.objects]}
    if cam is not None:
        d = cam.data
        out["camera"] = {k: getattr(d, k) for k in ("type", "lens", "sensor_fit", "sensor_width", "shift_x", "shift_y",
                                                    "clip_start", "clip_end", "show_background_images")}
        out["camera"]["collections"] = [c.name for c in cam.users_collection]
        out["camera"]["matrix_world"] = mat(cam.matrix_world)
        out["camera"]["backgrounds"] = [
            {"image": bpy.path.abspath(b.image.filepath) if b.image else None, "alpha": b.alpha,
             "depth": b.display_depth, "frame_method": b.frame_method, "show": b.show_background_image,
             "size": list(b.image.size) if b.image else None}
            for b in d.background_images]
        if cam.animation_data is not None and cam.animation_data.action is not None:
            out["camera"]["track"] = describe_track(cam)
    colls = {}
    for c in sc.collection.children:
        colls[c.name] = {k: (c[k] if isinstance(c[k], (str, int, float)) else None) for k in c.keys()}
        colls[c.name]["objects"] = sorted(o.name for o in c.objects)
    out["collection_props"] = colls
    roots = [o for o in sc.objects if "rotationnet_scene_index" in o and o.parent is None]
    out["roots"] = [describe_root(o) for o in sorted(roots, key=lambda o: o["rotationnet_scene_index"])]
    return out


if mode == "midway":  # populate fails after it made the camera and imported the objects: nothing is left
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from blender_addon import populate as P

    scene = bpy.context.scene

    def broken_clip(*a):
        raise RuntimeError("out of memory")

    def settings():
        return [scene.camera.name, scene.render.resolution_x, scene.render.resolution_y, scene.frame_start,
                scene.frame_end, scene.frame_current]

    P._clip = broken_clip
    res = {}
    for key, fn, path in (("scene", P.populate, arg), ("walk", P.populate_walkthrough, (sys.argv[3:4] or [""])[0])):
        if not path:
            continue
        reply = json.load(open(path))
        before = {k: sorted(x.name for x in getattr(bpy.data, k))
                  for k in ("objects", "meshes", "cameras", "collections", "images", "actions")}
        settings_before = settings()
        try:
            fn(bpy.context, reply)
            error = None
        except RuntimeError as e:
            error = str(e)
        after = {k: sorted(x.name for x in getattr(bpy.data, k)) for k in before}
        res[key] = {"error": error, "before": before, "after": after, "settings_before": settings_before,
                    "settings": settings()}
    print("RESULT " + json.dumps(res))
    sys.exit(0)

if mode == "read":
    bpy.ops.wm.open_mainfile(filepath=arg)
    res = describe_scene()
    res["library_collections"] = [c.name for c in bpy.data.collections if c.name.startswith(".RotationNet")]
    res["torch_in_blender"] = "torch" in sys.modules
    print("RESULT " + json.dumps(res))
    sys.exit(0)

# -- the installed add-on ----------------------------------------------------------------
import importlib  # noqa: E402

bpy.ops.extensions.package_install_files(filepath=cfg["zip"], repo="user_default", enable_on_install=True)
mod_name = "bl_ext.user_default.rotationnet"
worker = importlib.import_module(mod_name + ".worker")
prefs = bpy.context.preferences.addons[mod_name].preferences
prefs.python_path = cfg["python"]
prefs.run_dir = ""
prefs.library = cfg["library"]
out = {"operators": [name for name in dir(bpy.ops.rotationnet) if name.startswith(("populate", "scene"))]}


class _Current:
    """The current scene and its add-on state (undo replaces every datablock: never keep them)."""

    @property
    def scene(self):
        return bpy.context.scene

    @property
    def st(self):
        return bpy.context.scene.rotationnet


cur = _Current()


def op(fn, *a, **kw):
    try:
        return list(fn(*a, **kw))
    except RuntimeError as e:
        return str(e)


def roots(coll):
    return sorted((o for o in coll.objects if "rotationnet_scene_index" in o and o.parent is None),
                  key=lambda o: o["rotationnet_scene_index"])


def root_of(coll, index):
    return next((o for o in roots(coll) if o["rotationnet_scene_index"] == index), None)


bpy.ops.ed.undo_push(message="scenario set up")
# 1. the reply's populate step, as the worker's answer runs it: one undo step
before = {"collections": sorted(c.name for c in cur.scene.collection.children), "objects": len(bpy.data.objects)}
cur.st.scene_json = json.dumps(cfg["reply"])
bpy.ops.ed.undo_push(message="reply arrived")
r = op(bpy.ops.rotationnet.populate_scene, "EXEC_DEFAULT", True)
after = sorted(c.name for c in cur.scene.collection.children)
coll = cur.st.scene_collection
out["populate"] = {"return": r, "before": before, "after": after, "collection": coll.name if coll else None,
                   "warning": cur.st.warning, "error": cur.st.error, "status": cur.st.status,
                   "roots": [o.name for o in roots(coll)] if coll else []}
out["undo"] = {"return": op(bpy.ops.ed.undo), "collections": sorted(c.name for c in cur.scene.collection.children),
               "camera": cur.scene.camera.name if cur.scene.camera else None}
out["redo"] = {"return": op(bpy.ops.ed.redo), "collections": sorted(c.name for c in cur.scene.collection.children)}

# 2. per-object Next Pose / Next Asset / Remove on a fresh populate
cur.st.scene_json = json.dumps(cfg["reply"])
op(bpy.ops.rotationnet.populate_scene, "EXEC_DEFAULT", True)
coll = cur.st.scene_collection
cam = cur.scene.camera
steps = []
for name, kw in [("next_pose", {}), ("next_pose", {}), ("next_asset", {}), ("next_asset", {}),
                 ("next_pose", {"step": -1})]:
    fn = getattr(bpy.ops.rotationnet, f"scene_{name}")
    r = op(fn, "EXEC_DEFAULT", True, collection=coll.name, index=0, **kw)
    root = root_of(coll, 0)
    steps.append({"op": name, "return": r, "error": cur.st.error, "root": describe_root(root) if root else None,
                  "camera_matrix": mat(cam.matrix_world)})
out["steps"] = steps
out["undo_step"] = {"return": op(bpy.ops.ed.undo)}
root = root_of(cur.st.scene_collection, 0)
out["undo_step"]["root"] = describe_root(root) if root else None
n_before = len(roots(cur.st.scene_collection))
out["remove"] = {"return": op(bpy.ops.rotationnet.scene_remove_object, "EXEC_DEFAULT", True,
                              collection=cur.st.scene_collection.name, index=1),
                 "before": n_before, "after": [o["rotationnet_scene_index"] for o in roots(cur.st.scene_collection)]}
out["no_alternative_asset"] = {"return": op(bpy.ops.rotationnet.scene_next_asset, "EXEC_DEFAULT", True,
                                            collection=cur.st.scene_collection.name, index=2), "error": cur.st.error}

# 3. a replacing populate keeps the collection's name and leaves one collection
name = cur.st.scene_collection.name
r = op(bpy.ops.rotationnet.populate_scene, "EXEC_DEFAULT", True, replace=name)
out["replace"] = {"return": r, "replaced": name, "collections": sorted(c.name for c in cur.scene.collection.children),
                  "collection": cur.st.scene_collection.name,
                  "roots": [o["rotationnet_scene_index"] for o in roots(cur.st.scene_collection)],
                  "cameras": sorted(o.name for o in bpy.data.objects if o.type == "CAMERA")}

# 4. through the worker: Populate from Picture, then Add Box & Rerun with one object removed
bpy.ops.rotationnet.scene_remove_object("EXEC_DEFAULT", True, collection=cur.st.scene_collection.name, index=1)
for c in list(cur.scene.collection.children):
    if "rotationnet_scene" in c:
        c.name = c.name + " (earlier)"
r = op(bpy.ops.rotationnet.populate_from_picture, filepath=cfg["picture"])
out["from_picture"] = {"return": r, "busy": worker.busy()}
out["from_picture"]["idle"] = worker.wait_idle(120)
coll = cur.st.scene_collection
out["from_picture"].update({"error": cur.st.error, "warning": cur.st.warning, "collection": coll.name if coll else None,
                            "roots": [o["rotationnet_scene_index"] for o in roots(coll)] if coll else [],
                            "collections": sorted(c.name for c in cur.scene.collection.children)})
bpy.ops.rotationnet.scene_remove_object("EXEC_DEFAULT", True, collection=coll.name, index=1)
cur.st.box_x, cur.st.box_y, cur.st.box_w, cur.st.box_h = 5, 6, 70, 80
r = op(bpy.ops.rotationnet.scene_add_box)
worker.wait_idle(120)
coll = cur.st.scene_collection
out["rerun"] = {"return": r, "error": cur.st.error, "collection": coll.name if coll else None,
                "roots": [o["rotationnet_scene_index"] for o in roots(coll)] if coll else [],
                "collections": sorted(c.name for c in cur.scene.collection.children)}
cur.st.box_w = 0
out["empty_box"] = {"return": op(bpy.ops.rotationnet.scene_add_box), "error": cur.st.error}
# a missing picture, and the worker's error, are shown in the panel; nothing is populated
r = op(bpy.ops.rotationnet.populate_from_picture, filepath=cfg["picture"] + ".missing.png")
out["missing_picture"] = {"return": r, "error": cur.st.error}
n = len(bpy.data.collections)
r = op(bpy.ops.rotationnet.populate_from_picture, filepath=cfg["bad_picture"])
worker.wait_idle(120)
out["worker_error"] = {"return": r, "error": cur.st.error, "new_collections": len(bpy.data.collections) - n}


# 5. walk-throughs through the worker: pictures (chosen out of order) with the scene camera's lens
def walk_state():
    wc = cur.st.walk_collection
    cam = cur.scene.camera
    cur.scene.frame_set(1)
    return {"error": cur.st.error, "warning": cur.st.warning, "collection": wc.name if wc else None,
            "kind": wc.get("rotationnet_kind") if wc else None,
            "roots": [o["rotationnet_scene_index"] for o in roots(wc)] if wc else [],
            "camera": cam.name if cam else None, "camera_at_1": mat(cam.matrix_world) if cam else None,
            "keyed": bool(cam and cam.animation_data and cam.animation_data.action),
            "frame_range": [cur.scene.frame_start, cur.scene.frame_end],
            "background": cam.data.background_images[0].image.filepath
            if cam and len(cam.data.background_images) else None,
            "collections": sorted(c.name for c in cur.scene.collection.children)}


pics = cfg["walk_pictures"]
bpy.ops.ed.undo_push(message="before the walk-through")
r = op(bpy.ops.rotationnet.populate_from_walkthrough, "EXEC_DEFAULT", directory=os.path.dirname(pics[0]),
       files=[{"name": os.path.basename(q)} for q in reversed(pics)], use_scene_camera=True)
worker.wait_idle(120)
out["walk"] = {"return": r, **walk_state()}
out["walk_undo"] = {"return": op(bpy.ops.ed.undo), **walk_state()}
out["walk_redo"] = {"return": op(bpy.ops.ed.redo), **walk_state()}
# Next Asset on the walk-through's object 0 while the camera is elsewhere on its track
cur.scene.frame_set(3)
wc = cur.st.walk_collection
r = op(bpy.ops.rotationnet.scene_next_asset, "EXEC_DEFAULT", True, collection=wc.name, index=0)
root = root_of(wc, 0)
out["walk_next_asset"] = {"return": r, "error": cur.st.error, "root": describe_root(root) if root else None,
                          "camera_now": mat(cur.scene.camera.matrix_world)}
# one picture is not a walk-through; nothing is sent
out["walk_one_picture"] = {"return": op(bpy.ops.rotationnet.populate_from_walkthrough, "EXEC_DEFAULT",
                                        filepath=pics[0]), "error": cur.st.error}
# a video, the file saved: the frames go beside it
bpy.ops.wm.save_as_mainfile(filepath=cfg["blend"])
r = op(bpy.ops.rotationnet.populate_from_walkthrough, "EXEC_DEFAULT", filepath=cfg["video"])
worker.wait_idle(120)
out["walk_video"] = {"return": r, **walk_state()}

worker.shutdown()
out["requests"] = [json.loads(ln) for ln in open(cfg["requests"]).read().splitlines()]
out["torch_in_blender"] = "torch" in sys.modules
print("RESULT " + json.dumps(out))
