"""ROTATIONNET_OT_*: reference images, Classify, Place, Next Pose, Cancel; for
whole pictures Populate from Picture, each populated object's Next Pose / Next
Asset / Remove, and Add Box & Rerun; for photos or a video taken while walking
around a set, Populate from Walk-through (its objects use the same list)."""

import json
import os
import tempfile

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper
from rotationnet.core import protocol
from rotationnet.core.manifest import VIDEO_EXTENSIONS, natural_key

from . import placement, populate, worker
from .preferences import addon_prefs, library_path
from .properties import state

IMAGE_FILTER = "*.png;*.jpg;*.jpeg;*.bmp;*.tif;*.tiff;*.webp"
VIDEO_FILTER = ";".join(f"*{e}" for e in VIDEO_EXTENSIONS)
WALK_FILTER = f"{IMAGE_FILTER};{VIDEO_FILTER}"
WALKTHROUGH_FOLDER = "rotationnet_walkthroughs"  # beside the saved .blend: every walk-through's frames


def _cache_dir():
    try:
        return bpy.utils.extension_path_user(__package__, path="cache", create=True)
    except (ValueError, AttributeError):  # loaded as a legacy add-on
        d = os.path.join(tempfile.gettempdir(), "rotationnet-cache")
        os.makedirs(d, exist_ok=True)
        return d


def _redraw():
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def _status(text, context=None):
    st = state(context)
    st.status = text
    ws = getattr(bpy.context, "workspace", None)
    if ws is not None and bpy.context.window is not None:
        ws.status_text_set(text or None)
    _redraw()


def _reference_paths(context):
    st = state(context)
    paths = []
    for n, ref in enumerate(st.references):
        if ref.image is not None:
            img = ref.image
            path = bpy.path.abspath(img.filepath) if img.filepath else ""
            if not path or not os.path.isfile(path) or img.packed_file is not None or img.is_dirty:
                path = os.path.join(_cache_dir(), f"reference_{n}_{bpy.path.clean_name(img.name)}.png")
                img.save(filepath=path)  # packed, generated or edited: write what Blender shows
            paths.append(path)
        else:
            path = bpy.path.abspath(ref.filepath)
            if not os.path.isfile(path):
                raise worker.WorkerError(f"reference image not found: {path}")
            paths.append(path)
    if not paths:
        raise worker.WorkerError("add at least one reference image")
    return paths


class ROTATIONNET_OT_add_reference(bpy.types.Operator, ImportHelper):
    """Add reference image files (views of one object from unknown viewpoints)"""

    bl_idname = "rotationnet.add_reference"
    bl_label = "Add Reference Images"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default=IMAGE_FILTER, options={"HIDDEN"})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})

    def execute(self, context):
        st = state(context)
        names = [f.name for f in self.files if f.name] if self.files else []
        paths = [os.path.join(self.directory, n) for n in names] if names else [self.filepath]
        added = 0
        for p in paths:
            if not os.path.isfile(p):
                self.report({"ERROR"}, f"Not a file: {p}")
                continue
            ref = st.references.add()
            ref.filepath = p
            added += 1
        st.active_reference = max(0, len(st.references) - 1)
        return {"FINISHED"} if added else {"CANCELLED"}


def _image_items(self, context):
    return [(img.name, img.name, "") for img in bpy.data.images if img.type in ("IMAGE", "UV_TEST")] or \
        [("", "(no images loaded)", "")]


class ROTATIONNET_OT_add_loaded_image(bpy.types.Operator):
    """Use an image already loaded in Blender as a reference"""

    bl_idname = "rotationnet.add_loaded_image"
    bl_label = "Add Loaded Image"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "image"

    image: EnumProperty(name="Image", items=_image_items)

    def invoke(self, context, event):
        context.window_manager.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        img = bpy.data.images.get(self.image)
        if img is None:
            self.report({"ERROR"}, "No such image")
            return {"CANCELLED"}
        ref = state(context).references.add()
        ref.image = img
        return {"FINISHED"}


