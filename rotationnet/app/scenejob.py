"""``rotationnet scene``: one whole picture → scene.json, overlay.png, scene.blend.

The worker's ``scene`` command run in this process (the same code the add-on
reaches through the worker), then the sheet a person looks at (the picture
with every placed asset's outline in its pose) and the Blender scene (written
by ``blender_addon/write_scene.py`` in its own process: Blender's process never
loads torch).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rotationnet.core.errors import RotationNetError
from rotationnet.core.fileio import atomic_path

log = logging.getLogger("rotationnet.app.scenejob")

__all__ = ["run_scene", "write_overlay", "write_blend"]

WRITE_SCENE = Path(__file__).resolve().parents[2] / "blender_addon" / "write_scene.py"


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_scene(picture, library, out, *, run: str | None = None, camera: dict | None = None, cache: str | None = None,
              boxes=None, max_objects: int = 16, up_axis: str = "Z", blend: bool = True) -> dict:
    """Place every library object of ``picture``; write ``out``/scene.json (the
    worker's reply), overlay.png and (with ``blend``) scene.blend.  Returns the reply.

    Raises:
        RotationNetError: an unreadable picture, a camera that makes no sense,
            a missing library (the message names the file and the problem).
    """
    from .service import Service

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    last = [0.0]

    def send(msg):
        if "progress" in msg and (time.time() - last[0] > 2.0 or msg["progress"] >= 1.0):
            last[0] = time.time()
            _say(f"{100 * msg['progress']:3.0f}% {msg['message']}")

    svc = Service(send)
    req = {"id": 1, "run": run or "", "library": str(library), "cache": cache or "", "up_axis": up_axis}
    svc.configure(req)
    t0 = time.time()
    req = {"id": 2, "cmd": "scene", "image": str(picture), "max_objects": max_objects}
    if camera:
        req["camera"] = camera
    if boxes:
        req["boxes"] = [list(map(float, b)) for b in boxes]
    from rotationnet.core import protocol as P

    P.validate_request(req)  # the same checks as the worker's (a camera that makes no sense is named)
    res = svc.scene(req)
    _say(f"{res['message']} in {time.time() - t0:.1f}s (camera: {res['camera']['source']}, "
         f"field of view {res['camera']['fov_deg']:.1f} degrees)")
    with atomic_path(out / "scene.json") as tmp:
        Path(tmp).write_text(json.dumps(res, indent=1))
    write_overlay(res, svc.index, out / "overlay.png")
    if blend:
        write_blend(out / "scene.json", out / "scene.blend")
    svc.index.close()
    return res


def write_overlay(res: dict, index, path: Path) -> None:
    """The picture with every placed object's outline and name (scene.draw_overlay)."""
    from PIL import Image

    from rotationnet.core.camera import Intrinsics
    from rotationnet.nn.data import load_image

    from .scene import draw_overlay, own_vertices

    rgb = load_image(res["image"])
    cam = res["camera"]
    intr = Intrinsics(np.asarray(cam["K"]), cam["width"], cam["height"])
    meshes = {o["asset"]: (own_vertices(index.entries[o["asset"]]), index.entries[o["asset"]].mesh.faces)
              for o in res["objects"]}
    img = draw_overlay(rgb, res["objects"], meshes, intr)
    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")


def write_blend(result_json: Path, blend: Path, python: str | None = None) -> dict:
    """scene.blend from a scene reply, by ``blender_addon/write_scene.py`` in its own process."""
    if not WRITE_SCENE.is_file():
        raise RotationNetError(f"{WRITE_SCENE}: the Blender scene writer is missing from this installation")
    env = dict(os.environ)
    cmd = [python or sys.executable, str(WRITE_SCENE), str(result_json), str(blend)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise RotationNetError(f"{blend}: writing the Blender scene failed: {tail}")
    info = json.loads(lines[-1])
    for w in info.get("warnings", []):
        _say(f"warning: {w}")
    return info
