"""Populating Blender from a whole picture (and from a walk-through, see below):
the worker's ``scene`` reply
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

**Walk-throughs.**  :func:`populate_walkthrough` builds the same kind of
collection from a ``walkthrough`` reply (:data:`~rotationnet.core.protocol.WALKTHROUGH_FIELDS`):
one camera ANIMATED along the track — scene frame ``i + 1`` is ``frames[i]``,
its world matrix ``W @ [Rᵢᵀ | pᵢ]`` (``Rᵢ`` the frame's ``rotation_wxyz``,
world → camera, ``pᵢ`` its ``position``), linear between keys — with the
frames as an image sequence behind it (the worker writes them as
consecutively numbered files), the scene's frame range the track's; every
object once, its Empty at ``W @ [R | t]``.  The walk-through's world frame is
the first frame's camera frame, so ``W`` is :func:`camera_to_world` of its
floor, exactly as for a picture: the floor becomes z = 0, the first frame's
camera stands above x = y = 0 looking along +Y.

**What is kept.**  The collection holds the reply as JSON
(``rotationnet_scene``), its kind (``rotationnet_kind``: ``picture`` or
``walkthrough``) and its *reference* (``rotationnet_reference``, the 4×4
matrix ``W`` row by row: the frame the answers are given in → the world); a
picture's collection its path too.  Each Empty holds its object's index in the
reply (``rotationnet_scene_index``) and which of the object's answers it shows
(``rotationnet_scene_choice``: 0 the best, k alternative k), so
:func:`next_pose` and :func:`next_asset` step through the object's
alternatives — each its own asset, rotation and location, placed at
``reference @ [R | t]`` — without asking the worker again, for both kinds.

**Failures.**  An object whose file cannot be imported is a warning naming the
file; the others are placed.  A reply that does not fit (or a camera Blender
cannot model) raises :class:`PopulateError` before anything is made; anything
else that fails midway removes everything populate made.
"""

import json
import math
import os
import re

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
KIND_PROP = "rotationnet_kind"  # on the collection: "picture" or "walkthrough"
REFERENCE_PROP = "rotationnet_reference"  # on the collection: the answers' frame → world, 16 numbers row by row
WALK_SOURCE_PROP = "rotationnet_walkthrough_source"  # on a walk-through's collection: the video or first picture
FRAMES_PROP = "rotationnet_frames"  # on a walk-through's collection: the number of frames on its track
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
    """The camera's world matrix (4×4, camera frame → world) for a ``floor``
    given in that camera's frame (a picture's camera, or a walk-through's
    world frame, the first frame's camera frame; see the module docstring):
    the floor plane → z = 0, +Z up, the camera at x = y = 0 looking along +Y;
    without a floor (None), :data:`LEVEL`."""
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
        raise PopulateError(f"the reply has no object {index + 1}")
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


def _clip(cam, result, poses, views=None):
    """Clipping distances that hold every object (assets come in their own
    units) from every camera position.  ``poses``: each object's [R | t] (or
    None); ``views``: the world → camera matrices (4×4) of a track's frames,
    or None when the poses are in the camera's own frame."""
    centres, radii = [], []
    for o, m in zip(result["objects"], poses):
        if m is None:
            continue
        a = result["assets"][o["asset"]]
        centres.append(m[:3, :3] @ np.asarray(a["center"], float) + m[:3, 3])
        radii.append(1.0 / float(a["scale"]))
    near, far = math.inf, 0.0
    if centres:
        rows = np.array([np.eye(4)[2]]) if views is None else np.array([v[2] for v in views])
        depth = -(np.asarray(centres) @ rows[:, :3].T + rows[:, 3])  # (objects, views)
        r = np.asarray(radii)[:, None]
        near, far = float((depth - r).min()), float((depth + r).max())
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


def _place_objects(context, coll, result, reference, link, warnings):
    """Every object of the reply at ``reference @ [R | t]``; a failed one is a
    warning.  Returns each object's [R | t] (None when not placed)."""
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
                _root, w = _place_object(context, coll, result, n, best, reference, link)
            except _ERRORS as e:
                failed[best["asset"]] = str(e)
                raise
            warnings += [x for x in w if x not in warnings]
            poses.append(pose_matrix(best))
        except (PopulateError, *_ERRORS) as e:
            warnings.append(f"object {n + 1} ({o.get('asset')}) not placed: {e}")
            poses.append(None)
    return poses