class ROTATIONNET_OT_remove_reference(bpy.types.Operator):
    """Remove a reference image (all with index -1)"""

    bl_idname = "rotationnet.remove_reference"
    bl_label = "Remove Reference"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(default=-1)

    def execute(self, context):
        st = state(context)
        if self.index < 0:
            st.references.clear()
        elif self.index < len(st.references):
            st.references.remove(self.index)
        st.active_reference = min(st.active_reference, max(0, len(st.references) - 1))
        return {"FINISHED"}


def _worker_setup(context):
    """(python, run folder, library) for a request, or raise WorkerError saying what to set."""
    prefs = addon_prefs(context)
    run = bpy.path.abspath(prefs.run_dir) if prefs.run_dir else ""
    lib = library_path(prefs)
    if run and not os.path.isfile(os.path.join(run, "best.json")) and not os.path.isfile(os.path.join(run, "last.json")):
        raise worker.WorkerError(f"no trained model in '{run}': set the Model folder in the preferences "
                                 "(or leave it empty to match the library without a model)")
    if not lib or not os.path.exists(lib):
        raise worker.WorkerError(f"asset library not found: '{lib or '(not set)'}'")
    return worker.resolve_python(prefs.python_path, run or lib), run, lib


def _send(context, setup, cmd, on_result, **fields):
    """Configure the worker (model, library), then send ``cmd`` with ``fields``;
    replies arrive through timers.  Progress lines and errors go to the panel's
    state; the result to ``on_result(state, result, scene_name)``."""
    python, run, lib = setup
    prefs = addon_prefs(context)
    st = state(context)
    scene_name = context.scene.name
    st.error = ""
    st.warning = ""
    st.progress = 0.0
    verb = {"classify": "classifying", "scene": "finding the picture's objects",
            "walkthrough": "tracking the walk-through"}.get(cmd, cmd)
    _status("RotationNet: starting the worker…" if not worker.is_alive() else f"RotationNet: {verb}…", context)

    def scene_state():
        sc = bpy.data.scenes.get(scene_name)
        return sc.rotationnet if sc else None

    def progress(frac, message):
        s = scene_state()
        if s is not None:
            s.progress = frac
            _status(f"RotationNet: {message}")

    def failed(msg):
        s = scene_state()
        if s is not None:
            s.error = msg.get("error", "unknown error")
            s.warning = ""
            s.progress = 0.0
        _status("")

    def done(msg):
        if not msg.get("ok"):
            return failed(msg)
        s = scene_state()
        if s is None:
            return
        s.progress = 1.0
        _status("")
        on_result(s, msg["result"], scene_name)

    def configured(msg):
        if not msg.get("ok"):
            return failed(msg)
        worker.request(python, cmd, done, progress, **fields)

    worker.request(python, "configure", configured, progress, run=run, library=lib,
                   cache=os.path.join(_cache_dir(), "index"), up_axis=prefs.up_axis)


def _start_classify(context, then_place=False):
    """Configure the worker, then classify; replies arrive through timers."""
    prefs = addon_prefs(context)
    setup = _worker_setup(context)
    images = _reference_paths(context)

    def classified(s, res, scene_name):
        s.result_json = json.dumps(res)
        asset = res.get("asset") or {}
        prob = f" ({res['probability']:.0%})" if res.get("probability") is not None else ""
        s.status = f"{res.get('class') or '?'}{prob}" + (f" → {asset.get('id')}" if asset else "")
        _load_thumbnails(res)
        # an undo step holding the result, so undoing a later Place keeps it (the result
        # arrives through a timer, which pushes no undo step of its own)
        try:
            bpy.ops.ed.undo_push(message="RotationNet Classify")
        except RuntimeError:
            pass
        if then_place:
            try:
                with bpy.context.temp_override(scene=bpy.data.scenes[scene_name]):
                    bpy.ops.rotationnet.place("EXEC_DEFAULT", True)
            except RuntimeError as e:
                s.error = str(e)

    _send(context, setup, "classify", classified, images=images, top_k=prefs.top_k,
          thumbs=os.path.join(_cache_dir(), "thumbnails"))


