"""Write a .blend file of a scene or walkthrough reply, headless, from the command line.

Run as its own process (Blender's process never loads torch):

    python blender_addon/write_scene.py RESULT.json OUT.blend [--link]

RESULT.json: a ``scene`` reply's result (:data:`rotationnet.core.protocol.SCENE_FIELDS`)
or a ``walkthrough`` reply's (:data:`~rotationnet.core.protocol.WALKTHROUGH_FIELDS`:
one holding ``frames``).  Starts from an empty file and populates it with the
add-on's own code: a scene with :func:`blender_addon.populate.populate` (a camera
that sees as the picture's, the picture as its background), a walk-through with
:func:`blender_addon.populate.populate_walkthrough` (a camera animated along the
track, scene frame i + 1 showing frames[i] as an image sequence behind it); every
object imported from the library's own file (``--link``: a .blend asset's data
stays linked to its file).  Packs nothing (the pictures stay where they are) and
saves OUT.blend atomically (a temporary name in the same folder, then renamed).
Prints one JSON line ``{"blend", "objects" (placed), "warnings", "message"}``, plus
``"frames"`` (the track's length) for a walk-through.  Exit status 2, with a message
naming the file, for an unreadable result or one populate refuses (a result that
does not fit the protocol is refused before Blender loads).
"""

import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USAGE = "usage: python blender_addon/write_scene.py RESULT.json OUT.blend [--link]"


def fail(msg: str) -> int:
    print(f"write_scene: {msg}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    link = "--link" in args
    args = [a for a in args if a != "--link"]
    if len(args) != 2 or any(a.startswith("-") for a in args):
        return fail(USAGE)
    src, out = args
    try:
        with open(src, encoding="utf-8") as f:
            result = json.load(f)
    except OSError as e:
        return fail(f"{src}: cannot read the scene result ({e.strerror or e})")
    except (ValueError, RecursionError) as e:
        return fail(f"{src}: not a JSON scene result ({e})")
    if not isinstance(result, dict):
        return fail(f"{src}: a scene result must be a JSON object")
    walk = "frames" in result
    kind = "walkthrough" if walk else "scene"
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from rotationnet.core import protocol  # numpy-free: refuse a bad result before loading Blender

    try:
        (protocol.check_walkthrough if walk else protocol.check_scene)(result)
    except protocol.ProtocolError as e:  # the words populate would use
        return fail(f"{src}: the worker's {kind} reply does not fit this add-on: {e}")
    except Exception:  # noqa: BLE001 - populate below says what does not fit
        pass
    out = os.path.abspath(out)
    if not os.path.isdir(os.path.dirname(out)):
        return fail(f"{out}: its folder does not exist")

    if not os.environ.get("BLENDER_USER_RESOURCES"):  # `import bpy` writes to ~/.config/blender otherwise
        os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="rotationnet-blender-")
    # what Blender and its importers print goes to stderr: stdout holds only the JSON line
    sys.stdout.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        try:
            import bpy

            from blender_addon.populate import PopulateError, populate, populate_walkthrough
            from rotationnet.core.errors import RotationNetError
            from rotationnet.core.fileio import atomic_path
        except ImportError as e:
            return fail(f"cannot load Blender (the bpy module) and the add-on's populate: {e}")
        bpy.ops.wm.read_factory_settings(use_empty=True)
        try:
            if walk:
                coll, warnings = populate_walkthrough(bpy.context, result, link=link)
            else:
                coll, warnings = populate(bpy.context, result, link=link)
        except PopulateError as e:
            return fail(f"{src}: {e}")
        except Exception as e:  # populate removed what it made; say what went wrong, no traceback
            return fail(f"{src}: populating failed: {type(e).__name__}: {e}")
        placed = sum(1 for o in coll.objects if "rotationnet_scene_index" in o and o.parent is None)
        try:
            with atomic_path(out) as tmp:
                try:
                    bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, compress=False, copy=True)
                finally:  # Blender keeps the file it overwrote (the empty temporary) as <name>1
                    if os.path.exists(str(tmp) + "1"):
                        os.unlink(str(tmp) + "1")
        except (RuntimeError, OSError, RotationNetError) as e:
            return fail(f"{out}: cannot save the scene: {e}")
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
    summary = {"blend": out, "objects": placed, "warnings": warnings, "message": coll.get("rotationnet_message", "")}
    if walk:
        summary["frames"] = len(result["frames"])
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
