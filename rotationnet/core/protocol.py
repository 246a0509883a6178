"""The worker protocol: one definition of the requests and replies that the
Blender add-on and ``python -m rotationnet.app.service`` exchange, used by both
sides (standard library only: the add-on bundles it).

JSON lines.  The worker's first line is ``{"id": null, "ready": true,
"protocol": PROTOCOL, "pid": ...}``.  A request is an object ``{"id", "cmd",
...fields}`` (:data:`COMMANDS` lists each command's fields); the worker answers
with any number of progress lines ``{"id", "progress": 0..1, "message"}`` and
then exactly one of ``{"id", "ok": true, "result"}`` /
``{"id", "ok": false, "error"}``.  Every line gets that final answer, whatever
it holds — malformed lines included (their ``id`` is ``null`` when it cannot be
read) — and the worker stays up; only ``shutdown`` ends it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

__all__ = [
    "PROTOCOL", "ProtocolError", "Field", "COMMANDS", "MAX_LINE_BYTES", "MAX_IMAGES", "MAX_PATH_CHARS",
    "ID", "CMD", "OK", "RESULT", "ERROR", "PROGRESS", "MESSAGE", "READY", "VERSION",
    "CLASSIFY_IMAGE_FIELDS", "POSE_FIELDS", "ASSET_FIELDS", "ASSET_FORMATS", "check_asset", "parse_request",
    "SCENE_FIELDS", "SCENE_OBJECT_FIELDS", "SCENE_CAMERA_FIELDS", "check_camera_request", "check_scene", "request_id", "validate_request", "make_request",
    "WALKTHROUGH_FIELDS", "WALK_FRAME_FIELDS", "WALK_OBJECT_FIELDS", "MAX_FRAMES", "check_walkthrough",
    "ready_reply", "ok_reply", "error_reply", "progress_reply", "check_ready",
]

PROTOCOL = 6  # 6: the walkthrough command (photos or a video around a set → camera track + objects)
# 5: the scene command (every library object of a whole picture, SCENE_FIELDS)
# 4: the reply's asset names the library's own file (ASSET_FIELDS), no path into the worker's cache
# 3: pose from the asset's own renders (continuous rotation, alternatives); no model needed
# 2: requests validated against COMMANDS; worker module rotationnet.app.service

MAX_LINE_BYTES = 1 << 20  # a request line longer than this is refused unread
MAX_IMAGES = 64  # reference images in one classify request
MAX_PATH_CHARS = 4096
MAX_BOXES = 64  # user boxes in one scene request
MAX_FRAMES = 2000  # pictures in one walk-through request

# envelope keys
ID, CMD, OK, RESULT, ERROR = "id", "cmd", "ok", "result", "error"
PROGRESS, MESSAGE, READY, VERSION = "progress", "message", "ready", "protocol"


class ProtocolError(ValueError):
    """A request or reply that does not follow the protocol (the message says how)."""


@dataclass(frozen=True)
class Field:
    """One request field: its kind (``"path"``, ``"paths"``, ``"int"``, ``"choice"``),
    whether it must be present, and its bounds."""

    kind: str
    required: bool = False
    low: int = 1
    high: int = 100
    choices: tuple[str, ...] = ()
    help: str = ""

    def check(self, cmd: str, name: str, value):
        where = f"'{cmd}' field '{name}'"
        if self.kind == "path":
            return _path(where, value, allow_empty=not self.required)
        if self.kind == "paths":
            if not isinstance(value, list):
                raise ProtocolError(f"{where} must be a list of file paths, got {_kind(value)}")
            most = MAX_IMAGES if self.high == 100 else self.high
            if not self.low <= len(value) <= most:
                raise ProtocolError(f"{where} must hold {self.low} to {most} paths, got {len(value)}")
            return [_path(f"{where}[{i}]", v, allow_empty=False) for i, v in enumerate(value)]
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ProtocolError(f"{where} must be an integer, got {_kind(value)}")
            if not self.low <= value <= self.high:
                raise ProtocolError(f"{where} must be {self.low}..{self.high}, got {value}")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ProtocolError(f"{where} must be true or false, got {_kind(value)}")
            return value
        if self.kind == "boxes":
            if not isinstance(value, list) or len(value) > MAX_IMAGES:
                raise ProtocolError(f"{where} must be a list (one crop box or null per image), got {_kind(value)}")
            for i, b in enumerate(value):
                if b is None:
                    continue
                if (not isinstance(b, list) or len(b) != 4
                        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in b)
                        or b[2] <= 0 or b[3] <= 0):
                    raise ProtocolError(f"{where}[{i}] must be null or [x, y, width, height] in pixels with a positive "
                                        f"size, got {_short(b)}")
            return value
        if self.kind == "rects":
            if not isinstance(value, list) or len(value) > MAX_BOXES:
                raise ProtocolError(f"{where} must be a list of at most {MAX_BOXES} boxes [x, y, w, h], got "
                                    f"{_kind(value) if not isinstance(value, list) else f'{len(value)} boxes'}")
            return [_rect(f"{where}[{i}]", b) for i, b in enumerate(value)]
        if self.kind == "camera":
            return check_camera_request(value, where)
        if self.kind == "choice":
            if value not in self.choices:
                raise ProtocolError(f"{where} must be one of {list(self.choices)}, got {_short(value)}")
            return value
        raise AssertionError(self.kind)  # pragma: no cover - a schema typo


# command → its fields (besides "id" and "cmd")
COMMANDS: dict[str, dict[str, Field]] = {
    "ping": {},
    "shutdown": {},
    "configure": {
        "run": Field("path", help="run folder written by rotationnet train (empty: no model, the library alone)"),
        "which": Field("choice", choices=("best", "last"), help="which checkpoint of the run"),
        "library": Field("path", help="asset library: a mesh folder, a folder of .blend files or one .blend"),
        "cache": Field("path", help="folder for the asset index"),
        "up_axis": Field("choice", choices=("Z", "Y"), help="the library's up axis (Y for +Y-up sources)"),
    },
    "index": {},
    "classify": {
        "images": Field("paths", required=True, help="reference images of one object"),
        "boxes": Field("boxes", help="per image null or a crop box [x, y, w, h] around the object"),
        "top_k": Field("int", low=1, high=100, help="classes to report"),
        "classes_k": Field("int", low=1, high=100, help="only assets of the model's k best classes are matched (default: "
                                                        "every asset, the model's class probabilities as a soft prior)"),
        "full_roll": Field("bool", help="search the picture's in-plane turn over the full circle (default ±30°)"),
        "thumbs": Field("path", help="folder for the asset thumbnails"),
    },
    "scene": {
        "image": Field("path", required=True, help="a whole picture: a photo or a painting"),
        "camera": Field("camera", help='{"K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]} or {"fov_deg": horizontal field '
                                       "of view}; without it the photo's EXIF, else an estimate"),
        "boxes": Field("rects", help="[[x, y, w, h], ...]: place exactly the objects inside these boxes"),
        "max_objects": Field("int", low=1, high=64, help="at most this many objects (default 16)"),
        "thumbs": Field("path", help="folder for the asset thumbnails"),
    },
    "walkthrough": {
        "images": Field("paths", low=2, high=MAX_FRAMES, help="the walk-through's pictures, in the order they were "
                                                               "taken (give images or video)"),
        "video": Field("path", help="a video file of the walk-through (give images or video)"),
        "out": Field("path", required=True, help="folder for the used frames and the reconstruction (kept: the "
                                                 "Blender camera's background shows those frames)"),
        "camera": Field("camera", help="the camera of every frame, as for 'scene'; without it the photos' EXIF, "
                                       "else structure from motion estimates it"),
        "every": Field("int", low=1, high=10000, help="video: use one frame in this many (default: ~2 a second)"),
        "max_frames": Field("int", low=2, high=MAX_FRAMES, help="at most this many frames (default 80)"),
        "scene_frames": Field("int", low=1, high=200, help="frames the objects are looked for in (default 8, "
                                                           "spread over the track)"),
        "max_objects": Field("int", low=1, high=64, help="at most this many objects (default 16)"),
    },
}

# what every entry of a classify reply's "images" holds
CLASSIFY_IMAGE_FIELDS = {
    "image": "the reference image's path",
    "asset": "the asset placed for this picture (the reply's best asset)",
    "asset_view_direction": "unit vector in the asset frame from the asset's centre towards the camera that took "
                            "the picture",
    "asset_view_up": "unit vector in the asset frame: the picture's up direction",
    "azimuth_deg": "asset_view_direction's azimuth (degrees, from +X towards +Y)",
    "elevation_deg": "asset_view_direction's elevation (degrees, from the XY plane)",
    "rotation_wxyz": "quaternion (w, x, y, z) of the rotation from the asset frame to that camera's frame "
                     "(Blender camera: -Z forward, +Y up)",
    "confidence": "estimated probability that the view error is at most 30 degrees (calibrated on renders)",
    "alternatives": "the next best poses: objects with asset, the pose fields above and confidence "
                    "(the mirror / front-back one among them)",
    "score": "the pose's matching score against the asset's renders",
    "score_margin": "the best pose's score less that of the best pose at least 45 degrees away (what "
                    "confidence is read from)",
    "thumbnail": "PNG of the asset seen from that camera",
    "view_slot": "RotationNet's view slot for the picture (with a trained model)",
}
POSE_FIELDS = ("asset_view_direction", "asset_view_up", "azimuth_deg", "elevation_deg", "rotation_wxyz")

# what a classify reply's "asset" (the matched asset) holds: everything the add-on needs to
# bring the library's own file into the scene, and nothing of the worker's private cache
ASSET_FIELDS = {
    "id": "the asset's id in the library (e.g. 'chair/chair_0001.off' or 'props.blend::Chair')",
    "label": "the asset's class (its folder's name), or null",
    "score": "how well the reference images match the asset's own renders",
    "source": "the library's file: a mesh file or a .blend file",
    "kind": "'mesh' (a mesh file) or 'blend' (an object inside a .blend file)",
    "object": "the object's name inside the .blend file (null for a mesh file)",
    "format": "the source file's extension, lower case without the dot (one of ASSET_FORMATS)",
    "center": "[x, y, z]: the centre of the asset's bounding box in its index frame (the source's coordinates "
              "with the up axis applied), as render.meshes.normalize computes it",
    "scale": "the factor (> 0) that takes the centred asset into the unit sphere: normalised = (v - center) * scale",
    "up_axis": "the library's up axis the index used: 'Z', or 'Y' (a +Y-up source turned +90 degrees about X)",
}
# what a scene reply's result holds
SCENE_FIELDS = {
    "image": "the picture's path",
    "camera": "the picture's camera (SCENE_CAMERA_FIELDS)",
    "objects": "one entry per placed object, most confident first (SCENE_OBJECT_FIELDS)",
    "floor": "where the placed objects stand on one plane: {\"normal\": [x, y, z], \"offset\": d} in the camera "
             "frame (points p on it: normal · p + offset = 0; normal points up, away from the floor), or null",
    "assets": "the asset of every placed object (ASSET_FIELDS), by id: what the add-on needs to import it",
    "message": "a sentence for the user (e.g. that no library object was found)",
}
SCENE_CAMERA_FIELDS = {
    "K": "3×3 pinhole intrinsics in pixels (origin top-left, x right, y down)",
    "fov_deg": "the horizontal field of view in degrees",
    "width": "the picture's width in pixels", "height": "the picture's height in pixels",
    "source": "'given' (the request's camera), 'exif' (the photo's focal length) or 'estimated'",
}
SCENE_OBJECT_FIELDS = {
    "asset": "the placed asset's id (its ASSET_FIELDS are in the reply's assets)",
    "label": "the asset's class, or null",
    "box": "[x, y, w, h] in pixels: the object's whole outline in its pose (hidden parts included)",
    "rotation_wxyz": "quaternion (w, x, y, z): asset frame → this camera's frame (Blender camera: -Z forward, +Y up)",
    "location": "[x, y, z]: the asset frame's origin in the camera frame, in the asset's own units",
    "confidence": "how sure the worker is that this object is this asset (0..1)",
    "score": "the pose's matching score against the asset's renders",
    "alternatives": "other answers for the same object: asset, rotation_wxyz, location, confidence",
    "thumbnail": "PNG of the asset as placed (from the picture's camera), or null",
}
# what a walkthrough reply's result holds; the world frame is the first used frame's camera frame
# (Blender camera: x right, y up, -z forward) in the assets' own units
WALKTHROUGH_FIELDS = {
    "source": "the video's path, or the first picture's",
    "camera": "the frames' camera (SCENE_CAMERA_FIELDS)",
    "frames": "one entry per frame on the camera track, in order (WALK_FRAME_FIELDS)",
    "skipped": "frames left out: [{\"image\", \"time_s\", \"reason\"}] (not registered by structure from motion)",
    "objects": "one entry per physical object, most confident first (WALK_OBJECT_FIELDS)",
    "floor": "the plane the objects stand on, {\"normal\", \"offset\"} in the world frame, or null",
    "scale": "how the track's scale was fixed: {\"source\": \"assets\" | \"none\", \"objects\": n}",
    "assets": "the asset of every placed object (ASSET_FIELDS), by id",
    "message": "a sentence for the user",
}
WALK_FRAME_FIELDS = {
    "image": "the frame as a picture file (a video's frames are written into the request's out folder)",
    "source": "the picture the frame came from (the video's path for a video)",
    "time_s": "the frame's time in the video in seconds, or null for pictures",
    "rotation_wxyz": "quaternion (w, x, y, z): world frame → this frame's camera frame (Blender camera)",
    "position": "[x, y, z]: the camera's centre in the world frame",
}
WALK_OBJECT_FIELDS = {
    "asset": "the placed asset's id (its ASSET_FIELDS are in the reply's assets)",
    "label": "the asset's class, or null",
    "rotation_wxyz": "quaternion (w, x, y, z): asset frame → world frame",
    "location": "[x, y, z]: the asset frame's origin in the world frame, in the asset's own units",
    "confidence": "how sure the worker is that this object is this asset and there (0..1; lower when seen once)",
    "frames_seen": "indices into frames of the frames the object was found in",
    "alternatives": "other assets for the same object: asset, rotation_wxyz, location, confidence",
}
ASSET_FORMATS = {"mesh": ("off", "obj", "stl", "ply", "glb", "gltf"), "blend": ("blend",)}


def _number(where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"{where} must be a finite number, got {_short(value)}")
    return float(value)


def check_asset(asset) -> dict:
    """Check a classify reply's ``asset`` against :data:`ASSET_FIELDS` (the
    worker's tests and the add-on before placing use it); returns a clean copy
    (numbers as floats).  Raises :class:`ProtocolError` naming the missing or
    bad field."""
    if not isinstance(asset, dict):
        raise ProtocolError(f"the reply's asset must be an object, got {_kind(asset)}")
    missing = [k for k in ASSET_FIELDS if k not in asset]
    if missing:
        raise ProtocolError(f"the reply's asset has no field '{missing[0]}' ({ASSET_FIELDS[missing[0]]})")
    unknown = sorted(set(asset) - set(ASSET_FIELDS))
    if unknown:
        raise ProtocolError(f"the reply's asset has an unknown field {_short(unknown[0])} (fields: "
                            f"{', '.join(ASSET_FIELDS)})")
    out = dict(asset)
    for k in ("id", "source"):
        out[k] = _path(f"asset field '{k}'", asset[k], allow_empty=False)
    if asset["label"] is not None and not isinstance(asset["label"], str):
        raise ProtocolError(f"asset field 'label' must be a string or null, got {_kind(asset['label'])}")
    out["score"] = _number("asset field 'score'", asset["score"])
    kind = asset["kind"]
    if kind not in ASSET_FORMATS:
        raise ProtocolError(f"asset field 'kind' must be one of {list(ASSET_FORMATS)}, got {_short(kind)}")
    fmt = asset["format"]
    if fmt not in ASSET_FORMATS[kind]:
        raise ProtocolError(f"asset field 'format' of a '{kind}' asset must be one of {list(ASSET_FORMATS[kind])}, "
                            f"got {_short(fmt)}")
    ext = out["source"].rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if "." not in ext or ext.rsplit(".", 1)[1].lower() != fmt:
        raise ProtocolError(f"asset field 'format' {fmt!r} does not match the source file {_short(out['source'])}")
    if kind == "blend":
        if not isinstance(asset["object"], str) or not asset["object"]:
            raise ProtocolError(f"asset field 'object' of a .blend asset must name the object, got "
                                f"{_short(asset['object'])}")
    elif asset["object"] is not None:
        raise ProtocolError(f"asset field 'object' must be null for a mesh file, got {_short(asset['object'])}")
    c = asset["center"]
    if not isinstance(c, list) or len(c) != 3:
        raise ProtocolError(f"asset field 'center' must be a list of 3 numbers, got {_short(c)}")
    out["center"] = [_number(f"asset field 'center'[{i}]", x) for i, x in enumerate(c)]
    out["scale"] = _number("asset field 'scale'", asset["scale"])
    if out["scale"] <= 0:
        raise ProtocolError(f"asset field 'scale' must be above 0, got {out['scale']}")
    if asset["up_axis"] not in ("Z", "Y"):
        raise ProtocolError(f"asset field 'up_axis' must be 'Z' or 'Y', got {_short(asset['up_axis'])}")
    return out


def _rect(where: str, b) -> list[float]:
    if (not isinstance(b, list) or len(b) != 4
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in b)
            or b[2] <= 0 or b[3] <= 0):
        raise ProtocolError(f"{where} must be [x, y, width, height] in pixels with a positive size, got {_short(b)}")
    return [float(x) for x in b]


def _matrix(where: str, k, rows: int, cols: int) -> list[list[float]]:
    if not isinstance(k, list) or len(k) != rows or not all(isinstance(r, list) and len(r) == cols for r in k):
        raise ProtocolError(f"{where} must be a {rows}×{cols} list of lists, got {_short(k)}")
    return [[_number(f"{where}[{i}][{j}]", x) for j, x in enumerate(r)] for i, r in enumerate(k)]


def check_camera_request(value, where: str = "camera") -> dict:
    """A request's camera: exactly one of ``{"K": 3×3}`` (``[[fx, s, cx], [0,
    fy, cy], [0, 0, 1]]``, focal lengths > 0) or ``{"fov_deg": 1..179}``;
    returns a clean copy.  Raises :class:`ProtocolError` saying what makes no sense."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} must be an object with 'K' or 'fov_deg', got {_kind(value)}")
    keys = set(value)
    if keys == {"K"}:
        k = _matrix(f"{where} 'K'", value["K"], 3, 3)
        if k[1][0] != 0 or k[2][0] != 0 or k[2][1] != 0 or k[2][2] != 1:
            raise ProtocolError(f"{where} 'K' must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got {_short(k)}")
        if k[0][0] <= 0 or k[1][1] <= 0:
            raise ProtocolError(f"{where} 'K' focal lengths must be positive, got fx={k[0][0]}, fy={k[1][1]}")
        return {"K": k}
    if keys == {"fov_deg"}:
        f = _number(f"{where} 'fov_deg'", value["fov_deg"])
        if not 1.0 <= f <= 179.0:
            raise ProtocolError(f"{where} 'fov_deg' must be 1..179 degrees, got {f}")
        return {"fov_deg": f}
    raise ProtocolError(f"{where} must hold exactly one of 'K' or 'fov_deg', got fields {sorted(keys)}")


