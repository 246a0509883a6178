"""Bringing the matched asset's own file into the scene, turned so the camera
sees it as the reference image shows it.

**What is imported.**  The worker's reply names the library's file
(:data:`rotationnet.core.protocol.ASSET_FIELDS`, checked with
:func:`~rotationnet.core.protocol.check_asset`), never its own cache.  Place
imports that file with Blender's importer — glTF/GLB (``import_scene.gltf``),
OBJ with its .mtl and textures (``wm.obj_import``), PLY with its vertex colours
(``wm.ply_import``), STL (``wm.stl_import``) — so materials, UVs, textures,
normals and the node hierarchy come along; OFF, which Blender cannot import,
is built from :mod:`rotationnet.core.offmesh` (the reader the index uses);
an object of a ``.blend`` file is appended (or, with the *Link .blend Assets*
preference, its data linked from the file).

**One placed thing.**  Everything the file holds arrives under one new Empty at
the 3D cursor; the pose is the Empty's rotation, the hierarchy below it is the
file's.  The geometry is the index's: the source's coordinates with the
library's up axis applied as :func:`render.meshes.load_mesh` applies it
(``up_axis`` "Y": (x, y, z) → (x, −z, y), +90° about X; glTF node transforms
flattened into the scene, as trimesh does), whatever axis conversion the
importer made (glTF: always Y-up → Z-up, and 1 / the scene's unit scale; OBJ,
PLY, STL are imported with forward +Y, up +Z, i.e. untouched).  In world space
a vertex ``v`` of that frame lands at ``cursor + R · k · (v − center)`` with
the index's ``center`` and ``scale``: ``k`` = 1 with *Keep Asset Size* (the
source's own units), else ``scale`` (the unit sphere).

:func:`import_asset` is that one routine (a checked asset → the template →
an Empty with the linked duplicate below it); :func:`place` turns and moves the
Empty for a reference image, :func:`blender_addon.populate.populate` for each
object of a whole picture.

**Imported once.**  The first Place of a file keeps what it imported as a
template in the collection ``.RotationNet Library`` (linked to no scene, kept
with the .blend file by a fake user), one child collection per source file,
up axis (and .blend object) with the file's size and modification time.
Every Place — the first too — makes a linked duplicate of that template: new
objects sharing its mesh, material and image datablocks.  A file that changed
on disk is imported again.

**Failures.**  A missing or unreadable file, or an importer that finds no mesh,
raises :class:`PlacementError` naming the file, after removing every datablock
the attempt created: nothing already in the scene is touched.  A texture the
file refers to but that is missing (Blender shows it pink) is a warning naming
the texture file, as is geometry that does not match the index (the file
changed since it was indexed).  The operator calling :func:`place` has the
UNDO flag; the importers called inside it push no undo steps of their own, so
one undo removes the whole placement.

**Pose.**  The worker reports, for the chosen reference image, the direction
``d`` (and up vector ``u``) from which the asset — in its normalised frame —
looks like the reference: a continuous pose from the asset's own renders, plus
the next best alternatives (the mirror / front-back one among them) that
:func:`turn` steps through.  The Empty is rotated by ``R`` with ``R·d``
pointing from the 3D cursor to the camera and ``R·u`` along the camera's up,
using :func:`rotationnet.core.views.rotation_between_views` (the one
definition of the rig geometry, bundled with the add-on as a wheel).
"""

import os

import bpy
import numpy as np
from mathutils import Matrix

from rotationnet.core import protocol
from rotationnet.core.errors import DataError
from rotationnet.core.offmesh import read_off
from rotationnet.core.views import rotation_between_views, up_axis_rotation

LIBRARY = ".RotationNet Library"  # a leading "." keeps it out of Blender's ID menus
# +Y-up → +Z-up: (x, y, z) → (x, −z, y), +90° about X (the index's up axis, rotationnet.core.views)
Y_UP_TO_Z_UP = Matrix(up_axis_rotation("Y").tolist()).to_4x4()
# ID collections an import may add to (what a failed import created is removed from them)
_ID_TYPES = ("objects", "meshes", "materials", "images", "textures", "node_groups", "cameras", "lights",
             "armatures", "actions", "collections", "curves", "scenes", "worlds", "libraries", "lattices",
             "grease_pencils", "shape_keys")
GEOMETRY_TOLERANCE = 1e-3  # of the asset's radius: imported and indexed bounding boxes must agree


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


def placed_root(obj):
    """The Empty a placement made, for that Empty or any object below it (else None)."""
    while obj is not None:
        if "rotationnet_pose_choice" in obj:
            return obj
        obj = obj.parent
    return None


# -- importing the source file ---------------------------------------------------

def _snapshot():
    return {t: set(getattr(bpy.data, t)) for t in _ID_TYPES if hasattr(bpy.data, t)}


