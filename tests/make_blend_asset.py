"""Write a .blend holding one mesh object marked as an asset (run in its own process).

    python tests/make_blend_asset.py MESH.ply OUT.blend NAME [R,G,B]

With R,G,B (0..1) the object gets a material of that base colour.
"""

import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp())
import bpy  # noqa: E402
import numpy as np  # noqa: E402
import trimesh  # noqa: E402

from render.engine import mesh_from_arrays  # noqa: E402

mesh_path, out, name = sys.argv[1:4]
m = trimesh.load(mesh_path, force="mesh", process=False)
v = np.asarray(m.vertices, np.float32)
f = np.asarray(m.faces, np.int32)
bpy.ops.wm.read_factory_settings(use_empty=True)
me = mesh_from_arrays(name, v, f)
obj = bpy.data.objects.new(name, me)
bpy.context.scene.collection.objects.link(obj)
obj.location = (5.0, -3.0, 1.0)  # the asset's own placement must not matter
if len(sys.argv) > 4:
    rgb = [float(x) for x in sys.argv[4].split(",")]
    mat = bpy.data.materials.new(name + "_material")
    mat.use_nodes = True
    mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*rgb, 1.0)
    me.materials.append(mat)
obj.asset_mark()
bpy.ops.wm.save_as_mainfile(filepath=out)
print("saved", out)
