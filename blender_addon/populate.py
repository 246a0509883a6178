"""Populating Blender from a whole picture: the worker's ``scene`` reply
(:data:`rotationnet.core.protocol.SCENE_FIELDS`, checked with
:func:`~rotationnet.core.protocol.check_scene`) becomes one new collection,
named after the picture, under the scene collection, holding

* a camera that sees as the picture's camera: its lens, sensor and shift from
  :meth:`rotationnet.core.camera.Intrinsics.blender_camera` of the reply's
  ``K``, the scene's resolution the picture's size, ``scene.camera`` set to
  it, and the picture as its background image (Camera view shows the photo
  behind the placed assets);
* every object of the reply, the library's own file brought in by
  :func:`.placement.import_asset` (the same routine as Place: imported once as
  a template, a linked duplicate under one Empty, never rescaled).

**Frames.**  The camera frame is Blender's (−Z forward, +Y up, +X right).  An
object's ``rotation_wxyz`` (R) and ``location`` (t) take the asset frame — the
library file's own coordinates with the library's up axis applied, the frame
Place imports into — to the camera frame: a vertex ``v`` of it is at
``R · v + t`` in the camera frame, in the asset's own units.  The Empty's frame
is the asset frame itself, so its world matrix is ``camera.matrix_world @ [R | t]``.

**Where the world puts the camera.**  With a ``floor`` (``normal · p + offset
= 0`` in the camera frame, normal pointing up) the camera's world matrix makes
that plane the world's z = 0 with +Z up: the set stands on the ground, the
camera above it at x = y = 0, turned about +Z so that it looks along +Y.
Without a floor the camera stands at the world origin looking along +Y,
level (its up is +Z).

**What is kept.**  The collection holds the reply as JSON
(``rotationnet_scene``) and the picture's path; each Empty its object's index
in the reply (``rotationnet_scene_index``) and which of the object's answers it
shows (``rotationnet_scene_choice``: 0 the best, k alternative k), so
:func:`next_pose` and :func:`next_asset` step through the object's
alternatives — each its own asset, rotation and location — without asking
the worker again.

**Failures.**  An object whose file cannot be imported is a warning naming the
file; the others are placed.  A reply that does not fit (or a camera Blender
cannot model) raises :class:`PopulateError` before anything is made; anything
else that fails midway removes everything populate made.
"""

import json
import math
import os

import bpy
import numpy as np
from mathutils import Matrix

from rotationnet.core import protocol
from rotationnet.core.camera import SOURCES, Intrinsics
from rotationnet.core.views import quaternion_to_matrix

from . import placement

SCENE_PROP = "rotationnet_scene"  # on the collection: the reply, JSON
PICTURE_PROP = "rotationnet_picture"  # on the collection: the picture's path
CAMERA_PROP = "rotationnet_scene_camera"  # on the camera object
INDEX_PROP = "rotationnet_scene_index"  # on each Empty: the object's index in the reply's objects
CHOICE_PROP = "rotationnet_scene_choice"  # on each Empty: 0 the best answer, k alternative k
# camera frame → world when there is no floor: looking along +Y, up +Z (+90° about X)
LEVEL = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
_ERRORS = (placement.PlacementError, protocol.ProtocolError, OSError, RuntimeError, KeyError, ValueError, TypeError)


class PopulateError(Exception):
    pass


# -- the reply's numbers -----------------------------------------------------------

def _finite(where, value, n):
    if (not isinstance(value, (list, tuple)) or len(value) != n
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value)):
        raise PopulateError(f"{where} must be {n} finite numbers, got {value!r:.80}")
    return np.asarray(value, dtype=np.float64)


def camera_to_world(floor) -> np.ndarray:
    """The camera's world matrix (4×4, camera frame → world) for a reply's
    ``floor`` (see the module docstring): the floor plane → z = 0, +Z up, the
    camera at x = y = 0 looking along +Y; without a floor (None), :data:`LEVEL`."""
    if floor is None:
        return LEVEL.copy()
    n = _finite("the floor's normal", floor.get("normal"), 3)
    d = _finite("the floor's offset", [floor.get("offset")], 1)[0]
    length = float(np.linalg.norm(n))
    if length < 1e-9:
        raise PopulateError("the floor's normal is zero")
    n, d = n / length, d / length
    # world y: the viewing direction (−Z) laid flat on the floor; looking straight down, the picture's up
    for v in (np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0])):
        y = v - (v @ n) * n
        if np.linalg.norm(y) > 1e-6:
            break
    y /= np.linalg.norm(y)
    x = np.cross(y, n)
    m = np.eye(4)
    m[:3, :3] = np.stack([x, y, n])  # rows: the world's axes in the camera frame (world → camera transposed)
    m[2, 3] = d  # a camera-frame point p lands at world z = n · p + d
    return m


