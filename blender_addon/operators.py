"""ROTATIONNET_OT_*: reference images, Classify, Place, Next Pose, Cancel."""

import json
import os
import tempfile

import bpy
from bpy.props import CollectionProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import placement, worker
from .preferences import addon_prefs, library_path
from .properties import state

IMAGE_FILTER = "*.png;*.jpg;*.jpeg;*.bmp;*.tif;*.tiff;*.webp"


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


def _start_classify(context, then_place=False):
    """Configure the worker, then classify; replies arrive through timers."""
    prefs = addon_prefs(context)
    st = state(context)
    run = bpy.path.abspath(prefs.run_dir) if prefs.run_dir else ""
    lib = library_path(prefs)
    if run and not os.path.isfile(os.path.join(run, "best.json")) and not os.path.isfile(os.path.join(run, "last.json")):
        raise worker.WorkerError(f"no trained model in '{run}': set the Model folder in the preferences "
                                 "(or leave it empty to match the library without a model)")
    if not lib or not os.path.exists(lib):
        raise worker.WorkerError(f"asset library not found: '{lib or '(not set)'}'")
    python = worker.resolve_python(prefs.python_path, run or lib)
    images = _reference_paths(context)
    scene_name = context.scene.name
    st.error = ""
    st.warning = ""
    st.progress = 0.0
    _status("RotationNet: starting the worker…" if not worker.is_alive() else "RotationNet: classifying…", context)

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

    def classified(msg):
        if not msg.get("ok"):
            return failed(msg)
        s = scene_state()
        if s is None:
            return
        s.result_json = json.dumps(msg["result"])
        s.progress = 1.0
        res = msg["result"]
        asset = res.get("asset") or {}
        _status("")
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

    def configured(msg):
        if not msg.get("ok"):
            return failed(msg)
        worker.request(python, "classify", classified, progress, images=images, top_k=prefs.top_k,
                       thumbs=os.path.join(_cache_dir(), "thumbnails"))

    worker.request(python, "configure", configured, progress, run=run, library=lib,
                   cache=os.path.join(_cache_dir(), "index"), up_axis=prefs.up_axis)


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


classes = (
    ROTATIONNET_OT_add_reference,
    ROTATIONNET_OT_add_loaded_image,
    ROTATIONNET_OT_remove_reference,
    ROTATIONNET_OT_classify,
    ROTATIONNET_OT_place,
    ROTATIONNET_OT_next_pose,
    ROTATIONNET_OT_cancel,
)