def _check_reply(result, what: str, fields: dict) -> dict:
    """What a scene and a walkthrough reply share: an object with ``fields``,
    a camera (SCENE_CAMERA_FIELDS, a 3×3 K) and assets (each checked); returns the assets."""
    if not isinstance(result, dict):
        raise ProtocolError(f"a {what} result must be an object, got {_kind(result)}")
    missing = [k for k in fields if k not in result]
    if missing:
        raise ProtocolError(f"the {what} result has no field '{missing[0]}' ({fields[missing[0]]})")
    cam = result["camera"]
    if not isinstance(cam, dict) or any(k not in cam for k in SCENE_CAMERA_FIELDS):
        raise ProtocolError(f"the {what}'s camera must hold {', '.join(SCENE_CAMERA_FIELDS)}, got {_short(cam)}")
    _matrix("camera 'K'", cam["K"], 3, 3)
    assets = result["assets"]
    if not isinstance(assets, dict):
        raise ProtocolError(f"the {what}'s assets must be an object (id → asset), got {_kind(assets)}")
    for a in assets.values():
        check_asset(a)
    return assets


def check_scene(result) -> dict:
    """Check a scene reply's result against :data:`SCENE_FIELDS` (the add-on
    uses it before populating); returns it with every object's asset checked.
    Raises :class:`ProtocolError` naming the missing or bad field."""
    assets = _check_reply(result, "scene", SCENE_FIELDS)
    if not isinstance(result["objects"], list):
        raise ProtocolError(f"the scene's objects must be a list, got {_kind(result['objects'])}")
    for n, o in enumerate(result["objects"]):
        if not isinstance(o, dict):
            raise ProtocolError(f"scene object {n} must be an object, got {_kind(o)}")
        gone = [k for k in SCENE_OBJECT_FIELDS if k not in o]
        if gone:
            raise ProtocolError(f"scene object {n} has no field '{gone[0]}' ({SCENE_OBJECT_FIELDS[gone[0]]})")
        if o["asset"] not in assets:
            raise ProtocolError(f"scene object {n}'s asset {_short(o['asset'])} is not among the reply's assets")
        q = o["rotation_wxyz"]
        if not isinstance(q, list) or len(q) != 4:
            raise ProtocolError(f"scene object {n}'s rotation_wxyz must be 4 numbers, got {_short(q)}")
        [_number(f"scene object {n} rotation_wxyz", x) for x in q]
        loc = o["location"]
        if not isinstance(loc, list) or len(loc) != 3:
            raise ProtocolError(f"scene object {n}'s location must be 3 numbers, got {_short(loc)}")
        [_number(f"scene object {n} location", x) for x in loc]
    fl = result["floor"]
    if fl is not None and (not isinstance(fl, dict) or "normal" not in fl or "offset" not in fl):
        raise ProtocolError(f"the scene's floor must be null or hold normal and offset, got {_short(fl)}")
    return result