def _created_since(before):
    return {t: [x for x in getattr(bpy.data, t) if x not in ids] for t, ids in before.items()}


def _remove_created(before):
    """Remove every datablock created since ``before`` (a failed import leaves nothing)."""
    created = [x for xs in _created_since(before).values() for x in xs]
    if created:
        bpy.data.batch_remove(created)


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError as e:
        raise PlacementError(f"{path}: asset file not found ({e.strerror or e})") from None
    return f"{st.st_size}:{st.st_mtime_ns}"  # a string: ID properties hold 32-bit integers


def _off_object(context, path):
    try:
        v, f = read_off(path)
    except DataError as e:
        raise PlacementError(str(e)) from None
    name = os.path.splitext(os.path.basename(path))[0]
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(v))
    me.vertices.foreach_set("co", np.ascontiguousarray(v, dtype=np.float32).reshape(-1))
    me.loops.add(f.size)
    me.loops.foreach_set("vertex_index", np.ascontiguousarray(f, dtype=np.int32).reshape(-1))
    me.polygons.add(len(f))
    me.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
    me.update(calc_edges=True)
    me.validate()
    obj = bpy.data.objects.new(name, me)
    context.scene.collection.objects.link(obj)
    return obj


def _run_importer(context, fmt, path):
    """Import ``path`` into the scene; returns the matrix taking the imported
    world coordinates to the file's own (raw) coordinates."""
    try:
        if fmt in ("glb", "gltf"):
            bpy.ops.import_scene.gltf(filepath=path, import_scene_as_collection=False, import_scene_extras=False,
                                      import_select_created_objects=False)
            # the importer turns glTF's +Y-up into +Z-up, (x, y, z) → (x, −z, y), and scales by
            # 1 / the scene's unit scale (io_scene_gltf2 set_convert_functions)
            unit = context.scene.unit_settings.scale_length or 1.0
            return Matrix.Scale(unit, 4) @ Y_UP_TO_Z_UP.inverted()
        if fmt == "obj":
            bpy.ops.wm.obj_import(filepath=path, forward_axis="Y", up_axis="Z", global_scale=1.0)
        elif fmt == "ply":
            bpy.ops.wm.ply_import(filepath=path, forward_axis="Y", up_axis="Z", global_scale=1.0,
                                  use_scene_unit=False, merge_verts=False)
        elif fmt == "stl":
            bpy.ops.wm.stl_import(filepath=path, forward_axis="Y", up_axis="Z", global_scale=1.0,
                                  use_scene_unit=False)
        elif fmt == "off":
            _off_object(context, path)
        else:
            raise PlacementError(f"{path}: no importer for .{fmt} files")
    except RuntimeError as e:  # an importer that reports an error
        msg = str(e).strip().removeprefix("Error:").strip().splitlines()
        raise PlacementError(f"{path}: Blender's .{fmt} importer failed: {msg[0] if msg else e}") from None
    return Matrix.Identity(4)


def _missing_textures(created, path):
    out = []
    for img in created.get("images", []):
        if img.source != "FILE" or img.packed_file is not None:
            continue
        p = bpy.path.abspath(img.filepath, library=img.library)
        if not p or not os.path.isfile(p):
            out.append(f"{path}: texture {img.filepath or img.name} not found (shown pink)")
    return out


def _geometry_warning(objs, to_index, asset):
    """A warning when the imported geometry's bounding box is not the index's."""
    pts = []
    for o in objs:
        if o.type != "MESH" or not len(o.data.polygons):
            continue
        me = o.data
        co = np.empty(len(me.vertices) * 3, np.float64)
        me.vertices.foreach_get("co", co)
        idx = np.empty(len(me.loops), np.int32)
        me.loops.foreach_get("vertex_index", idx)
        co = co.reshape(-1, 3)[np.unique(idx)]
        m = np.array(to_index @ o.matrix_world)
        pts.append(co @ m[:3, :3].T + m[:3, 3])
    if not pts:
        return None
    v = np.concatenate(pts)
    lo, hi = v.min(axis=0), v.max(axis=0)
    center = (lo + hi) / 2
    radius = float(np.max(np.linalg.norm(v - center, axis=1)))
    want_r = 1.0 / float(asset["scale"])
    err = max(float(np.linalg.norm(center - np.asarray(asset["center"]))), abs(radius - want_r))
    if err > GEOMETRY_TOLERANCE * want_r:
        return (f"{asset['source']}: the imported geometry differs from the indexed one by {err / want_r:.1%} of "
                "its size (changed since it was indexed? classify again)")
    return None