def _load_thumbnails(result):
    for im in result.get("images", []):
        p = im.get("thumbnail")
        if p and os.path.isfile(p):
            try:
                img = bpy.data.images.load(p, check_existing=True)
                im["thumbnail_image"] = img.name
            except RuntimeError:
                pass


class ROTATIONNET_OT_classify(bpy.types.Operator):
    """Classify the reference images: top classes, each image's view and the best asset"""

    bl_idname = "rotationnet.classify"
    bl_label = "Classify"

    @classmethod
    def poll(cls, context):
        return not worker.busy()

    def execute(self, context):
        try:
            _start_classify(context)
        except worker.WorkerError as e:
            state(context).error = str(e)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


class ROTATIONNET_OT_place(bpy.types.Operator):
    """Place the best-matching asset at the 3D cursor, turned so the camera sees it as the reference shows it"""

    bl_idname = "rotationnet.place"
    bl_label = "Place Asset"
    bl_options = {"REGISTER", "UNDO"}

    reference: IntProperty(name="Reference", description="Which reference image the camera should reproduce "
                           "(-1: the active one)", default=-1)

    @classmethod
    def poll(cls, context):
        return not worker.busy()

    def execute(self, context):
        st = state(context)
        res = st.result
        if res is None or not res.get("asset"):
            # nothing classified yet: classify first, place when the answer arrives
            try:
                _start_classify(context, then_place=True)
            except worker.WorkerError as e:
                st.error = str(e)
                self.report({"ERROR"}, str(e))
                return {"CANCELLED"}
            self.report({"INFO"}, "Classifying first; the asset is placed when done")
            return {"FINISHED"}
        idx = st.active_reference if self.reference < 0 else self.reference
        prefs = addon_prefs(context)
        try:
            obj, warnings = placement.place(context, res, idx, prefs.keep_size, link=prefs.link_blend)
        except (placement.PlacementError, OSError, RuntimeError, KeyError, ValueError) as e:
            st.error = f"cannot place the asset: {e}"
            st.warning = ""
            self.report({"ERROR"}, st.error)
            return {"CANCELLED"}
        st.error = ""
        st.warning = "\n".join(warnings)
        for w in warnings:
            self.report({"WARNING"}, w)
        self.report({"INFO"}, f"Placed {obj.name} ({res.get('class') or res['asset']['id']})")
        return {"FINISHED"}


class ROTATIONNET_OT_next_pose(bpy.types.Operator):
    """Turn the placed asset to the next best pose (the mirror or front-back one among them)"""

    bl_idname = "rotationnet.next_pose"
    bl_label = "Next Pose"
    bl_options = {"REGISTER", "UNDO"}

    step: IntProperty(name="Step", description="1: the next pose, -1: the previous one", default=1)

    @classmethod
    def poll(cls, context):
        return placement.placed_root(context.active_object) is not None and state(context).result is not None

    def execute(self, context):
        st = state(context)
        try:
            choice, n = placement.turn(context, context.active_object, st.result, self.step)
        except (placement.PlacementError, KeyError, ValueError) as e:
            st.error = f"cannot turn the asset: {e}"
            self.report({"ERROR"}, st.error)
            return {"CANCELLED"}
        st.error = ""
        self.report({"INFO"}, f"pose {choice + 1} of {n}")
        return {"FINISHED"}


class ROTATIONNET_OT_cancel(bpy.types.Operator):
    """Cancel the running classification or indexing (ends the worker process)"""

    bl_idname = "rotationnet.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        worker.cancel()
        st = state(context)
        st.progress = 0.0
        st.error = "cancelled"
        _status("")
        return {"FINISHED"}


# -- whole pictures -----------------------------------------------------------------