def _numbers(where: str, value, n: int) -> list[float]:
    if not isinstance(value, list) or len(value) != n:
        raise ProtocolError(f"{where} must be {n} numbers, got {_short(value)}")
    return [_number(where, x) for x in value]


def check_walkthrough(result) -> dict:
    """Check a walkthrough reply's result against :data:`WALKTHROUGH_FIELDS`
    (frames and objects included); returns it.  Raises :class:`ProtocolError`
    naming the missing or bad field."""
    assets = _check_reply(result, "walkthrough", WALKTHROUGH_FIELDS)
    for name, fields in (("frames", WALK_FRAME_FIELDS), ("objects", WALK_OBJECT_FIELDS)):
        items = result[name]
        if not isinstance(items, list):
            raise ProtocolError(f"the walkthrough's {name} must be a list, got {_kind(items)}")
        for n, o in enumerate(items):
            where = f"walkthrough {name[:-1]} {n}"
            if not isinstance(o, dict):
                raise ProtocolError(f"{where} must be an object, got {_kind(o)}")
            gone = [k for k in fields if k not in o]
            if gone:
                raise ProtocolError(f"{where} has no field '{gone[0]}' ({fields[gone[0]]})")
            _numbers(f"{where}'s rotation_wxyz", o["rotation_wxyz"], 4)
            _numbers(f"{where}'s {'position' if name == 'frames' else 'location'}",
                     o["position" if name == "frames" else "location"], 3)
            if name == "objects":
                if o["asset"] not in assets:
                    raise ProtocolError(f"{where}'s asset {_short(o['asset'])} is not among the reply's assets")
                seen = o["frames_seen"]
                if not isinstance(seen, list) or not all(isinstance(i, int) and 0 <= i < len(result["frames"])
                                                         for i in seen):
                    raise ProtocolError(f"{where}'s frames_seen must be indices into frames, got {_short(seen)}")
    fl = result["floor"]
    if fl is not None and (not isinstance(fl, dict) or "normal" not in fl or "offset" not in fl):
        raise ProtocolError(f"the walkthrough's floor must be null or hold normal and offset, got {_short(fl)}")
    return result