def _check_reply(result, kind, check):
    """A JSON copy of ``result`` checked by ``check`` (protocol.check_scene or
    check_walkthrough), whose camera Blender can model; else PopulateError."""
    try:
        result = check(json.loads(json.dumps(result)))
    except protocol.ProtocolError as e:
        raise PopulateError(f"the worker's {kind} reply does not fit this add-on: {e}") from None
    except (TypeError, ValueError) as e:
        raise PopulateError(f"the {kind} reply is not JSON data: {e}") from None
    cam = result["camera"]
    try:
        Intrinsics(np.asarray(cam["K"], dtype=np.float64), cam["width"], cam["height"]).blender_camera()
    except (TypeError, ValueError) as e:
        raise PopulateError(f"the {kind}'s camera cannot be a Blender camera: {e}") from None
    return result


def _keep(coll, result, kind, reference, poses, empty_message):
    coll[SCENE_PROP] = json.dumps(result)
    coll[KIND_PROP] = kind
    coll[REFERENCE_PROP] = [float(x) for row in reference for x in row]
    placed = sum(p is not None for p in poses)
    coll["rotationnet_message"] = result["message"] or (
        f"{placed} of {len(poses)} objects placed" if poses else empty_message)


class _Undo:
    """What a populate changes outside the datablocks it makes, put back when it fails."""

    def __init__(self, scene):
        self.scene = scene
        r = scene.render
        self.camera = scene.camera
        self.render = (r.resolution_x, r.resolution_y, r.resolution_percentage)
        self.frames = (scene.frame_start, scene.frame_end, scene.frame_current)
        self.before = placement._snapshot()

    def restore(self):
        placement._remove_created(self.before)
        scene, cam = self.scene, self.camera
        scene.camera = cam if cam is not None and cam.name in bpy.data.objects else None
        r = scene.render
        (r.resolution_x, r.resolution_y, r.resolution_percentage) = self.render
        scene.frame_start, scene.frame_end, scene.frame_current = self.frames


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
    result = _check_reply(result, "scene", protocol.check_scene)
    cam_world = Matrix(camera_to_world(result["floor"]).tolist())
    picture = str(image_path or result["image"])
    stem = _stem(picture)
    scene = context.scene
    undo = _Undo(scene)
    try:
        coll = bpy.data.collections.new(name or stem)
        scene.collection.children.link(coll)
        cam_obj = _camera(context, coll, result["camera"], stem)
        cam_obj.matrix_world = cam_world
        scene.camera = cam_obj
        warnings = []
        bg = _background(cam_obj, picture)
        if bg:
            warnings.append(bg)
        poses = _place_objects(context, coll, result, cam_world, link, warnings)
        _clip(cam_obj, result, poses)
        _keep(coll, result, "picture", cam_world, poses, "no library object found in the picture")
        coll[PICTURE_PROP] = picture
        context.view_layer.update()
        return coll, warnings
    except BaseException:
        undo.restore()
        raise


# -- walk-throughs -----------------------------------------------------------------

_NUMBERED = re.compile(r"^(.*\D)?(\d+)(\.[^.]*)$")  # the last run of digits before the extension, as Blender reads it


def frame_matrix(frame, n) -> np.ndarray:
    """[Rᵀ | p] (4×4): frame ``n``'s camera frame → the walk-through's world frame."""
    where = f"frame {n + 1}"
    q = _finite(f"{where}'s rotation_wxyz", frame.get("rotation_wxyz"), 4)
    if np.linalg.norm(q) < 1e-9:
        raise PopulateError(f"{where}'s rotation_wxyz is zero")
    m = np.eye(4)
    m[:3, :3] = quaternion_to_matrix(q).T
    m[:3, 3] = _finite(f"{where}'s position", frame.get("position"), 3)
    return m


