"""RotationNet Asset Finder: classify reference images, place the matching asset;
populate a scene with every library object of a whole picture or a walk-through.

Split by concern (like Blender's own glTF add-on):

* ``preferences``  — add-on preferences (worker interpreter, model, library)
* ``properties``   — the panel's state (reference images, last result)
* ``worker``       — the inference worker process (torch lives there, not here)
* ``placement``    — building the asset object and turning it to the pose
* ``populate``     — a whole picture's reply: a camera that sees as the picture, every object placed;
  a walk-through's: a camera animated along its track, every object placed once
* ``operators``    — ROTATIONNET_OT_* (add/remove references, classify, place, cancel, populate)
* ``panels``       — ROTATIONNET_PT_* (3D Viewport › Sidebar › RotationNet)
"""

import bpy

from . import operators, panels, preferences, properties, worker

_classes = (
    *preferences.classes,
    *properties.classes,
    *operators.classes,
    *panels.classes,
)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(_classes)


def register():
    _register_classes()
    properties.register()


def unregister():
    worker.shutdown()
    properties.unregister()
    _unregister_classes()
