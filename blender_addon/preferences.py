"""Add-on preferences: the worker's interpreter, the trained model, the asset library."""

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty


def addon_prefs(context=None):
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def _library_items(self, context):
    """The custom folder plus Blender's registered asset libraries
    (Preferences › File Paths › Asset Libraries)."""
    items = [("PATH", "Folder or .blend", "the Asset Library path below")]
    for lib in getattr(context.preferences.filepaths, "asset_libraries", []):
        items.append((f"LIB:{lib.name}", lib.name, lib.path))
    return items


def library_path(prefs, context=None) -> str:
    """The asset library the worker should use: a registered Blender asset
    library's folder, or the path set in the preferences."""
    src = prefs.library_source
    if src.startswith("LIB:"):
        name = src[4:]
        for lib in (context or bpy.context).preferences.filepaths.asset_libraries:
            if lib.name == name:
                return bpy.path.abspath(lib.path)
        return ""
    return bpy.path.abspath(prefs.library) if prefs.library else ""


class ROTATIONNET_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    python_path: StringProperty(
        name="Worker Python",
        description="Python interpreter with rotationnet (and torch) installed, e.g. the project's "
                    ".venv/bin/python; empty: the .venv of the project the Model folder lies in",
        subtype="FILE_PATH",
        default="",
    )
    run_dir: StringProperty(
        name="Model",
        description="Run folder written by `rotationnet train` (holds best.json and its tensor file); empty: "
                    "the library alone finds the asset and its pose, a model narrows the search to its classes",
        subtype="DIR_PATH",
        default="",
    )
    library: StringProperty(
        name="Asset Library",
        description="Mesh folder (<Class>/*.ext or <Class>/{train,test}/*.ext) or a folder/.blend file "
                    "with objects marked as assets",
        subtype="FILE_PATH",
        default="",
    )
    library_source: EnumProperty(
        name="Library",
        description="Where the assets come from: a folder or .blend file, or one of Blender's asset libraries",
        items=_library_items,
    )
    up_axis: EnumProperty(
        name="Up Axis",
        description="The library's up axis: Z (Blender, ModelNet) or Y (many OBJ and glTF sources)",
        items=[("Z", "Z", "+Z is up"), ("Y", "Y", "+Y is up")],
        default="Z",
    )
    top_k: IntProperty(name="Results", description="Number of classes to show", default=3, min=1, max=20)
    keep_size: BoolProperty(
        name="Keep Asset Size",
        description="Place the asset at its original size (off: scaled to fit a sphere of radius 1)",
        default=True,
    )

    link_blend: BoolProperty(
        name="Link .blend Assets",
        description="Place objects of .blend libraries with their data linked from the library file (read-only, "
                    "follows changes to the file); off: appended, a local copy",
        default=False,
    )

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "python_path")
        col.prop(self, "run_dir")
        col.prop(self, "library_source")
        if self.library_source == "PATH":
            col.prop(self, "library")
        col.prop(self, "up_axis")
        row = col.row()
        row.prop(self, "top_k")
        row.prop(self, "keep_size")
        col.prop(self, "link_blend")


classes = (ROTATIONNET_AddonPreferences,)
