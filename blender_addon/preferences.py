"""Add-on preferences: the worker's interpreter, the trained model, the asset library."""

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty


def addon_prefs(context=None):
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


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
        description="Run folder written by `rotationnet train` (holds best.json and its tensor file)",
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
    top_k: IntProperty(name="Results", description="Number of classes to show", default=3, min=1, max=20)
    keep_size: BoolProperty(
        name="Keep Asset Size",
        description="Place the asset at its original size (off: scaled to fit a sphere of radius 1)",
        default=True,
    )

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "python_path")
        col.prop(self, "run_dir")
        col.prop(self, "library")
        row = col.row()
        row.prop(self, "top_k")
        row.prop(self, "keep_size")


classes = (ROTATIONNET_AddonPreferences,)
