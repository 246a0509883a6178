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


def blend_object_mesh(path: str, name: str, with_colors: bool = False):
    """Triangles of a .blend asset object (and its mesh children) in its own frame:
    (vertices, faces), and with ``with_colors`` the materials' colours averaged
    onto the vertices ((n, 3) in 0..1, or None when no material has a colour)."""
    import bpy

    with bpy.data.libraries.load(path, link=False, assets_only=True) as (_src, dst):
        dst.objects = [name]
    obj = dst.objects[0]
    if obj is None:
        raise DataError(f"{path}: asset object '{name}' not found")
    verts, faces, cols, offset = [], [], [], 0
    coloured = False
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
            # each triangle's material colour (the Principled BSDF's base colour, else the
            # viewport colour), averaged onto the vertices
            mats = [_material_color(ms.material) for ms in o.material_slots] or [None]
            coloured |= any(c is not None for c in mats)
            mi = np.empty(len(me.loop_triangles), np.int32)
            me.loop_triangles.foreach_get("material_index", mi)
            table = np.array([c if c is not None else (0.8, 0.8, 0.8) for c in mats], np.float64)
            fc = table[np.clip(mi, 0, len(table) - 1)]
            vc, cnt = np.zeros((len(co), 3)), np.zeros(len(co))
            t3 = tri.reshape(-1, 3)
            for k in range(3):
                np.add.at(vc, t3[:, k], fc)
                np.add.at(cnt, t3[:, k], 1)
            cols.append(np.where(cnt[:, None] > 0, vc / np.maximum(cnt, 1)[:, None], 0.8))
    finally:
        for o in [obj, *obj.children_recursive]:
            data = o.data
            bpy.data.objects.remove(o, do_unlink=True)
            if isinstance(data, bpy.types.Mesh) and data.users == 0:
                bpy.data.meshes.remove(data)
    if not faces or sum(len(f) for f in faces) == 0:
        raise DataError(f"{path}: asset '{name}' has no mesh faces")
    v, f = np.concatenate(verts).astype(np.float64), np.concatenate(faces).astype(np.int64)
    if with_colors:
        return v, f, (np.concatenate(cols).astype(np.float32) if coloured else None)
    return v, f


def _material_color(mat):
    """A material's colour (RGB 0..1): the Principled BSDF's base colour, else its viewport colour."""
    if mat is None:
        return None
    if mat.use_nodes and mat.node_tree is not None:
        for node in mat.node_tree.nodes:
            if node.type == "BSDF_PRINCIPLED":
                c = node.inputs["Base Color"].default_value
                return (float(c[0]), float(c[1]), float(c[2]))
    c = mat.diffuse_color
    return (float(c[0]), float(c[1]), float(c[2]))
