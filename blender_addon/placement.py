"""Building the matched asset in the scene, turned so the camera sees it as the
reference image shows it.

The worker reports, for the chosen reference image, the direction ``d`` (and
up vector ``u``) from which the asset — in its own normalised frame — looks
like the reference.  The asset is rotated by ``R`` with ``R·d`` pointing from
the 3D cursor to the camera and ``R·u`` along the camera's up, using
:func:`rotationnet.core.views.rotation_between_views` (the one definition of the
rig geometry, bundled with the add-on as a wheel).
"""

import bpy
import numpy as np
from mathutils import Matrix

from rotationnet.core.views import rotation_between_views


class PlacementError(Exception):
    pass


def viewer(context):
    """(position, up) of the active scene camera, or of the 3D viewport when
    the scene has no camera."""
    cam = context.scene.camera
    if cam is not None:
        m = cam.matrix_world
        return np.array(m.translation), np.array(m.col[1].xyz)
    for window in getattr(context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                r3d = area.spaces.active.region_3d
                inv = r3d.view_matrix.inverted()
                return np.array(inv.translation), np.array(inv.col[1].xyz)
    raise PlacementError("no scene camera and no 3D viewport to place the asset for")


def placement_rotation(direction, up, to_viewer, viewer_up) -> np.ndarray:
    """3×3 rotation taking the asset-frame view (direction, up) onto the
    world-frame line of sight (to_viewer, viewer_up)."""
    w = np.asarray(to_viewer, dtype=np.float64)
    n = np.linalg.norm(w)
    if n < 1e-9:
        raise PlacementError("the camera stands on the 3D cursor")
    return rotation_between_views(np.asarray(direction), np.asarray(up), w / n, np.asarray(viewer_up))


def _mesh_object(name, npz_path):
    with np.load(npz_path, allow_pickle=False) as z:
        v = np.ascontiguousarray(z["vertices"], dtype=np.float32)
        f = np.ascontiguousarray(z["faces"], dtype=np.int32)
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(v))
    me.vertices.foreach_set("co", v.reshape(-1))
    me.loops.add(f.size)
    me.loops.foreach_set("vertex_index", f.reshape(-1))
    me.polygons.add(len(f))
    me.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
    me.update(calc_edges=True)
    me.validate()
    return bpy.data.objects.new(name, me)


def _blend_object(path, name):
    with bpy.data.libraries.load(path, link=False, assets_only=True) as (_src, dst):
        dst.objects = [name]
    obj = dst.objects[0]
    if obj is None:
        raise PlacementError(f"{path}: asset object '{name}' not found")
    return obj


def place(context, result, ref_index=0, keep_size=True):
    """Create the result's asset at the 3D cursor in the pose of reference
    ``ref_index``; returns the new object."""
    asset = result.get("asset")
    if not asset:
        raise PlacementError("the last result has no matching asset")
    images = result["images"]
    if not 0 <= ref_index < len(images):
        raise PlacementError(f"no reference image #{ref_index + 1}")
    im = images[ref_index]
    pos, up = viewer(context)
    cursor = np.array(context.scene.cursor.location)
    rot = placement_rotation(im["asset_view_direction"], im["asset_view_up"], pos - cursor, up)
    r4 = Matrix([[*rot[0], 0], [*rot[1], 0], [*rot[2], 0], [0, 0, 0, 1]])
    scale = float(asset["scale"])
    name = asset["id"].replace("\\", "/").split("/")[-1].split("::")[-1].rsplit(".", 1)[0]
    if asset["kind"] == "blend":
        obj = _blend_object(asset["source"], asset["object"])
        center = Matrix.Translation([-c for c in asset["center"]])
        s = 1.0 if keep_size else scale
        obj.matrix_world = Matrix.Translation(cursor) @ r4 @ Matrix.Scale(s, 4) @ center
    else:
        obj = _mesh_object(name, asset["mesh"])  # vertices already centred, in the unit sphere
        s = 1.0 / scale if keep_size else 1.0
        obj.matrix_world = Matrix.Translation(cursor) @ r4 @ Matrix.Scale(s, 4)
    coll = context.collection or context.scene.collection
    if obj.name not in coll.objects:
        coll.objects.link(obj)
    obj["rotationnet_class"] = result["class"]
    obj["rotationnet_probability"] = float(result["probability"])
    obj["rotationnet_asset"] = asset["id"]
    obj["rotationnet_source"] = asset["source"]
    obj["rotationnet_view_slot"] = int(im["view_slot"])
    obj["rotationnet_asset_view"] = int(im["asset_view"])
    obj["rotationnet_reference"] = im["image"]
    for o in context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj
