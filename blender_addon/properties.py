"""The panel's state: reference images and the last result (stored as JSON), the
last whole-picture reply and the collection populated from it, the typed box of
Add Box & Rerun, the last walk-through reply and its collection.  Whether a request is running lives in :mod:`.worker`, not in
saved data."""

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
    # whole pictures: the last scene reply (what Populate builds from) and the collection it built
    scene_json: StringProperty(default="")
    scene_collection: PointerProperty(name="Populated", type=bpy.types.Collection)
    # Add Box & Rerun: a box in the picture's pixels (origin top-left, y down)
    box_x: IntProperty(name="X", description="the box's left edge (pixels from the picture's left)", default=0,
                       min=0)
    box_y: IntProperty(name="Y", description="the box's top edge (pixels from the picture's top)", default=0, min=0)
    box_w: IntProperty(name="Width", description="the box's width in pixels", default=0, min=0)
    box_h: IntProperty(name="Height", description="the box's height in pixels", default=0, min=0)
    # walk-throughs: the last walkthrough reply and the collection it built
    walk_json: StringProperty(default="")
    walk_collection: PointerProperty(name="Walk-through", type=bpy.types.Collection)

    @property
    def result(self):
        return _loads(self.result_json)

    @property
    def scene_result(self):
        return _loads(self.scene_json)

    @property
    def walk_result(self):
        return _loads(self.walk_json)


def _loads(text):
    if not text:
        return None
    try:
        return json.loads(text)
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
