"""Write a small textured glTF binary with a node hierarchy (run in its own process).

    python tests/make_textured_glb.py OUT.glb

Nodes: ``Root`` (an Empty, moved and turned) › ``Body`` (a box with the image
texture ``checker`` on the UV layer ``UVMap``, material ``Painted``) ›
``Wheel`` (a small box, material ``Red``), each with its own transform.
"""

import itertools
import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp())
import bpy  # noqa: E402
import numpy as np  # noqa: E402

out = sys.argv[1]
bpy.ops.wm.read_factory_settings(use_empty=True)
img = bpy.data.images.new("checker", 16, 16)
px = np.zeros((16, 16, 4), np.float32)
px[..., 3] = 1
px[::2, ::2, 0] = 1
px[1::2, 1::2, 2] = 1
px[::2, 1::2, 1] = 1
img.pixels.foreach_set(px.ravel())
img.pack()
mat = bpy.data.materials.new("Painted")
mat.use_nodes = True
tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
tex.image = img
mat.node_tree.links.new(tex.outputs["Color"], mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"])
red = bpy.data.materials.new("Red")
red.use_nodes = True
red.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.8, 0.1, 0.1, 1)


def box(name, size, offset, material):
    v = np.array(list(itertools.product([-1, 1], repeat=3)), float) * size + offset
    me = bpy.data.meshes.new(name)
    me.from_pydata(v.tolist(), [], [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    uv = me.uv_layers.new(name="UVMap")
    for i, loop in enumerate(uv.data):
        loop.uv = (float(i % 4 in (1, 2)), float(i % 4 >= 2))
    me.materials.append(material)
    obj = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(obj)
    return obj


root = bpy.data.objects.new("Root", None)
bpy.context.scene.collection.objects.link(root)
root.location, root.rotation_euler = (0.3, 0.2, 0.5), (0.2, 0.1, 0.4)
body = box("Body", np.array([1.0, 0.5, 0.3]), np.array([0.1, 0, 0]), mat)
body.parent = root
body.location, body.rotation_euler, body.scale = (0.5, 0, 0), (0, 0.3, 0), (1, 1.5, 1)
wheel = box("Wheel", np.array([0.2, 0.2, 0.2]), np.zeros(3), red)
wheel.parent = body
wheel.location, wheel.rotation_euler = (0.8, 0.3, -0.4), (0.5, 0, 0.7)
bpy.ops.export_scene.gltf(filepath=out, export_format="GLB")
print("saved", out)