def image_sequence(paths):
    """(the first file, its number) when ``paths`` are consecutively numbered
    files of one folder (``frame_000001.jpg``, ``frame_000002.jpg``, …: one
    name but for the last run of digits before the extension), else None."""
    parts = []
    for p in paths:
        m = _NUMBERED.match(os.path.basename(p))
        if m is None:
            return None
        parts.append((os.path.dirname(p), m.group(1) or "", int(m.group(2)), m.group(3)))
    first = parts[0]
    for k, (folder, prefix, number, ext) in enumerate(parts):
        if (folder, prefix, ext) != (first[0], first[1], first[3]) or number != first[2] + k:
            return None
    return paths[0], first[2]


def _track(cam, matrices):
    """Key the camera at scene frames 1 … n (location and quaternion, linear)."""
    cam.rotation_mode = "QUATERNION"
    cam.matrix_world = matrices[0]
    n = len(matrices)
    locs, quats, prev = np.empty((n, 3)), np.empty((n, 4)), None
    for k, m in enumerate(matrices):
        q = m.to_quaternion()
        if prev is not None and prev.dot(q) < 0.0:  # the shorter way between keys
            q.negate()
        locs[k], quats[k], prev = m.translation, q, q
    cam.rotation_quaternion = quats[0]
    cam.animation_data_create()
    action = bpy.data.actions.new(f"{cam.name} track")
    cam.animation_data.action = action
    times = np.arange(1, n + 1, dtype=np.float64)
    linear = [bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value] * n
    for path, values in (("location", locs), ("rotation_quaternion", quats)):
        for i in range(values.shape[1]):
            fc = action.fcurve_ensure_for_datablock(cam, path, index=i)
            fc.keyframe_points.add(n)
            fc.keyframe_points.foreach_set("co", np.stack([times, values[:, i]], axis=1).ravel())
            fc.keyframe_points.foreach_set("interpolation", linear)
            fc.update()
    return action


def _sequence_background(cam, frames):
    """The frames as the camera's background: an image sequence, frame k of
    the timeline showing ``frames[k - 1]``.  Returns warnings."""
    paths = [str(f["image"]) for f in frames]
    warnings = []
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        warnings.append(f"{missing[0]}: {len(missing)} of the {len(paths)} frames' pictures are missing"
                        + (" (this is the first)" if len(missing) > 1 else ""))
    seq = image_sequence(paths)
    first = seq[0] if seq else paths[0]
    try:
        img = bpy.data.images.load(first, check_existing=True)
    except RuntimeError as e:
        return warnings + [f"{first}: the frame cannot be read, the camera has no background ({str(e).strip()})"]
    bg = cam.data.background_images.new()
    bg.image = img
    bg.alpha = 1.0
    bg.display_depth = "BACK"
    bg.frame_method = "STRETCH"
    cam.data.show_background_images = True
    if seq is None:
        if len(paths) > 1:
            warnings.append(f"{first}: the frames are not consecutively numbered files of one folder, so the "
                            "camera's background shows this first frame only")
        return warnings
    img.source = "SEQUENCE"
    user = bg.image_user
    user.frame_start = 1
    user.frame_duration = len(paths)
    user.frame_offset = seq[1] - 1  # timeline frame k shows file number k + offset
    user.use_cyclic = False
    user.use_auto_refresh = True
    if bpy.data.is_saved:  # frames beside the .blend move with it
        try:
            img.filepath = bpy.path.relpath(first)
        except ValueError:  # another drive
            pass
    return warnings