def _library_collection():
    lib = bpy.data.collections.get(LIBRARY)
    if lib is None or lib.library is not None:
        lib = bpy.data.collections.new(LIBRARY)
        lib.use_fake_user = True  # kept with the .blend file though linked to no scene
    return lib


def _record_key(asset, link):
    return "|".join([os.path.abspath(asset["source"]), asset["kind"], asset.get("object") or "",
                     asset["up_axis"], "link" if link else ""])


def _find_template(key, stamp):
    """The template collection of ``key``; a stale one (the file changed) is removed."""
    lib = bpy.data.collections.get(LIBRARY)
    if lib is None:
        return None
    for coll in list(lib.children):
        if coll.get("rotationnet_key") != key:
            continue
        if coll.get("rotationnet_stamp") == stamp and len(coll.objects):
            return coll
        # the file changed (or its objects were deleted): placed copies keep their data
        objs = list(coll.objects)
        bpy.data.batch_remove([*objs, coll])
    return None


def _import_template(context, asset, key, stamp, link):
    """Import the asset's file once into a template collection (see the module docstring)."""
    path, fmt = asset["source"], asset["format"]
    before = _snapshot()
    try:
        if asset["kind"] == "blend":
            try:
                with bpy.data.libraries.load(path, link=link, assets_only=True) as (_src, dst):
                    dst.objects = [asset["object"]]
            except (OSError, RuntimeError) as e:
                raise PlacementError(f"{path}: cannot read the .blend file: {e}") from None
            obj = dst.objects[0]
            if obj is None:
                raise PlacementError(f"{path}: asset object '{asset['object']}' not found")
            if link:  # a local object on the linked data, so it can be moved and parented
                linked, obj = obj, obj.copy()
                bpy.data.objects.remove(linked)
            obj.parent = None
            objs, to_index, raw = [obj], Matrix.Identity(4), {obj: Matrix.Identity(4)}  # its own frame
        else:
            to_raw = _run_importer(context, fmt, path)
            objs = _created_since(before)["objects"]
            if not any(o.type == "MESH" and len(o.data.polygons) for o in objs):
                raise PlacementError(f"{path}: Blender's .{fmt} importer found no mesh in the file")
            up = Y_UP_TO_Z_UP if asset["up_axis"] == "Y" else Matrix.Identity(4)
            to_index = up @ to_raw
            context.view_layer.update()  # the importers set locations; world matrices need an update
            raw = {o: o.matrix_world.copy() for o in objs if o.parent not in objs}
        created = _created_since(before)
        warnings = _missing_textures(created, path)
        geo = _geometry_warning(objs, to_index, asset) if asset["kind"] == "mesh" else None
        if geo:
            warnings.append(geo)
        coll = bpy.data.collections.new(f".{os.path.basename(path)} {asset.get('object') or ''} "
                                        f"{asset['up_axis']}-up".replace("  ", " "))
        _library_collection().children.link(coll)
        coll["rotationnet_key"] = key
        coll["rotationnet_stamp"] = stamp
        coll["rotationnet_source"] = path
        coll["rotationnet_up_axis"] = asset["up_axis"]
        coll["rotationnet_warnings"] = "\n".join(warnings)
        inner = Matrix.Translation([-c for c in asset["center"]]) @ to_index
        for o in objs:
            for c in list(o.users_collection):
                c.objects.unlink(o)
            coll.objects.link(o)
            o.name = "." + o.name
            if o in raw:  # a root: the file's frame → the index frame, centred
                o.parent = None
                o.matrix_basis = inner @ raw[o]
        # collections and scenes the importer made for itself are empty now
        made = _created_since(before)
        leftovers = [c for c in made.get("collections", []) if c != coll and not len(c.all_objects)]
        leftovers += [s for s in made.get("scenes", []) if s != context.scene]
        if leftovers:
            bpy.data.batch_remove(leftovers)
        return coll
    except BaseException:
        _remove_created(before)
        raise


def _instance(template, collection, parent, offset=None):
    """A linked duplicate of the template's objects (shared data), its roots under
    ``parent`` (moved by the 4×4 ``offset`` in the parent's frame, when given)."""
    objs = list(template.objects)
    copies = {o: o.copy() for o in objs}
    for o, c in copies.items():
        c.name = o.name[1:] if o.name.startswith(".") else o.name
        collection.objects.link(c)
        for ref in [*c.modifiers, *c.constraints]:
            for attr in ("object", "target"):
                if getattr(ref, attr, None) in copies:
                    setattr(ref, attr, copies[getattr(ref, attr)])
    for o, c in copies.items():
        if o.parent in copies:
            c.parent = copies[o.parent]
        else:
            basis = o.matrix_basis.copy() if offset is None else offset @ o.matrix_basis
            c.parent = parent
            c.matrix_parent_inverse = Matrix.Identity(4)
            c.matrix_basis = basis
    return list(copies.values())


