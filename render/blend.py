"""Assets inside ``.blend`` files (Blender as a module, in this process)."""

from __future__ import annotations

import numpy as np

from rotationnet.core.errors import DataError

__all__ = ["blend_asset_names", "blend_object_mesh"]


def blend_asset_names(path) -> list[str]:
    """Names of the objects marked as assets in a ``.blend`` file (sorted)."""
    import bpy

    with bpy.data.libraries.load(str(path), link=False, assets_only=True) as (src, _dst):
        return sorted(src.objects)


def blend_object_mesh(path: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of a .blend asset object (and its mesh children) in its own frame."""
    import bpy

    with bpy.data.libraries.load(path, link=False, assets_only=True) as (_src, dst):
        dst.objects = [name]
    obj = dst.objects[0]
    if obj is None:
        raise DataError(f"{path}: asset object '{name}' not found")
    verts, faces, offset = [], [], 0
    try:
        base_inv = np.array(obj.matrix_world.inverted())
        for o in [obj, *obj.children_recursive]:
            if o.type != "MESH":
                continue
            me = o.data
            me.calc_loop_triangles()
            co = np.empty(len(me.vertices) * 3, np.float32)
            me.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3)
            m = base_inv @ np.array(o.matrix_world)
            co = co @ m[:3, :3].T + m[:3, 3]
            tri = np.empty(len(me.loop_triangles) * 3, np.int32)
            me.loop_triangles.foreach_get("vertices", tri)
            verts.append(co)
            faces.append(tri.reshape(-1, 3) + offset)
            offset += len(co)
    finally:
        for o in [obj, *obj.children_recursive]:
            data = o.data
            bpy.data.objects.remove(o, do_unlink=True)
            if isinstance(data, bpy.types.Mesh) and data.users == 0:
                bpy.data.meshes.remove(data)
    if not faces or sum(len(f) for f in faces) == 0:
        raise DataError(f"{path}: asset '{name}' has no mesh faces")
    return np.concatenate(verts).astype(np.float64), np.concatenate(faces).astype(np.int64)