def pose_matrix(answer) -> np.ndarray:
    """[R | t] (4×4) of an answer: its ``rotation_wxyz`` and ``location``, asset frame → camera frame."""
    q = _finite("rotation_wxyz", answer.get("rotation_wxyz"), 4)
    if np.linalg.norm(q) < 1e-9:
        raise PopulateError("rotation_wxyz is zero")
    m = np.eye(4)
    m[:3, :3] = quaternion_to_matrix(q)
    m[:3, 3] = _finite("location", answer.get("location"), 3)
    return m


def answers(result, index) -> list[dict]:
    """Object ``index``'s answers, the best first, then its alternatives: each
    ``{"asset", "rotation_wxyz", "location", "confidence"}`` (an alternative
    without an asset is another pose of the object's own).  Raises
    :class:`PopulateError` for an alternative that does not fit."""
    objs = result["objects"]
    if not 0 <= index < len(objs):
        raise PopulateError(f"the scene reply has no object {index + 1}")
    o = objs[index]
    out = []
    for k, a in enumerate([o, *(o.get("alternatives") or [])]):
        where = f"object {index + 1}" + (f"'s alternative {k}" if k else "")
        if not isinstance(a, dict):
            raise PopulateError(f"{where} must be an object, got {a!r:.80}")
        asset = a.get("asset", o["asset"])
        if asset not in result["assets"]:
            raise PopulateError(f"{where}: asset {asset!r} is not among the reply's assets")
        ans = {"asset": asset, "rotation_wxyz": a.get("rotation_wxyz"), "location": a.get("location"),
               "confidence": float(a.get("confidence") or 0.0)}
        try:
            pose_matrix(ans)
        except PopulateError as e:
            raise PopulateError(f"{where}: {e}") from None
        out.append(ans)
    return out


def _stem(path):
    return os.path.splitext(os.path.basename(str(path).replace("\\", "/")))[0] or "picture"


# -- building ----------------------------------------------------------------------

def _camera(context, coll, cam, stem):
    data = bpy.data.cameras.new(f"{stem} camera")
    obj = bpy.data.objects.new(f"{stem} camera", data)
    coll.objects.link(obj)
    intr = Intrinsics(np.asarray(cam["K"], dtype=np.float64), cam["width"], cam["height"],
                      cam.get("source") if cam.get("source") in SOURCES else "estimated")
    cfg = intr.blender_camera()
    data.type = "PERSP"
    for key in ("sensor_fit", "sensor_width", "lens", "shift_x", "shift_y"):
        setattr(data, key, cfg[key])
    render = context.scene.render
    render.resolution_x, render.resolution_y = cfg["resolution_x"], cfg["resolution_y"]
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    obj[CAMERA_PROP] = True
    return obj


def _background(cam, path):
    """The picture as the camera's background image; a warning when it cannot be read."""
    try:
        img = bpy.data.images.load(path, check_existing=True)
    except RuntimeError as e:
        return f"{path}: the picture cannot be read, the camera has no background ({str(e).strip()})"
    bg = cam.data.background_images.new()
    bg.image = img
    bg.alpha = 1.0
    bg.display_depth = "BACK"
    bg.frame_method = "STRETCH"  # the picture fills the camera's frame, whose aspect is the picture's
    cam.data.show_background_images = True
    return None


def _clip(cam, result, poses):
    """Clipping distances that hold every object (assets come in their own units)."""
    near, far = math.inf, 0.0
    for o, m in zip(result["objects"], poses):
        if m is None:
            continue
        a = result["assets"][o["asset"]]
        c = m[:3, :3] @ np.asarray(a["center"], float) + m[:3, 3]
        r = 1.0 / float(a["scale"])
        near, far = min(near, -c[2] - r), max(far, -c[2] + r)
    end = max(100.0, 4.0 * far)
    cam.data.clip_end = end
    cam.data.clip_start = min(0.1, max(0.5 * near, end * 1e-6)) if near < math.inf else 0.1


def _place_object(context, coll, result, n, answer, cam_world, link):
    root, warnings = placement.import_asset(context, result["assets"][answer["asset"]], coll, link=link,
                                            centred=False)
    root.matrix_world = cam_world @ Matrix(pose_matrix(answer).tolist())
    root[INDEX_PROP] = n
    root[CHOICE_PROP] = 0
    root["rotationnet_confidence"] = answer["confidence"]
    root["rotationnet_label"] = result["objects"][n].get("label") or ""
    return root, warnings


