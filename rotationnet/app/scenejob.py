"""``rotationnet scene``: one whole picture → scene.json, overlay.png, scene.blend;
``rotationnet walkthrough``: photos or a video → walkthrough.json, contact_sheet.png, scene.blend.

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

__all__ = ["run_scene", "write_overlay", "write_blend", "run_walkthrough", "write_contact_sheet", "walkthrough_sources",
           "picture_size", "source_size"]

WRITE_SCENE = Path(__file__).resolve().parents[2] / "blender_addon" / "write_scene.py"


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _progress_printer(every_s: float = 2.0):
    """The worker's send function for a command line: its progress lines, at most one per ``every_s``."""
    last = [0.0]

    def send(msg):
        if "progress" in msg and (time.time() - last[0] > every_s or msg["progress"] >= 1.0):
            last[0] = time.time()
            _say(f"{100 * msg['progress']:3.0f}% {msg['message']}")

    return send


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
    svc = Service(_progress_printer())
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
    _write_outputs(res, svc, out / "scene.json", write_overlay, out / "overlay.png", blend)
    return res


def walkthrough_sources(source) -> dict:
    """A video file → {"video"}; a folder → {"images"}: its pictures sorted by
    name (numbers as numbers: IMG_9 before IMG_10).  Raises RotationNetError
    naming the path when it is neither, or holds fewer than two pictures."""
    from rotationnet.core.manifest import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, natural_key

    src = Path(source)
    if src.is_file():
        if src.suffix.lower() not in VIDEO_EXTENSIONS:
            raise RotationNetError(f"{src}: not a video ({', '.join(VIDEO_EXTENSIONS)}); give a video file or a "
                                   "folder of pictures")
        return {"video": str(src)}
    if not src.is_dir():
        raise RotationNetError(f"{src}: no such video or folder of pictures")
    pics = sorted((p for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
                  key=lambda p: natural_key(p.name))
    if len(pics) < 2:
        raise RotationNetError(f"{src}: a walk-through needs two or more pictures ({', '.join(IMAGE_EXTENSIONS)}), "
                               f"found {len(pics)}")
    return {"images": [str(p) for p in pics]}


def run_walkthrough(source, library, out, *, camera: dict | None = None, every: int | None = None,
                    max_frames: int = 80, scene_frames: int = 8, max_objects: int = 16, cache: str | None = None,
                    up_axis: str = "Z", blend: bool = True) -> dict:
    """A walk-through (a video file or a folder of pictures) → ``out``/walkthrough.json
    (the worker's reply), contact_sheet.png and (with ``blend``) scene.blend.  Returns the reply.

    Raises:
        RotationNetError: an unreadable source, a camera that makes no sense, a missing library.
    """
    from rotationnet.core import protocol as P

    from .service import Service

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    req = {"id": 2, "cmd": "walkthrough", "out": str(out), "max_frames": max_frames, "scene_frames": scene_frames,
           "max_objects": max_objects, **walkthrough_sources(source)}
    if every:
        req["every"] = every
    if camera:
        req["camera"] = camera
    P.validate_request(req)
    svc = Service(_progress_printer())
    svc.configure({"id": 1, "run": "", "library": str(library), "cache": cache or "", "up_axis": up_axis})
    res = svc.walkthrough(req)
    _say(res["message"])
    for s in res["skipped"]:
        _say(f"left out {s['image']}: {s['reason']}")
    _write_outputs(res, svc, out / "walkthrough.json", write_contact_sheet, out / "contact_sheet.png", blend)
    return res


def picture_size(path) -> tuple[int, int]:
    """(width, height) of a picture, read from its header; RotationNetError naming it when unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except OSError as e:
        raise RotationNetError(f"{path}: cannot read the picture: {e}") from None


def source_size(source) -> tuple[int, int]:
    """(width, height) of a walk-through's first picture, or of its video's frames."""
    src = walkthrough_sources(source)
    if "images" in src:
        return picture_size(src["images"][0])
    import cv2

    cap = cv2.VideoCapture(src["video"])
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    if not w or not h:
        raise RotationNetError(f"{src['video']}: OpenCV cannot read this video's size")
    return w, h


def _write_outputs(res: dict, svc, reply: Path, sheet, sheet_path: Path, blend: bool) -> None:
    """The reply as JSON (atomically), the sheet a person looks at, scene.blend beside them."""
    with atomic_path(reply) as tmp:
        Path(tmp).write_text(json.dumps(res, indent=1))
    sheet(res, svc.index, sheet_path)
    if blend:
        write_blend(reply, reply.parent / "scene.blend")
    svc.index.close()


def write_contact_sheet(res: dict, index, path: Path, frames: int = 6, columns: int = 3) -> None:
    """A few frames of the track (spread over it) with every placed object's
    outline drawn as that frame's camera sees it (scene.draw_overlay)."""
    from PIL import Image

    from rotationnet.core.camera import Intrinsics
    from rotationnet.core.views import matrix_to_quaternion, quaternion_to_matrix
    from rotationnet.nn.data import load_image

    from .scene import draw_overlay, own_vertices

    cam = res["camera"]
    intr = Intrinsics(np.asarray(cam["K"]), cam["width"], cam["height"])
    meshes = {o["asset"]: (own_vertices(index.entries[o["asset"]]), index.entries[o["asset"]].mesh.faces)
              for o in res["objects"]}
    fr = res["frames"]
    pick = sorted({int(round(x)) for x in np.linspace(0, len(fr) - 1, min(frames, len(fr)))}) if fr else []
    tiles = []
    for i in pick:
        f = fr[i]
        r = quaternion_to_matrix(f["rotation_wxyz"])
        c = np.asarray(f["position"])
        objs = []
        for o in res["objects"]:
            ro = quaternion_to_matrix(o["rotation_wxyz"])
            loc = r @ (np.asarray(o["location"]) - c)
            pts = meshes[o["asset"]][0] @ (r @ ro).T + loc
            uv = intr.project(pts[pts[:, 2] < 0]) if (pts[:, 2] < 0).any() else np.zeros((1, 2))
            lo, hi = uv.min(axis=0), uv.max(axis=0)
            objs.append({**o, "rotation_wxyz": matrix_to_quaternion(r @ ro).tolist(), "location": loc.tolist(),
                         "box": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]})
        img = draw_overlay(load_image(f["image"]), objs, meshes, intr)
        tiles.append(Image.fromarray(img).resize((480, round(480 * intr.height / intr.width))))
    if not tiles:
        return
    tw, th = tiles[0].size
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (tw * min(columns, len(tiles)), th * rows), "white")
    for n, t in enumerate(tiles):
        sheet.paste(t, ((n % columns) * tw, (n // columns) * th))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


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