def populate_walkthrough(context, result, link=False, name=None):
    """Build the collection for a walkthrough reply (see the module docstring):
    a camera animated along the track with the frames behind it, every object
    placed once.

    ``link``: a .blend asset's data stays linked to its file; ``name``: the
    collection's name (default: the source's file name without its extension).

    Returns:
        (the new collection, warnings): one warning per object that could not
        be placed (naming its file), and for frames that cannot be shown.
    Raises:
        PopulateError: a reply that does not fit this add-on (no frames, a
            frame without a usable pose, a camera Blender cannot model);
            nothing is left behind.
    """
    result = _check_reply(result, "walkthrough", protocol.check_walkthrough)
    frames = result["frames"]
    if not frames:
        raise PopulateError("the walkthrough reply has no frames: there is no camera track to build")
    for n, f in enumerate(frames):
        if not isinstance(f["image"], str) or not f["image"]:
            raise PopulateError(f"frame {n + 1}'s image must be a picture file's path, got {f['image']!r:.80}")
    track = [frame_matrix(f, n) for n, f in enumerate(frames)]
    world = camera_to_world(result["floor"])
    reference = Matrix(world.tolist())
    stem = _stem(result["source"] or frames[0]["image"])
    scene = context.scene
    undo = _Undo(scene)
    try:
        coll = bpy.data.collections.new(name or stem)
        scene.collection.children.link(coll)
        cam_obj = _camera(context, coll, result["camera"], stem)
        _track(cam_obj, [Matrix((world @ m).tolist()) for m in track])
        scene.camera = cam_obj
        scene.frame_start, scene.frame_end = 1, len(frames)
        scene.frame_current = 1
        warnings = _sequence_background(cam_obj, frames)
        poses = _place_objects(context, coll, result, reference, link, warnings)
        _clip(cam_obj, result, poses, [np.linalg.inv(m) for m in track])
        _keep(coll, result, "walkthrough", reference, poses, "no library object found in the walk-through")
        coll[WALK_SOURCE_PROP] = str(result["source"] or frames[0]["image"])
        coll[FRAMES_PROP] = len(frames)
        context.view_layer.update()
        return coll, warnings
    except BaseException:
        undo.restore()
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


def is_walkthrough(coll) -> bool:
    return coll.get(KIND_PROP) == "walkthrough"


def reference_matrix(coll) -> Matrix:
    """The frame ``coll``'s answers are given in → the world (see the module
    docstring): kept on the collection; for a picture populated before it was
    kept, its camera's world matrix."""
    ref = coll.get(REFERENCE_PROP)
    if ref is not None and len(ref) == 16:
        v = [float(x) for x in ref]
        return Matrix([v[0:4], v[4:8], v[8:12], v[12:16]])
    if is_walkthrough(coll):
        raise PopulateError(f"{coll.name} lost its reference matrix: populate the walk-through again")
    return scene_camera(coll).matrix_world.copy()


def scene_roots(coll) -> list:
    """The Empties of ``coll``'s objects (removed ones are gone), by their index in the reply."""
    return sorted((o for o in coll.objects if INDEX_PROP in o and o.parent is None), key=lambda o: o[INDEX_PROP])


def current_boxes(coll) -> list[list[float]]:
    """The reply's boxes of the objects still in ``coll`` (for a rerun with one more box)."""
    if is_walkthrough(coll):
        raise PopulateError(f"{coll.name} is a walk-through: its objects have no boxes in one picture")
    res = scene_reply(coll)
    return [list(map(float, res["objects"][int(o[INDEX_PROP])]["box"])) for o in scene_roots(coll)]


def _remove_tree(root):
    objs = [*root.children_recursive, root]
    bpy.data.batch_remove(objs)


def _root_reply(obj):
    """(the scene object's Empty, its collection, the reply) for ``obj`` or anything below its Empty."""
    root = scene_root(obj)
    if root is None:
        raise PopulateError(f"{obj.name} was not placed by Populate from Picture or Walk-through")
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
    reference = reference_matrix(coll)
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
    root.matrix_world = reference @ Matrix(pose_matrix(ans).tolist())
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
        raise PopulateError(f"{obj.name} was not placed by Populate from Picture or Walk-through")
    _remove_tree(root)


def remove_scene(coll):
    """Remove a populated collection, its camera (and a walk-through camera's
    track) and objects (the imported templates stay for the next populate)."""
    objs = list(coll.all_objects)
    cams = [o.data for o in objs if o.type == "CAMERA" and o.data is not None and o.data.users <= 1]
    actions = {o.animation_data.action for o in objs if o.type == "CAMERA" and o.animation_data is not None
               and o.animation_data.action is not None and o.animation_data.action.users <= 1}
    bpy.data.batch_remove([*objs, *cams, *actions, *coll.children_recursive, coll])