def asset_name(asset) -> str:
    """The name a placed asset's Empty gets: its file's (or .blend object's) name."""
    return asset["id"].replace("\\", "/").split("/")[-1].split("::")[-1].rsplit(".", 1)[0]


def import_asset(context, raw_asset, collection, link=False, centred=True):
    """Bring an asset (a reply's ``asset``, :data:`~rotationnet.core.protocol.ASSET_FIELDS`)
    into ``collection``: the library's own file, imported once as a template and
    instanced as a linked duplicate (see the module docstring), under one new
    Empty at the world origin, unturned and unscaled.  The Empty's frame is the
    asset frame (the source's coordinates, the library's up axis applied) moved
    so that the asset's ``center`` is its origin (``centred``, what Place turns
    about), or the asset frame itself (``centred=False``: a vertex ``v`` of it
    is at ``v`` in the Empty's frame).  ``link``: a .blend asset's data stays
    linked to its file.  Returns (the Empty, warnings).  Raises
    :class:`PlacementError` naming the file; an import that fails leaves
    nothing behind."""
    try:
        asset = protocol.check_asset(raw_asset)
    except protocol.ProtocolError as e:
        raise PlacementError(f"the worker's reply does not fit this add-on: {e}") from None
    link = bool(link) and asset["kind"] == "blend"
    key = _record_key(asset, link)
    stamp = _stamp(asset["source"])
    template = _find_template(key, stamp) or _import_template(context, asset, key, stamp, link)
    warnings = [w for w in template.get("rotationnet_warnings", "").split("\n") if w]
    root = bpy.data.objects.new(asset_name(asset), None)
    try:
        root.empty_display_type = "PLAIN_AXES"
        root.empty_display_size = 0.5 / float(asset["scale"])  # half the asset's radius
        collection.objects.link(root)
        _instance(template, collection, root, None if centred else Matrix.Translation(asset["center"]))
    except BaseException:
        for o in [*root.children_recursive, root]:
            bpy.data.objects.remove(o)
        raise
    root["rotationnet_asset"] = asset["id"]
    root["rotationnet_source"] = asset["source"]
    root["rotationnet_up_axis"] = asset["up_axis"]
    return root, warnings


def place(context, result, ref_index=0, keep_size=True, choice=0, link=False):
    """Bring the result's asset file in at the 3D cursor in the pose of
    reference ``ref_index`` (``choice`` 0: the best pose, k: alternative k).
    ``link``: a .blend asset's data stays linked to its file.  Returns (the new
    Empty, warnings)."""
    raw = result.get("asset")
    if not raw:
        raise PlacementError("the last result has no matching asset")
    try:
        asset = protocol.check_asset(raw)
    except protocol.ProtocolError as e:
        raise PlacementError(f"the worker's reply does not fit this add-on: {e}") from None
    pose, _ = pose_choice(result, ref_index, choice)
    cursor = np.array(context.scene.cursor.location)
    r4 = _orientation(context, pose, cursor)
    coll = context.collection or context.scene.collection
    root, warnings = import_asset(context, asset, coll, link=link)
    # the Empty stands on the asset's centre; its scale is the placement's (1 keeps the source's units)
    inner = Matrix.Scale(1.0 if keep_size else float(asset["scale"]), 4)
    root["rotationnet_inner"] = [float(x) for row in inner for x in row]
    root.matrix_world = Matrix.Translation(cursor) @ r4 @ inner
    im = result["images"][ref_index]
    root["rotationnet_class"] = result.get("class") or ""
    if result.get("probability") is not None:
        root["rotationnet_probability"] = float(result["probability"])
    if "view_slot" in im:
        root["rotationnet_view_slot"] = int(im["view_slot"])
    root["rotationnet_reference"] = im["image"]
    root["rotationnet_reference_index"] = int(ref_index)
    _record_pose(root, pose, choice)
    for o in context.view_layer.objects:
        o.select_set(False)
    root.select_set(True)
    context.view_layer.objects.active = root
    return root, warnings


def _record_pose(obj, pose, choice):
    obj["rotationnet_pose_choice"] = int(choice)
    obj["rotationnet_confidence"] = float(pose.get("confidence", 0.0))
    obj["rotationnet_azimuth"] = float(pose["azimuth_deg"])
    obj["rotationnet_elevation"] = float(pose["elevation_deg"])


def turn(context, obj, result, step=1):
    """Turn a placed asset (its Empty, or anything below it) to the next
    (``step`` 1) or previous pose of its reference, about its own centre;
    returns (choice, number of poses)."""
    root = placed_root(obj)
    if root is None or "rotationnet_inner" not in root:
        raise PlacementError(f"{obj.name} was not placed by RotationNet")
    obj = root
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
