"""The inference worker behind the Blender add-on: ``python -m rotationnet.app.service``.

Torch never runs inside Blender's own process: the add-on starts this worker
with an interpreter that has rotationnet installed and talks to it in JSON
lines.  Requests on stdin::

    {"id": 1, "cmd": "configure", "run": RUN, "library": LIB, "cache": DIR}
    {"id": 2, "cmd": "index"}
    {"id": 3, "cmd": "classify", "images": [PATH, ...], "top_k": 5, "thumbs": DIR}
    {"id": 4, "cmd": "scene", "image": PATH, "camera": {"K": ...} | {"fov_deg": ...}, "boxes": [...]}
    {"id": 5, "cmd": "walkthrough", "images": [PATH, ...] | "video": PATH, "out": DIR, "camera": {...}}
    {"id": 4, "cmd": "ping"} / {"id": 5, "cmd": "shutdown"}

Replies on stdout, one JSON object per line: any number of
``{"id", "progress": 0..1, "message"}`` then ``{"id", "ok": true, "result"}``
or ``{"id", "ok": false, "error"}``.  Everything else the process prints
(Blender, Mesa, warnings) goes to stderr, so the protocol stays clean.
The worker stays up between requests; cancelling means ending the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from rotationnet.core import protocol as P
from rotationnet.core.errors import RotationNetError


class Service:
    """The worker's state (model, library, index) and its commands."""

    def __init__(self, send):
        self.send = send
        self.predictor = None
        self.run = None
        self.library = None
        self.cache = None
        self.up_axis = "Z"
        self.index = None
        self.assets = None
        self.indexed = False

    # -- commands --------------------------------------------------------------
    def ping(self, req):
        return {P.VERSION: P.PROTOCOL, "pid": os.getpid()}

    def configure(self, req):
        run = req.get("run") or ""
        if run and (run != self.run or self.predictor is None):
            from rotationnet.nn.predict import Predictor

            t0 = time.time()
            self.predictor = Predictor.from_run(run, req.get("which", "best"))
            self._progress(req, 1.0, f"model loaded in {time.time() - t0:.1f}s")
        elif not run:
            self.predictor = None  # no model: the library alone retrieves and poses
        self.run = run or None
        lib, cache = req.get("library") or "", req.get("cache") or ""
        up_axis = req.get("up_axis", "Z")
        if lib and Path(lib).resolve() == Path(Path(lib).resolve().anchor):
            raise RotationNetError(f"{lib}: the filesystem root is not an asset library")
        if not run and not lib:
            raise RotationNetError("nothing to work with: set an asset library (and optionally a trained model)")
        if lib != self.library or cache != self.cache or up_axis != self.up_axis or (lib and self.index is None):
            from .assetindex import AssetIndex, list_assets

            self.library, self.cache, self.up_axis = lib, cache, up_axis
            self.assets = list_assets(lib) if lib else []
            if self.index is not None:
                self.index.close()
            default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rotationnet" / "index"
            self.index = AssetIndex(cache or default_cache, up_axis=up_axis) if lib else None
            self.indexed = False
        pred = self.predictor
        return {"classes": pred.classes if pred else None, "rig": pred.rig.spec if pred else None,
                "num_views": pred.rig.num_views if pred else None, "assets": len(self.assets or []),
                "model": bool(pred)}

    def index_(self, req):
        if self.index is None:
            raise RotationNetError("no asset library configured")
        res = self.index.update(self.assets, lambda d, t, m: self._progress(req, d / t, f"indexing {m} ({d}/{t})"))
        self.indexed = True
        return res

    def _pictures(self, req) -> tuple[list[np.ndarray], list]:
        """Each reference image decoded once (RGBA where it has alpha) and its
        :class:`~rotationnet.app.segment.Picture` (the object's mask from the
        alpha channel, a crop box or GrabCut)."""
        from rotationnet.nn.data import load_image

        from .segment import picture

        paths = req["images"]
        boxes = req.get("boxes") or [None] * len(paths)
        if len(boxes) != len(paths):
            raise RotationNetError(f"{len(boxes)} crop boxes for {len(paths)} images: give one (or null) per image")
        for p in paths:
            if not Path(p).is_file():
                raise RotationNetError(f"{p}: reference image not found")
        images = [load_image(p, keep_alpha=True) for p in paths]  # DataError names the file
        return images, [picture(img, box, name=p) for img, box, p in zip(images, boxes, paths)]

    def _model_answer(self, images: list[np.ndarray], paths: list[str], top_k: int) -> tuple[dict, dict]:
        """RotationNet's answer for the decoded images (the reply's model fields)
        and its class probabilities (class → p); without a model, empty ones."""
        pred = self.predictor
        if pred is None:
            return {"class": None, "probability": None, "ranking": [], "images": [{"image": p} for p in paths]}, {}
        res = pred.predict_from_ratios(pred.ratios(images), positions=None, top_k=len(pred.classes), names=paths)
        probs = {r["class"]: r["probability"] for r in res["ranking"]}
        res["ranking"] = res["ranking"][:top_k]
        res["model_class"], res["model_probability"] = res["class"], res["probability"]
        for im in res["images"]:  # the slot's own angles, apart from the pose's below
            im["view_slot_azimuth_deg"] = im.pop("azimuth_deg")
            im["view_slot_elevation_deg"] = im.pop("elevation_deg")
        return res, probs

    def classify(self, req):
        """Pictures → candidates → search → reply, in one pass."""
        pred = self.predictor
        if pred is None and self.index is None:
            raise RotationNetError("not configured: set an asset library (and optionally a trained model)")
        paths = req["images"]
        if pred is not None and len(paths) > pred.rig.num_views:
            raise RotationNetError(f"{len(paths)} reference images, but the model's rig has "
                                   f"{pred.rig.num_views} views: give at most that many")
        images, pictures = self._pictures(req)  # bad pictures fail before any indexing
        if self.index is not None and not self.indexed:
            self.index_(req)
        res, probs = self._model_answer(images, paths, int(req.get("top_k", 5)))
        res["asset"], res["assets"] = None, []
        if self.index is None:
            return res
        # candidates: every asset, the model's class probabilities a soft prior over them
        # (benchmarks/pose_accuracy.py rows (d)/(e): a hard top-3 filter lost the asset whenever
        # the class was missed); classes_k asks for a hard filter
        classes_k = req.get("classes_k")
        ids = self._candidates(set(sorted(probs, key=probs.get, reverse=True)[:classes_k]) if classes_k else None)
        if not ids:  # no asset of the model's best classes: the whole library, never a dead end
            ids = list(self.index.entries)
        if not ids:
            raise RotationNetError(f"no usable asset in the library {self.library} (see the indexing failures)")
        from .pose import DEFAULT_ROLLS, FULL_ROLLS, class_prior, pose_fields, search

        entries = {i: self.index.entries[i] for i in ids}
        self._progress(req, 0.0, f"matching against {len(ids)} assets")
        found = search(entries, pictures, self.index.render, self.index.descriptor, crop=self.index.spec.crop,
                       rolls=FULL_ROLLS if req.get("full_roll") else DEFAULT_ROLLS,
                       prior=class_prior({i: e.asset.label for i, e in entries.items()}, probs),
                       progress=lambda d, t: self._progress(req, d / t, f"matching: step {d}/{t}"))
        best_id, best_score = found.assets[0]
        a = self.index.entries[best_id].asset
        # the library's own file and how the index framed it (protocol.ASSET_FIELDS), never a cache path
        res["asset"] = self._asset_fields(best_id, best_score)
        res["assets"] = [{"id": i, "score": sc} for i, sc in found.assets[:5]]
        # the answer's class is the placed asset's: the library match with the model's prior
        res["class"] = a.label
        res["probability"] = probs.get(a.label) if probs else None
        thumbs = Path(req.get("thumbs") or self.index.cache)
        thumbs.mkdir(parents=True, exist_ok=True)
        for im, pp in zip(res["images"], found.pictures):
            im.update({**pose_fields(pp.best), "score_margin": pp.margin,
                       "alternatives": [pose_fields(h) for h in pp.alternatives],
                       "thumbnail": self._thumbnail(thumbs, pp.best)})
        return res

    def scene(self, req):
        """A whole picture → every library object in it (protocol.SCENE_FIELDS)."""
        from rotationnet.core.camera import Intrinsics

        from .scene import WORK_SIDE, find_objects, scene_camera

        if self.index is None:
            raise RotationNetError("not configured: set an asset library")
        path = req["image"]
        if not Path(path).is_file():
            raise RotationNetError(f"{path}: picture not found")
        from rotationnet.nn.data import load_image

        rgb = load_image(path)  # DataError names the file
        h, w = rgb.shape[:2]
        try:
            intr = scene_camera(req.get("camera"), path, w, h)
        except ValueError as e:
            raise RotationNetError(f"{path}: {e}") from None
        boxes = req.get("boxes")
        for i, b in enumerate(boxes or []):
            x, y, bw, bh = b
            if x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
                raise RotationNetError(f"box {i} {b} lies outside the picture {path} ({w}×{h} pixels)")
        if not self.indexed:
            self.index_(req)
        if not self.index.entries:
            raise RotationNetError(f"no usable asset in the library {self.library} (see the indexing failures)")
        # work at most WORK_SIDE pixels on the long side; K and boxes scale with it
        s = min(1.0, WORK_SIDE / max(w, h))
        work = rgb
        if s < 1.0:
            import cv2

            work = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        sk = np.diag([s, s, 1.0])
        wintr = None if intr is None else Intrinsics(sk @ intr.K, work.shape[1], work.shape[0], intr.source)
        wboxes = [[v * s for v in b] for b in boxes] if boxes else None
        found = find_objects(work, self.index.entries, self.index.render, self.index.descriptor,
                             crop=self.index.spec.crop, camera=wintr, boxes=wboxes,
                             max_objects=int(req.get("max_objects", 16)),
                             progress=lambda f, m: self._progress(req, f, m))
        cam = Intrinsics(np.diag([1 / s, 1 / s, 1.0]) @ found.camera.K, w, h, found.camera.source)
        thumbs = Path(req["thumbs"]) if req.get("thumbs") else None
        if thumbs:
            thumbs.mkdir(parents=True, exist_ok=True)
        from rotationnet.core.views import matrix_to_quaternion

        def fields(o):
            return {"asset": o.asset, "rotation_wxyz": matrix_to_quaternion(o.rotation).round(9).tolist(),
                    "location": np.round(o.location, 9).tolist(), "confidence": round(o.confidence, 4)}

        objects, assets = [], {}
        for o in found.objects:
            e = self.index.entries[o.asset]
            objects.append({**fields(o), "label": e.asset.label, "box": np.round(o.box / s, 2).tolist(),
                            "score": round(o.score, 4), "alternatives": [fields(a) for a in o.alternatives],
                            "thumbnail": self._thumbnail(thumbs, o.hypothesis) if thumbs else None})
            for a in [o.asset] + [a.asset for a in o.alternatives]:
                assets.setdefault(a, self._asset_fields(a, o.score if a == o.asset else 0.0))
        floor = found.floor
        n = len(objects)
        return {"image": path, "camera": cam.to_dict(), "objects": objects,
                "floor": None if floor is None else {"normal": np.round(floor["normal"], 9).tolist(),
                                                     "offset": round(float(floor["offset"]), 9)},
                "assets": assets,
                "message": (f"{n} library object{'s' if n != 1 else ''} placed" if n else
                            "no library object found in the picture: an empty scene (draw a box around an object "
                            "to place it anyway)")}

    def walkthrough(self, req):
        """Photos or a video around a set → one camera track and every library
        object placed once (protocol.WALKTHROUGH_FIELDS)."""
        from rotationnet.core.camera import Intrinsics
        from rotationnet.core.errors import OutputError
        from rotationnet.core.views import matrix_to_quaternion
        from rotationnet.nn.data import load_image

        from .frames import picture_frames, video_frames
        from .scene import scene_camera
        from .track import camera_track
        from .walkthrough import find_walkthrough_objects

        if self.index is None:
            raise RotationNetError("not configured: set an asset library")
        images, video = req.get("images"), req.get("video")
        if bool(images) == bool(video):
            raise RotationNetError("a walk-through is either 'images' (two or more pictures in order) or one 'video', "
                                   + ("not both" if images else "and neither was given"))
        out = Path(req["out"])
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{out}: cannot create the walk-through's folder ({e.strerror or e})") from None
        t0 = time.time()

        def say(lo, hi):
            return lambda f, m: self._progress(req, lo + (hi - lo) * f, m)

        max_frames = int(req.get("max_frames", 80))
        if images:
            frames = picture_frames(images, out, max_frames, say(0.0, 0.05))
        else:
            frames = video_frames(video, out, req.get("every"), max_frames, say(0.0, 0.05))
        from PIL import Image

        with Image.open(frames[0].image) as im:  # the frames' size (written by this worker: readable)
            w, h = im.size
        src = Path(frames[0].source)
        s = frames[0].scale
        try:  # the request's K is the source pictures'; the frames may be smaller
            intr = (scene_camera(req.get("camera"), src, round(w / s), round(h / s))
                    if images or req.get("camera") else None)
        except ValueError as e:
            raise RotationNetError(f"{src}: {e}") from None
        if intr is not None:
            intr = Intrinsics(np.diag([s, s, 1.0]) @ intr.K, w, h, intr.source)
        if not self.indexed:
            self.index_(req)
        if not self.index.entries:
            raise RotationNetError(f"no usable asset in the library {self.library} (see the indexing failures)")
        track = camera_track([f.image for f in frames], intr, out / "sfm", progress=say(0.05, 0.25))
        found = find_walkthrough_objects(lambda i: load_image(frames[i].image), track, self.index.entries,
                                         self.index.render, self.index.descriptor, crop=self.index.spec.crop,
                                         scene_frames=int(req.get("scene_frames", 8)),
                                         max_objects=int(req.get("max_objects", 16)), progress=say(0.25, 1.0))
        tr = found.track

        def q(r):
            return matrix_to_quaternion(r).round(9).tolist()

        reply_frames = [{"image": str(frames[i].image), "source": frames[i].source, "time_s": frames[i].time_s,
                         "rotation_wxyz": q(tr.rotations[row]), "position": np.round(tr.positions[row], 9).tolist()}
                        for row, i in enumerate(tr.frames)]
        skipped = [{"image": str(frames[i].image), "time_s": frames[i].time_s, "reason": why}
                   for i, why in sorted(tr.skipped.items())]
        objects, assets = [], {}
        for o in found.objects:
            e = self.index.entries[o.asset]
            objects.append({"asset": o.asset, "label": e.asset.label, "rotation_wxyz": q(o.rotation),
                            "location": np.round(o.location, 9).tolist(), "confidence": round(o.confidence, 4),
                            "frames_seen": o.rows, "score": round(o.score, 4),
                            "alternatives": [{"asset": a, "rotation_wxyz": q(r), "location": np.round(t, 9).tolist(),
                                              "confidence": round(c, 4)} for a, r, t, c in o.alternatives]})
            for a in [o.asset] + [a for a, *_ in o.alternatives]:
                assets.setdefault(a, self._asset_fields(a, o.score if a == o.asset else 0.0))
        fl = found.floor
        n = len(objects)
        msg = (f"{len(reply_frames)} of {len(frames)} frames on the camera track, "
               + (f"{n} library object{'s' if n != 1 else ''} placed" if n else "no library object found")
               + ("" if found.scaled or not n else " (the track's scale is a guess: no object's size fixed it)")
               + f" in {time.time() - t0:.0f}s")
        return {"source": str(video or images[0]), "camera": tr.intr.to_dict(), "frames": reply_frames,
                "skipped": skipped, "objects": objects,
                "floor": None if fl is None else {"normal": np.round(fl["normal"], 9).tolist(),
                                                  "offset": round(float(fl["offset"]), 9)},
                "scale": {"source": "assets" if found.scaled else "none",
                          "objects": sum(1 for o in found.objects if len(o.rows) >= 2)},
                "assets": assets, "message": msg}

    def _asset_fields(self, asset_id: str, score: float) -> dict:
        """The library's own file of an asset and how the index framed it (protocol.ASSET_FIELDS)."""
        e = self.index.entries[asset_id]
        a = e.asset
        return {"id": a.id, "label": a.label, "score": score, "kind": a.kind, "source": a.source, "object": a.object,
                "format": Path(a.source).suffix.lower().lstrip("."), "center": e.center.tolist(), "scale": e.scale,
                "up_axis": self.up_axis}

    def _candidates(self, classes: set[str] | None) -> list[str]:
        """Assets of the model's best ``classes`` plus every asset of a class
        the model does not know (or without a class); all assets without a model."""
        ids = list(self.index.entries)
        if self.predictor is None or classes is None:
            return ids
        known = set(self.predictor.classes)
        return [i for i in ids if self.index.entries[i].asset.label in classes
                or self.index.entries[i].asset.label not in known]

    def _thumbnail(self, folder: Path, h) -> str:
        from PIL import Image

        from rotationnet.core.fileio import atomic_path

        key = hashlib.sha1(f"{h.asset}|{np.round(h.direction, 4)}|{np.round(h.up, 4)}".encode()).hexdigest()[:16]
        path = folder / f"thumb_{key}.png"
        if not path.exists():
            img = self.index.render(h.asset, np.asarray(h.direction)[None], np.asarray(h.up)[None], "thumbs")[0]
            with atomic_path(path) as tmp:
                Image.fromarray(img).save(tmp, format="PNG")
        return str(path)

    # -- plumbing ----------------------------------------------------------------
    def _progress(self, req, frac, message):
        self.send(P.progress_reply(req.get(P.ID), frac, message))

    def handle(self, req: dict) -> bool:
        """Answer one request (already validated by :func:`~rotationnet.core.protocol.parse_request`).
        Returns False after ``shutdown``."""
        rid, cmd = req.get(P.ID), req.get(P.CMD)
        if cmd == "shutdown":
            self.send(P.ok_reply(rid, None))
            return False
        fn = {"ping": self.ping, "configure": self.configure, "index": self.index_, "classify": self.classify,
              "scene": self.scene, "walkthrough": self.walkthrough}[cmd]
        try:
            self.send(P.ok_reply(rid, fn(req)))
        except (RotationNetError, ValueError) as e:
            self.send(P.error_reply(rid, str(e)))
        except Exception as e:  # report, stay alive
            traceback.print_exc(file=sys.stderr)
            self.send(P.error_reply(rid, f"{type(e).__name__}: {e}"))
        return True

    def handle_line(self, line: bytes | str) -> bool:
        """Answer one raw request line, whatever it holds; False after ``shutdown``."""
        try:
            req = P.parse_request(line)
        except P.ProtocolError as e:
            self.send(P.error_reply(P.request_id(line) if len(line) <= P.MAX_LINE_BYTES else None, f"bad request: {e}"))
            return True
        return self.handle(req)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def main() -> int:
    # keep a private copy of stdout for the protocol; route fd 1 to stderr so
    # Blender's and Mesa's prints cannot corrupt it
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(msg):
        proto.write(json.dumps(msg, default=_json_default) + "\n")
        proto.flush()

    svc = Service(send)
    send(P.ready_reply(os.getpid()))
    for line in sys.stdin.buffer:  # bytes: a line that is not UTF-8 must not end the loop
        if not line.strip():
            continue
        if not svc.handle_line(line.strip()):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