def _start_scene(context, image, boxes=None, camera=None, replace=""):
    """Configure the worker, then ask for every library object in ``image``
    (only those in ``boxes`` when given); the reply is populated in one undo
    step (replacing the collection ``replace`` when given)."""
    setup = _worker_setup(context)
    if not os.path.isfile(image):
        raise worker.WorkerError(f"picture not found: {image}")
    fields = {"image": image, "thumbs": os.path.join(_cache_dir(), "thumbnails")}
    if boxes:
        fields["boxes"] = boxes
    if camera:
        fields["camera"] = camera

    def found(s, res, scene_name):
        s.scene_json = json.dumps(res)
        s.status = res.get("message") or ""
        try:
            with bpy.context.temp_override(scene=bpy.data.scenes[scene_name]):
                bpy.ops.rotationnet.populate_scene("EXEC_DEFAULT", True, replace=replace)
        except RuntimeError as e:  # the operator reported its error (already in the panel's state)
            s.error = s.error or str(e)

    _send(context, setup, "scene", found, **fields)


def _camera_views(context, camera):
    """Look through ``camera`` in every 3D viewport (the picture behind the placed assets)."""
    for window in getattr(context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                space = area.spaces.active
                if space.region_3d is not None:
                    space.region_3d.view_perspective = "CAMERA"
                area.tag_redraw()


class ROTATIONNET_OT_populate_from_picture(bpy.types.Operator, ImportHelper):
    """Find every library object in a whole picture (a photo or a painting) and place them all, seen by a camera
    that sees as the picture, with the picture as its background"""

    bl_idname = "rotationnet.populate_from_picture"
    bl_label = "Populate from Picture"

    filter_glob: StringProperty(default=IMAGE_FILTER, options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return not worker.busy()

    def execute(self, context):
        try:
            _start_scene(context, bpy.path.abspath(self.filepath))
        except worker.WorkerError as e:
            state(context).error = str(e)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


class ROTATIONNET_OT_populate_scene(bpy.types.Operator):
    """Populate the scene from the last whole-picture reply (one undo step)"""

    bl_idname = "rotationnet.populate_scene"
    bl_label = "Populate Scene"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    replace: StringProperty(name="Replace", description="a populated collection the new one replaces",
                            options={"SKIP_SAVE"})

    def execute(self, context):
        st = state(context)
        res = st.scene_result
        if res is None:
            st.error = "no whole-picture reply to populate: use Populate from Picture"
            self.report({"ERROR"}, st.error)
            return {"CANCELLED"}
        old = bpy.data.collections.get(self.replace) if self.replace else None
        try:
            coll, warnings = populate.populate(context, res, link=addon_prefs(context).link_blend)
        except (populate.PopulateError, OSError, RuntimeError) as e:
            st.error = f"cannot populate the scene: {e}"
            st.warning = ""
            self.report({"ERROR"}, st.error)
            return {"CANCELLED"}
        if old is not None and old != coll and populate.SCENE_PROP in old:
            name = old.name
            populate.remove_scene(old)
            coll.name = name
        st.scene_collection = coll
        st.error = ""
        st.warning = "\n".join(warnings)
        st.status = coll.get("rotationnet_message", "")
        for w in warnings:
            self.report({"WARNING"}, w)
        self.report({"INFO"}, f"{coll.name}: {st.status}")
        _camera_views(context, context.scene.camera)
        return {"FINISHED"}


def _scene_object(context, collection, index):
    """The Empty of object ``index`` in the populated collection ``collection``
    (empty: the active object's), or raise PopulateError."""
    if not collection:
        root = populate.scene_root(context.active_object)
        if root is None:
            raise populate.PopulateError("select an object placed by Populate from Picture or Walk-through")
        return root
    coll = bpy.data.collections.get(collection)
    if coll is None:
        raise populate.PopulateError(f"no collection {collection}")
    root = next((o for o in populate.scene_roots(coll) if int(o[populate.INDEX_PROP]) == index), None)
    if root is None:
        raise populate.PopulateError(f"{collection} holds no object {index + 1}")
    return root


class _SceneObjectOperator:
    bl_options = {"REGISTER", "UNDO"}

    collection: StringProperty(name="Collection", description="the populated collection (empty: the active "
                               "object's)", options={"SKIP_SAVE"})
    index: IntProperty(name="Object", description="the object's index in the populated reply", default=0, min=0,
                       options={"SKIP_SAVE"})

    def fail(self, context, e, what):
        st = state(context)
        st.error = f"cannot {what}: {e}"
        self.report({"ERROR"}, st.error)
        return {"CANCELLED"}


class ROTATIONNET_OT_scene_next_pose(_SceneObjectOperator, bpy.types.Operator):
    """Turn and move the populated object to its next answer for the same asset"""

    bl_idname = "rotationnet.scene_next_pose"
    bl_label = "Next Pose"

    step: IntProperty(name="Step", description="1: the next pose, -1: the previous one", default=1)

    def execute(self, context):
        try:
            root = _scene_object(context, self.collection, self.index)
            root, k, n = populate.next_pose(context, root, self.step, addon_prefs(context).link_blend)
        except (populate.PopulateError, placement.PlacementError, KeyError, ValueError) as e:
            return self.fail(context, e, "turn the object")
        state(context).error = ""
        self.report({"INFO"}, f"{root.name}: pose {k} of {n}")
        return {"FINISHED"}


class ROTATIONNET_OT_scene_next_asset(_SceneObjectOperator, bpy.types.Operator):
    """Replace the populated object by the next other asset among its alternatives (imported from its file)"""

    bl_idname = "rotationnet.scene_next_asset"
    bl_label = "Next Asset"

    step: IntProperty(name="Step", description="1: the next asset, -1: the previous one", default=1)

    def execute(self, context):
        try:
            root = _scene_object(context, self.collection, self.index)
            root, warnings = populate.next_asset(context, root, self.step, addon_prefs(context).link_blend)
        except (populate.PopulateError, placement.PlacementError, OSError, RuntimeError, KeyError, ValueError) as e:
            return self.fail(context, e, "change the asset")
        st = state(context)
        st.error = ""
        st.warning = "\n".join(warnings)
        self.report({"INFO"}, f"now {root.get('rotationnet_asset')}")
        return {"FINISHED"}


class ROTATIONNET_OT_scene_remove_object(_SceneObjectOperator, bpy.types.Operator):
    """Remove the populated object (a rerun with boxes leaves it out)"""

    bl_idname = "rotationnet.scene_remove_object"
    bl_label = "Remove"

    def execute(self, context):
        try:
            populate.remove_object(_scene_object(context, self.collection, self.index))
        except (populate.PopulateError, KeyError) as e:
            return self.fail(context, e, "remove the object")
        state(context).error = ""
        return {"FINISHED"}


class ROTATIONNET_OT_scene_add_box(bpy.types.Operator):
    """Ask the worker again for exactly the objects in the current objects' boxes and the typed box, and
    populate anew (replacing the collection)"""

    bl_idname = "rotationnet.scene_add_box"
    bl_label = "Add Box & Rerun"

    @classmethod
    def poll(cls, context):
        return not worker.busy() and state(context).scene_collection is not None

    def execute(self, context):
        st = state(context)
        coll = st.scene_collection
        try:
            res = populate.scene_reply(coll)
            cam = res["camera"]
            box = [st.box_x, st.box_y, st.box_w, st.box_h]
            if box[2] <= 0 or box[3] <= 0:
                raise populate.PopulateError("type the box's width and height (pixels)")
            if box[0] >= cam["width"] or box[1] >= cam["height"]:
                raise populate.PopulateError(f"the box starts outside the {cam['width']}×{cam['height']} picture")
            boxes = populate.current_boxes(coll) + [[float(x) for x in box]]
            _start_scene(context, coll.get(populate.PICTURE_PROP) or res["image"], boxes=boxes,
                         camera={"K": cam["K"]}, replace=coll.name)
        except (populate.PopulateError, worker.WorkerError, KeyError, TypeError) as e:
            st.error = f"cannot rerun: {e}"
            self.report({"ERROR"}, st.error)
            return {"CANCELLED"}
        return {"FINISHED"}


# -- walk-throughs ------------------------------------------------------------------

def _is_video(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def _walkthrough_out(name):
    """A new folder for a walk-through's frames: ``//rotationnet_walkthroughs/<name>/``
    beside the saved .blend, else in the add-on's cache; ``<name>_2``, … when
    ``<name>`` already holds an earlier walk-through's frames."""
    if bpy.data.is_saved:
        base = bpy.path.abspath(f"//{WALKTHROUGH_FOLDER}")
    else:
        base = os.path.join(_cache_dir(), "walkthroughs")
    name = bpy.path.clean_name(name) or "walkthrough"
    out, k = os.path.join(base, name), 2
    while os.path.isdir(out) and os.listdir(out):
        out, k = os.path.join(base, f"{name}_{k}"), k + 1
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise worker.WorkerError(f"cannot make the folder for the walk-through's frames {out}: "
                                 f"{e.strerror or e}") from None
    return out


def _frame_size(path):
    """(width, height) of a picture or a video's frames, read by Blender."""
    try:
        if _is_video(path):
            clip = bpy.data.movieclips.load(path)
            try:  # a file Blender cannot decode loads with no frames (and a placeholder size)
                size = tuple(clip.size) if clip.frame_duration > 0 else (0, 0)
            finally:
                bpy.data.movieclips.remove(clip)
        else:
            img = bpy.data.images.load(path, check_existing=False)
            try:
                size = tuple(img.size)
            finally:
                bpy.data.images.remove(img)
    except RuntimeError as e:
        raise worker.WorkerError(f"{path}: Blender cannot read it ({str(e).strip()})") from None
    if size[0] <= 0 or size[1] <= 0:
        raise worker.WorkerError(f"{path}: Blender cannot read its size, so the scene camera's lens cannot be "
                                 "sent (turn off Scene Camera's Lens)")
    return size


def scene_camera_K(camera, width, height):
    """The pinhole K (pixels of a ``width`` × ``height`` picture) of a Blender
    camera object: its lens, sensor fit and shift (the inverse of
    :meth:`rotationnet.core.camera.Intrinsics.blender_camera`)."""
    if camera is None or camera.type != "CAMERA":
        raise worker.WorkerError("the scene has no camera: add one or turn off Scene Camera's Lens")
    d = camera.data
    if d.type != "PERSP":
        raise worker.WorkerError(f"the scene camera {camera.name} is not a perspective camera: its lens cannot "
                                 "be sent (turn off Scene Camera's Lens)")
    fit = d.sensor_fit
    if fit == "AUTO":
        fit, sensor = ("HORIZONTAL" if width >= height else "VERTICAL"), d.sensor_width
    else:
        sensor = d.sensor_width if fit == "HORIZONTAL" else d.sensor_height
    fit_px = width if fit == "HORIZONTAL" else height
    f = d.lens / sensor * fit_px
    return [[f, 0.0, width / 2.0 - d.shift_x * fit_px], [0.0, f, height / 2.0 + d.shift_y * fit_px],
            [0.0, 0.0, 1.0]]


def walkthrough_request(context, paths, use_scene_camera=False):
    """The ``walkthrough`` request's fields for the chosen files: one video, or
    two or more pictures in name order; ``out`` a new folder for the frames;
    the scene camera's K at the frames' size when ``use_scene_camera``.
    Raises WorkerError saying what to choose."""
    paths = [os.path.abspath(bpy.path.abspath(p)) for p in paths if p]
    for p in paths:
        if not os.path.isfile(p):
            raise worker.WorkerError(f"not found: {p}")
    videos = [p for p in paths if _is_video(p)]
    if videos and len(paths) > 1:
        raise worker.WorkerError("choose one video, or two or more pictures (not both, not several videos)")
    if videos:
        fields = {"video": videos[0]}
    else:
        if len(paths) < 2:
            raise worker.WorkerError("a walk-through needs two or more pictures taken around the set, or one "
                                     "video")
        if len(paths) > protocol.MAX_FRAMES:
            raise worker.WorkerError(f"{len(paths)} pictures: a walk-through takes at most {protocol.MAX_FRAMES}")
        fields = {"images": sorted(paths, key=lambda p: natural_key(os.path.basename(p)))}
    first = fields.get("video") or fields["images"][0]
    if use_scene_camera:
        fields["camera"] = {"K": scene_camera_K(context.scene.camera, *_frame_size(first))}
    fields["out"] = _walkthrough_out(os.path.splitext(os.path.basename(first))[0])
    return fields


def _start_walkthrough(context, fields):
    """Configure the worker, then send ``walkthrough``; the reply is populated in one undo step."""
    setup = _worker_setup(context)

    def tracked(s, res, scene_name):
        s.walk_json = json.dumps(res)
        s.status = res.get("message") or ""
        try:
            with bpy.context.temp_override(scene=bpy.data.scenes[scene_name]):
                bpy.ops.rotationnet.populate_walkthrough_reply("EXEC_DEFAULT", True)
        except RuntimeError as e:  # the operator reported its error (already in the panel's state)
            s.error = s.error or str(e)

    _send(context, setup, "walkthrough", tracked, **fields)


class ROTATIONNET_OT_populate_from_walkthrough(bpy.types.Operator, ImportHelper):
    """Photos or one video taken while walking around a set: track the camera through them and place every
    library object once; the camera is animated along the track with the frames behind it"""

    bl_idname = "rotationnet.populate_from_walkthrough"
    bl_label = "Populate from Walk-through"

    filter_glob: StringProperty(default=WALK_FILTER, options={"HIDDEN"})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})
    use_scene_camera: BoolProperty(
        name="Scene Camera's Lens",
        description="Send the scene camera's lens (focal length, sensor, shift) as the frames' camera; off: the "
                    "photos' EXIF, else the tracking estimates it",
        default=False)

    @classmethod
    def poll(cls, context):
        return not worker.busy()

    def execute(self, context):
        names = [f.name for f in self.files if f.name] if self.files else []
        paths = [os.path.join(self.directory, n) for n in names] if names else [self.filepath]
        try:
            fields = walkthrough_request(context, paths, self.use_scene_camera)
            _start_walkthrough(context, fields)
        except worker.WorkerError as e:
            state(context).error = str(e)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


class ROTATIONNET_OT_populate_walkthrough_reply(bpy.types.Operator):
    """Populate the scene from the last walk-through reply (one undo step)"""

    bl_idname = "rotationnet.populate_walkthrough_reply"
    bl_label = "Populate Walk-through"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    def execute(self, context):
        st = state(context)
        res = st.walk_result
        if res is None:
            st.error = "no walk-through reply to populate: use Populate from Walk-through"
            self.report({"ERROR"}, st.error)
            return {"CANCELLED"}
        try:
            coll, warnings = populate.populate_walkthrough(context, res, link=addon_prefs(context).link_blend)
        except (populate.PopulateError, OSError, RuntimeError) as e:
            st.error = f"cannot populate the walk-through: {e}"
            st.warning = ""
            self.report({"ERROR"}, st.error)
            return {"CANCELLED"}
        st.walk_collection = coll
        st.error = ""
        st.warning = "\n".join(warnings)
        st.status = coll.get("rotationnet_message", "")
        for w in warnings:
            self.report({"WARNING"}, w)
        self.report({"INFO"}, f"{coll.name}: {st.status}")
        _camera_views(context, context.scene.camera)
        return {"FINISHED"}


classes = (
    ROTATIONNET_OT_add_reference,
    ROTATIONNET_OT_add_loaded_image,
    ROTATIONNET_OT_remove_reference,
    ROTATIONNET_OT_classify,
    ROTATIONNET_OT_place,
    ROTATIONNET_OT_next_pose,
    ROTATIONNET_OT_cancel,
    ROTATIONNET_OT_populate_from_picture,
    ROTATIONNET_OT_populate_scene,
    ROTATIONNET_OT_scene_next_pose,
    ROTATIONNET_OT_scene_next_asset,
    ROTATIONNET_OT_scene_remove_object,
    ROTATIONNET_OT_scene_add_box,
    ROTATIONNET_OT_populate_from_walkthrough,
    ROTATIONNET_OT_populate_walkthrough_reply,
)