def _kind(value) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
                                         int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _short(value, n: int = 60) -> str:
    r = repr(value)
    return r if len(r) <= n else r[: n - 3] + "..."


def _path(where: str, value, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{where} must be a path string, got {_kind(value)}")
    if not value and not allow_empty:
        raise ProtocolError(f"{where} is empty")
    if "\x00" in value:
        raise ProtocolError(f"{where} contains a NUL character")
    if len(value) > MAX_PATH_CHARS:
        raise ProtocolError(f"{where} is longer than {MAX_PATH_CHARS} characters")
    return value


def _check_id(value):
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ProtocolError(f"request 'id' must be an integer, a string or null, got {_kind(value)}")


def validate_request(req) -> dict:
    """Check a decoded request against :data:`COMMANDS`; returns it (fields
    as given).  Raises :class:`ProtocolError` naming the command and field."""
    if not isinstance(req, dict):
        raise ProtocolError(f"a request must be a JSON object, got {_kind(req)}")
    _check_id(req.get(ID))
    cmd = req.get(CMD)
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        raise ProtocolError(f"unknown command {_short(cmd)}; commands: {', '.join(COMMANDS)}")
    schema = COMMANDS[cmd]
    unknown = sorted(set(req) - set(schema) - {ID, CMD})
    if unknown:
        raise ProtocolError(f"'{cmd}' takes no field {_short(unknown[0])} (fields: {', '.join(schema) or 'none'})")
    out = {ID: req.get(ID), CMD: cmd}
    for name, f in schema.items():
        if name in req:
            out[name] = f.check(cmd, name, req[name])
        elif f.required:
            raise ProtocolError(f"'{cmd}' needs the field '{name}' ({f.help})")
    return out


def request_id(line) -> object:
    """The ``id`` of a raw request line when it can be read (for the error
    reply to a request that fails validation), else None."""
    try:
        req = json.loads(line)
        return _check_id(req.get(ID)) if isinstance(req, dict) else None
    except (ValueError, RecursionError, ProtocolError):
        return None


def parse_request(line: bytes | str) -> dict:
    """One request line → the validated request.  Raises :class:`ProtocolError`
    for lines that are too long, not UTF-8, not JSON, nested too deeply, or
    that do not match :data:`COMMANDS`."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolError(f"request line of {len(line)} bytes is longer than {MAX_LINE_BYTES}")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"request is not UTF-8 text ({e.reason} at byte {e.start})") from None
    elif len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"request line of {len(line)} characters is longer than {MAX_LINE_BYTES}")
    try:
        req = json.loads(line)
    except RecursionError:
        raise ProtocolError("request JSON is nested too deeply") from None
    except ValueError as e:
        raise ProtocolError(f"request is not JSON: {e}") from None
    return validate_request(req)


def make_request(rid, cmd: str, **fields) -> str:
    """A request line (with its newline), validated like the worker will."""
    return json.dumps(validate_request({ID: rid, CMD: cmd, **fields})) + "\n"


def ready_reply(pid: int) -> dict:
    return {ID: None, READY: True, VERSION: PROTOCOL, "pid": pid}


def ok_reply(rid, result) -> dict:
    return {ID: rid, OK: True, RESULT: result}


def error_reply(rid, error: str) -> dict:
    return {ID: rid, OK: False, ERROR: str(error)}


def progress_reply(rid, fraction: float, message: str) -> dict:
    return {ID: rid, PROGRESS: float(fraction), MESSAGE: str(message)}


def check_ready(msg: dict, worker: str = "the worker") -> None:
    """Raise :class:`ProtocolError` when a worker's ready line speaks another
    protocol version than this side."""
    theirs = msg.get(VERSION)
    if theirs != PROTOCOL:
        raise ProtocolError(f"{worker} speaks worker protocol {theirs}, this add-on protocol {PROTOCOL}: install the "
                            "same rotationnet version for the worker as the add-on's")
