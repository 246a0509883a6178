"""Write a .blend file of a scene reply, headless, from the command line.

Run as its own process (Blender's process never loads torch):

    python blender_addon/write_scene.py RESULT.json OUT.blend [--link]

RESULT.json: a ``scene`` reply's result (:data:`rotationnet.core.protocol.SCENE_FIELDS`).
Starts from an empty file, populates it with :func:`blender_addon.populate.populate`
(the add-on's own code: a camera that sees as the picture's, the picture as its
background, every object imported from the library's own file; ``--link``: a
.blend asset's data stays linked to its file), packs nothing, and saves OUT.blend
atomically (a temporary name in the same folder, then renamed).  Prints one
JSON line ``{"blend", "objects" (placed), "warnings", "message"}``.  Exit status 2,
with a message naming the file, for an unreadable result or one populate refuses.
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
    out = os.path.abspath(out)
    if not os.path.isdir(os.path.dirname(out)):
        return fail(f"{out}: its folder does not exist")

    if not os.environ.get("BLENDER_USER_RESOURCES"):  # `import bpy` writes to ~/.config/blender otherwise
        os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="rotationnet-blender-")
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    # what Blender and its importers print goes to stderr: stdout holds only the JSON line
    sys.stdout.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        try:
            import bpy

            from blender_addon.populate import PopulateError, populate
            from rotationnet.core.errors import RotationNetError
            from rotationnet.core.fileio import atomic_path
        except ImportError as e:
            return fail(f"cannot load Blender (the bpy module) and the add-on's populate: {e}")
        bpy.ops.wm.read_factory_settings(use_empty=True)
        try:
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
    print(json.dumps({"blend": out, "objects": placed, "warnings": warnings,
                      "message": coll.get("rotationnet_message", "")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
