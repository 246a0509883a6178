"""ROTATIONNET_PT_*: 3D Viewport › Sidebar › RotationNet."""

import bpy

from . import placement, populate, worker
from .preferences import addon_prefs
from .properties import state


class ROTATIONNET_UL_references(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        name = item.image.name if item.image else bpy.path.basename(item.filepath)
        layout.label(text=name, icon="IMAGE_DATA")


class _Base:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "RotationNet"


class ROTATIONNET_PT_main(_Base, bpy.types.Panel):
    bl_label = "RotationNet"

    def draw(self, context):
        layout = self.layout
        prefs = addon_prefs(context)
        st = state(context)
        col = layout.column(align=True)
        col.prop(prefs, "run_dir")
        col.prop(prefs, "library")
        col.prop(prefs, "top_k")

        layout.label(text="Reference Images")
        row = layout.row()
        row.template_list("ROTATIONNET_UL_references", "", st, "references", st, "active_reference", rows=3)
        side = row.column(align=True)
        side.operator("rotationnet.add_reference", text="", icon="FILE_IMAGE")
        side.operator("rotationnet.add_loaded_image", text="", icon="IMAGE_DATA")
        side.operator("rotationnet.remove_reference", text="", icon="REMOVE").index = st.active_reference
        side.operator("rotationnet.remove_reference", text="", icon="X").index = -1

        row = layout.row(align=True)
        row.scale_y = 1.3
        row.operator("rotationnet.classify", icon="VIEWZOOM")
        row.operator("rotationnet.place", icon="OBJECT_ORIGIN")
        obj = placement.placed_root(context.active_object)
        if obj is not None:
            row = layout.row(align=True)
            row.operator("rotationnet.next_pose", text="", icon="TRIA_LEFT").step = -1
            row.operator("rotationnet.next_pose", icon="TRIA_RIGHT").step = 1
            row.label(text=f"pose {int(obj['rotationnet_pose_choice']) + 1}, "
                           f"{float(obj.get('rotationnet_confidence', 0.0)):.0%} sure")
        if worker.busy():
            row = layout.row(align=True)
            row.progress(factor=st.progress, text=st.status or "working…")
            row.operator("rotationnet.cancel", text="", icon="CANCEL")
        if st.warning and not st.error:
            box = layout.box()
            for w in st.warning.splitlines():
                for n, line in enumerate(_wrap(w, 40)):
                    box.label(text=line, icon="INFO" if n == 0 else "NONE")
        if st.error:
            box = layout.box()
            box.alert = True
            for line in _wrap(st.error, 40):
                box.label(text=line, icon="ERROR" if line is not None else "NONE")


class ROTATIONNET_PT_results(_Base, bpy.types.Panel):
    bl_label = "Results"
    bl_parent_id = "ROTATIONNET_PT_main"

    @classmethod
    def poll(cls, context):
        return state(context).result is not None

    def draw(self, context):
        layout = self.layout
        res = state(context).result
        col = layout.column(align=True)
        for r in res.get("ranking", []):
            row = col.row()
            row.label(text=r["class"])
            row.label(text=f"{r['probability']:.1%}")
        if not res.get("ranking"):
            col.label(text="no model: matched against the whole library", icon="INFO")
        asset = res.get("asset")
        if asset:
            layout.label(text=f"Asset: {asset['id']}", icon="MESH_DATA")
        for n, im in enumerate(res.get("images", [])):
            box = layout.box()
            box.label(text=f"#{n + 1} {bpy.path.basename(im['image'])}")
            if "azimuth_deg" in im:
                box.label(text=f"azimuth {im['azimuth_deg']:.0f}°, elevation {im['elevation_deg']:.0f}°, "
                               f"{im.get('confidence', 0.0):.0%} sure")
            img = bpy.data.images.get(bpy.path.basename(im.get("thumbnail", "")))
            if img is not None:
                img.preview_ensure()
                box.template_icon(icon_value=img.preview.icon_id, scale=5.0)


class ROTATIONNET_PT_scene(_Base, bpy.types.Panel):
    """Whole pictures: populate, the populated objects with Next Pose / Next Asset / Remove, a typed box."""

    bl_label = "Whole Picture"
    bl_parent_id = "ROTATIONNET_PT_main"

    def draw(self, context):
        layout = self.layout
        st = state(context)
        row = layout.row()
        row.scale_y = 1.3
        row.operator("rotationnet.populate_from_picture", icon="IMAGE_REFERENCE")
        coll = st.scene_collection
        if coll is None or populate.SCENE_PROP not in coll:
            return
        _object_list(layout, coll, "OUTLINER_OB_CAMERA")
        box = layout.box()
        box.label(text="Box around a missed object (pixels)")
        row = box.row(align=True)
        row.prop(st, "box_x")
        row.prop(st, "box_y")
        row = box.row(align=True)
        row.prop(st, "box_w")
        row.prop(st, "box_h")
        box.operator("rotationnet.scene_add_box", icon="ADD")


class ROTATIONNET_PT_walkthrough(_Base, bpy.types.Panel):
    """Walk-throughs: populate from photos or a video, then the same object list as a whole picture's."""

    bl_label = "Walk-through"
    bl_parent_id = "ROTATIONNET_PT_main"

    def draw(self, context):
        layout = self.layout
        st = state(context)
        row = layout.row()
        row.scale_y = 1.3
        row.operator("rotationnet.populate_from_walkthrough", icon="SEQUENCE")
        coll = st.walk_collection
        if coll is None or populate.SCENE_PROP not in coll:
            return
        _object_list(layout, coll, "VIEW_CAMERA", f"{int(coll.get(populate.FRAMES_PROP, 0))} frames")


def _object_list(layout, coll, icon, detail=""):
    """A populated collection's name, message and objects, each with Next Pose / Next Asset / Remove."""
    layout.label(text=f"{coll.name}" + (f" ({detail})" if detail else ""), icon=icon)
    if coll.get("rotationnet_message"):
        for line in _wrap(coll["rotationnet_message"], 40):
            layout.label(text=line)
    col = layout.column(align=True)
    for root in populate.scene_roots(coll):
        index = int(root[populate.INDEX_PROP])
        row = col.row(align=True)
        asset = str(root.get("rotationnet_asset", root.name)).replace("\\", "/").split("/")[-1]
        row.label(text=f"{index + 1}. {asset}", icon="OUTLINER_OB_EMPTY")
        row.label(text=f"{float(root.get('rotationnet_confidence', 0.0)):.0%}")
        for op, op_icon in (("rotationnet.scene_next_pose", "FILE_REFRESH"),
                            ("rotationnet.scene_next_asset", "ARROW_LEFTRIGHT"),
                            ("rotationnet.scene_remove_object", "X")):
            props = row.operator(op, text="", icon=op_icon)
            props.collection = coll.name
            props.index = index


def _wrap(text, width):
    words, line, out = text.split(), "", []
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            out.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        out.append(line)
    return out


classes = (ROTATIONNET_UL_references, ROTATIONNET_PT_main, ROTATIONNET_PT_results, ROTATIONNET_PT_scene,
           ROTATIONNET_PT_walkthrough)
