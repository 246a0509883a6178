"""Building the matched asset in the scene, turned so the camera sees it as the
reference image shows it.

The worker reports, for the chosen reference image, the direction ``d`` (and
up vector ``u``) from which the asset — in its own normalised frame — looks
like the reference: a continuous pose from the asset's own renders, plus the
next best alternatives (the mirror / front-back one among them) that
:func:`turn` steps through.  The asset is rotated by ``R`` with ``R·d`` pointing from
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


def pose_choice(result, ref_index, choice):
    """The pose dict (``asset_view_direction``, ``asset_view_up``, ...) of
    reference ``ref_index``: the best one (``choice`` 0) or alternative ``choice``."""
    images = result["images"]
    if not 0 <= ref_index < len(images):
        raise PlacementError(f"no reference image #{ref_index + 1}")
    im = images[ref_index]
    if "asset_view_direction" not in im:
        raise PlacementError("the last result has no pose (no asset library was configured)")
    poses = [im, *im.get("alternatives", [])]
    return poses[choice % len(poses)], len(poses)


def _orientation(context, pose, at):
    """The asset's rotation (4×4) at world point ``at`` so the viewer sees it in ``pose``."""
    pos, up = viewer(context)
    rot = placement_rotation(pose["asset_view_direction"], pose["asset_view_up"], pos - np.asarray(at), up)
    return Matrix([[*rot[0], 0], [*rot[1], 0], [*rot[2], 0], [0, 0, 0, 1]])


def place(context, result, ref_index=0, keep_size=True, choice=0):
    """Create the result's asset at the 3D cursor in the pose of reference
    ``ref_index`` (``choice`` 0: the best pose, k: alternative k); returns the new object."""
    asset = result.get("asset")
    if not asset:
        raise PlacementError("the last result has no matching asset")
    pose, _ = pose_choice(result, ref_index, choice)
    cursor = np.array(context.scene.cursor.location)
    r4 = _orientation(context, pose, cursor)
    scale = float(asset["scale"])
    name = asset["id"].replace("\\", "/").split("/")[-1].split("::")[-1].rsplit(".", 1)[0]
    if asset["kind"] == "blend":
        obj = _blend_object(asset["source"], asset["object"])
        center = Matrix.Translation([-c for c in asset["center"]])
        s = 1.0 if keep_size else scale
        inner = Matrix.Scale(s, 4) @ center
    else:
        obj = _mesh_object(name, asset["mesh"])  # vertices already centred, in the unit sphere
        s = 1.0 / scale if keep_size else 1.0
        inner = Matrix.Scale(s, 4)
    # centring and scale inside the rotation, kept for turning the asset to another pose later
    obj["rotationnet_inner"] = [float(x) for row in inner for x in row]
    obj.matrix_world = Matrix.Translation(cursor) @ r4 @ inner
    coll = context.collection or context.scene.collection
    if obj.name not in coll.objects:
        coll.objects.link(obj)
    im = result["images"][ref_index]
    obj["rotationnet_class"] = result.get("class") or ""
    if result.get("probability") is not None:
        obj["rotationnet_probability"] = float(result["probability"])
    obj["rotationnet_asset"] = asset["id"]
    obj["rotationnet_source"] = asset["source"]
    if "view_slot" in im:
        obj["rotationnet_view_slot"] = int(im["view_slot"])
    obj["rotationnet_reference"] = im["image"]
    obj["rotationnet_reference_index"] = int(ref_index)
    _record_pose(obj, pose, choice)
    for o in context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


def _record_pose(obj, pose, choice):
    obj["rotationnet_pose_choice"] = int(choice)
    obj["rotationnet_confidence"] = float(pose.get("confidence", 0.0))
    obj["rotationnet_azimuth"] = float(pose["azimuth_deg"])
    obj["rotationnet_elevation"] = float(pose["elevation_deg"])


def turn(context, obj, result, step=1):
    """Turn a placed asset to the next (``step`` 1) or previous pose of its
    reference, about its own centre; returns (choice, number of poses)."""
    if "rotationnet_pose_choice" not in obj or "rotationnet_inner" not in obj:
        raise PlacementError(f"{obj.name} was not placed by RotationNet")
    if obj.get("rotationnet_asset") != (result.get("asset") or {}).get("id"):
        raise PlacementError(f"{obj.name} holds another asset than the last result: classify its references again")
    ref = int(obj.get("rotationnet_reference_index", 0))
    _, n = pose_choice(result, ref, 0)
    choice = (int(obj["rotationnet_pose_choice"]) + step) % n
    pose, _ = pose_choice(result, ref, choice)
    flat = list(obj["rotationnet_inner"])
    inner = Matrix([flat[0:4], flat[4:8], flat[8:12], flat[12:16]])
    loc = (obj.matrix_world @ inner.inverted()).translation.copy()  # where the asset's centre stands
    obj.matrix_world = Matrix.Translation(loc) @ _orientation(context, pose, np.array(loc)) @ inner
    _record_pose(obj, pose, choice)
    return choice, n