def populate(context, result, image_path=None, link=False, name=None):
    """Build the collection for a scene reply (see the module docstring).

    ``image_path``: the picture (default: the reply's ``image``); ``link``: a
    .blend asset's data stays linked to its file; ``name``: the collection's
    name (default: the picture's file name without its extension).

    Returns:
        (the new collection, warnings): one warning per object that could not
        be placed (naming its file), and for a picture that cannot be read.
    Raises:
        PopulateError: a reply that does not fit this add-on, or a camera
            Blender cannot model; nothing is left behind.
    """
    try:
        result = protocol.check_scene(json.loads(json.dumps(result)))
    except protocol.ProtocolError as e:
        raise PopulateError(f"the worker's scene reply does not fit this add-on: {e}") from None
    except (TypeError, ValueError) as e:
        raise PopulateError(f"the scene reply is not JSON data: {e}") from None
    cam = result["camera"]
    try:
        Intrinsics(np.asarray(cam["K"], dtype=np.float64), cam["width"], cam["height"]).blender_camera()
    except (TypeError, ValueError) as e:
        raise PopulateError(f"the scene's camera cannot be a Blender camera: {e}") from None
    cam_world = Matrix(camera_to_world(result["floor"]).tolist())
    picture = str(image_path or result["image"])
    stem = _stem(picture)
    scene = context.scene
    saved = (scene.camera, scene.render.resolution_x, scene.render.resolution_y,
             scene.render.resolution_percentage)
    before = placement._snapshot()
    try:
        coll = bpy.data.collections.new(name or stem)
        scene.collection.children.link(coll)
        cam_obj = _camera(context, coll, cam, stem)
        cam_obj.matrix_world = cam_world
        scene.camera = cam_obj
        warnings = []
        bg = _background(cam_obj, picture)
        if bg:
            warnings.append(bg)
        failed = {}  # asset id → its error: a file that failed once is not tried again
        poses = []
        for n, o in enumerate(result["objects"]):
            try:
                try:
                    best = answers(result, n)[0]
                except PopulateError as e:  # the best answer alone, when an alternative does not fit
                    best = answers({**result, "objects": [{**o, "alternatives": []}]}, 0)[0]
                    warnings.append(f"object {n + 1} ({o.get('asset')}): {e}; its alternatives are ignored")
                if best["asset"] in failed:
                    raise placement.PlacementError(failed[best["asset"]])
                try:
                    _root, w = _place_object(context, coll, result, n, best, cam_world, link)
                except _ERRORS as e:
                    failed[best["asset"]] = str(e)
                    raise
                warnings += [x for x in w if x not in warnings]
                poses.append(pose_matrix(best))
            except (PopulateError, *_ERRORS) as e:
                warnings.append(f"object {n + 1} ({o.get('asset')}) not placed: {e}")
                poses.append(None)
        _clip(cam_obj, result, poses)
        coll[SCENE_PROP] = json.dumps(result)
        coll[PICTURE_PROP] = picture
        placed = sum(p is not None for p in poses)
        coll["rotationnet_message"] = result["message"] or (
            f"{placed} of {len(poses)} objects placed" if poses else "no library object found in the picture")
        context.view_layer.update()
        return coll, warnings
    except BaseException:
        placement._remove_created(before)
        scene.camera = saved[0] if saved[0] is not None and saved[0].name in bpy.data.objects else None
        (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage) = saved[1:]
        raise


# -- stepping through an object's answers ------------------------------------------

def scene_root(obj):
    """The Empty populate made, for that Empty or any object below it (else None)."""
    while obj is not None:
        if INDEX_PROP in obj:
            return obj
        obj = obj.parent
    return None


def scene_collection(obj):
    """The populated collection holding ``obj`` (an Empty or a camera populate made), or None."""
    for c in obj.users_collection:
        if SCENE_PROP in c:
            return c
    return None


def scene_reply(coll) -> dict:
    try:
        return json.loads(coll[SCENE_PROP])
    except (KeyError, ValueError):
        raise PopulateError(f"collection {coll.name} holds no scene reply") from None


def scene_camera(coll):
    cam = next((o for o in coll.objects if CAMERA_PROP in o and o.type == "CAMERA"), None)
    if cam is None:
        raise PopulateError(f"the camera of {coll.name} was deleted: populate the picture again")
    return cam


def scene_roots(coll) -> list:
    """The Empties of ``coll``'s objects (removed ones are gone), by their index in the reply."""
    return sorted((o for o in coll.objects if INDEX_PROP in o and o.parent is None), key=lambda o: o[INDEX_PROP])


def current_boxes(coll) -> list[list[float]]:
    """The reply's boxes of the objects still in ``coll`` (for a rerun with one more box)."""
    res = scene_reply(coll)
    return [list(map(float, res["objects"][int(o[INDEX_PROP])]["box"])) for o in scene_roots(coll)]


def _remove_tree(root):
    objs = [*root.children_recursive, root]
    bpy.data.batch_remove(objs)


def _root_reply(obj):
    """(the scene object's Empty, its collection, the reply) for ``obj`` or anything below its Empty."""
    root = scene_root(obj)
    if root is None:
        raise PopulateError(f"{obj.name} was not placed by Populate from Picture")
    coll = scene_collection(root)
    if coll is None:
        raise PopulateError(f"{root.name} is no longer in its populated collection")
    return root, coll, scene_reply(coll)


def show_answer(context, obj, choice, link=False):
    """Show answer ``choice`` (0: the best, k: alternative k) of the scene
    object ``obj`` (its Empty or anything below it): its rotation and location,
    and when it is another asset, that asset's file imported in place of the
    current one (a new Empty).  Returns (the Empty, warnings).  Raises
    :class:`PopulateError` (or :class:`.placement.PlacementError` naming the
    file; the object is then left as it was)."""
    root, coll, result = _root_reply(obj)
    options = answers(result, int(root[INDEX_PROP]))
    ans = options[choice % len(options)]
    cam_world = scene_camera(coll).matrix_world.copy()
    warnings = []
    if ans["asset"] != root.get("rotationnet_asset"):
        new, warnings = placement.import_asset(context, result["assets"][ans["asset"]], coll, link=link,
                                               centred=False)
        for k in root.keys():
            if k not in new:
                new[k] = root[k]
        selected = root.select_get()
        _remove_tree(root)
        root = new
        root.select_set(selected)
    root.matrix_world = cam_world @ Matrix(pose_matrix(ans).tolist())
    root[CHOICE_PROP] = choice % len(options)
    root["rotationnet_confidence"] = ans["confidence"]
    return root, warnings


def next_pose(context, obj, step=1, link=False):
    """The next (``step`` 1) or previous pose among the object's answers for
    the asset it shows.  Returns (the Empty, pose number, poses of that asset)."""
    root, _coll, result = _root_reply(obj)
    options = answers(result, int(root[INDEX_PROP]))
    same = [k for k, a in enumerate(options) if a["asset"] == root.get("rotationnet_asset")]
    cur = int(root[CHOICE_PROP])
    pos = same.index(cur) if cur in same else 0
    choice = same[(pos + step) % len(same)] if same else 0
    root, _ = show_answer(context, root, choice, link)
    return root, (same.index(choice) if same else 0) + 1, max(len(same), 1)


def next_asset(context, obj, step=1, link=False):
    """The next (``step`` 1) or previous other asset among the object's answers
    (its best pose), imported in place of the current one.  Returns (the new
    Empty, warnings).  Raises :class:`PopulateError` when the answers name no
    other asset."""
    root, _coll, result = _root_reply(obj)
    index = int(root[INDEX_PROP])
    options = answers(result, index)
    current = root.get("rotationnet_asset")
    firsts = []  # each asset's first (best) answer, in the answers' order
    for k, a in enumerate(options):
        if a["asset"] not in [options[j]["asset"] for j in firsts]:
            firsts.append(k)
    if len(firsts) < 2:
        raise PopulateError(f"object {index + 1} has no other asset among its alternatives")
    pos = next((i for i, k in enumerate(firsts) if options[k]["asset"] == current), 0)
    return show_answer(context, root, firsts[(pos + step) % len(firsts)], link)


def remove_object(obj):
    """Remove a scene object (its Empty and everything below it) from the scene."""
    root = scene_root(obj)
    if root is None:
        raise PopulateError(f"{obj.name} was not placed by Populate from Picture")
    _remove_tree(root)


def remove_scene(coll):
    """Remove a populated collection, its camera and objects (the imported
    templates stay for the next populate)."""
    objs = list(coll.all_objects)
    cams = [o.data for o in objs if o.type == "CAMERA" and o.data is not None and o.data.users <= 1]
    bpy.data.batch_remove([*objs, *cams, *coll.children_recursive, coll])
