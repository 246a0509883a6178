"""The panel's state: reference images and the last result (stored as JSON).
Whether a request is running lives in :mod:`.worker`, not in saved data."""

import json

import bpy
from bpy.props import CollectionProperty, FloatProperty, IntProperty, PointerProperty, StringProperty


class ROTATIONNET_Reference(bpy.types.PropertyGroup):
    filepath: StringProperty(name="File", subtype="FILE_PATH")
    image: PointerProperty(name="Image", type=bpy.types.Image)


class ROTATIONNET_State(bpy.types.PropertyGroup):
    references: CollectionProperty(type=ROTATIONNET_Reference)
    active_reference: IntProperty(name="Reference", default=0, min=0)
    status: StringProperty(name="Status", default="")
    error: StringProperty(name="Error", default="")
    warning: StringProperty(name="Warning", default="")  # the last Place's warnings, one a line
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    result_json: StringProperty(default="")

    @property
    def result(self):
        if not self.result_json:
            return None
        try:
            return json.loads(self.result_json)
        except ValueError:
            return None


classes = (ROTATIONNET_Reference, ROTATIONNET_State)


def state(context=None):
    """The scene's RotationNet state (references and last result are saved with the file)."""
    return (context or bpy.context).scene.rotationnet


def register():
    bpy.types.Scene.rotationnet = PointerProperty(type=ROTATIONNET_State)


def unregister():
    del bpy.types.Scene.rotationnet
