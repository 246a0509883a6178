"""The inference worker behind the Blender add-on: ``python -m rotationnet.app.service``.

Torch never runs inside Blender's own process: the add-on starts this worker
with an interpreter that has rotationnet installed and talks to it in JSON
lines.  Requests on stdin::

    {"id": 1, "cmd": "configure", "run": RUN, "library": LIB, "cache": DIR}
    {"id": 2, "cmd": "index"}
    {"id": 3, "cmd": "classify", "images": [PATH, ...], "top_k": 5, "thumbs": DIR}
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
    def __init__(self, send):
        self.send = send
        self.predictor = None
        self.run = None
        self.library = None
        self.cache = None
        self.index = None
        self.assets = None
        self.indexed = False

    # -- commands --------------------------------------------------------------
    def ping(self, req):
        return {P.VERSION: P.PROTOCOL, "pid": os.getpid()}

    def configure(self, req):
        from rotationnet.nn.predict import Predictor

        run = req.get("run") or ""
        if not run:
            raise RotationNetError("no trained model: set the model run folder")
        if run != self.run or self.predictor is None:
            t0 = time.time()
            self.predictor = Predictor.from_run(run, req.get("which", "best"))
            self.run = run
            self.index = None
            self.indexed = False
            self._progress(req, 1.0, f"model loaded in {time.time() - t0:.1f}s")
        lib, cache = req.get("library") or "", req.get("cache") or ""
        if lib and Path(lib).resolve() == Path(Path(lib).resolve().anchor):
            raise RotationNetError(f"{lib}: the filesystem root is not an asset library")
        if lib != self.library or cache != self.cache or self.index is None:
            from .assetindex import AssetIndex, list_assets

            self.library, self.cache = lib, cache
            self.assets = list_assets(lib) if lib else []
            self.index = AssetIndex(self.predictor, cache) if cache else None
            self.indexed = False
        return {"classes": self.predictor.classes, "rig": self.predictor.rig.spec,
                "num_views": self.predictor.rig.num_views, "assets": len(self.assets or [])}

    def index_(self, req):
        if self.index is None:
            raise RotationNetError("no asset library configured")
        res = self.index.update(self.assets, lambda d, t, m: self._progress(req, d / t, f"indexing {m} ({d}/{t})"))
        self.indexed = True
        return res

    def classify(self, req):
        if self.predictor is None:
            raise RotationNetError("no trained model: configure first")
        images = req["images"]
        if len(images) > self.predictor.rig.num_views:
            raise RotationNetError(f"{len(images)} reference images, but the model's rig has "
                                   f"{self.predictor.rig.num_views} views: give at most that many")
        for p in images:
            if not Path(p).is_file():
                raise RotationNetError(f"{p}: reference image not found")
        pred = self.predictor
        ratios, feats = pred.ratios_and_features(images)
        res = pred.predict_from_ratios(ratios, None, int(req.get("top_k", 5)), images)
        res["asset"] = None
        res["alternatives"] = []
        if self.index is not None:
            if not self.indexed:
                self.index_(req)
            cls = pred.classes.index(res["class"])
            slots = [im["view_slot"] for im in res["images"]]
            ranked = self.index.retrieve(cls, slots, feats, top=int(req.get("top_k", 5)))
            if not ranked:
                raise RotationNetError(f"no asset of class '{res['class']}' in the library {self.library}")
            best = ranked[0]
            e = self.index.entries[best["id"]]
            a = e["asset"]
            rig = pred.rig
            thumbs = Path(req.get("thumbs") or self.cache)
            thumbs.mkdir(parents=True, exist_ok=True)
            from PIL import Image

            from rotationnet.core.fileio import atomic_path

            for m, im in enumerate(res["images"]):
                i = best["asset_views"][m]
                im["asset_view"] = i
                im["asset_view_direction"] = rig.cameras[i].round(9).tolist()
                im["asset_view_up"] = rig.up[i].round(9).tolist()
                tp = thumbs / f"thumb_{hashlib.sha1(best['id'].encode()).hexdigest()[:12]}_{i:03d}.png"
                if not tp.exists():
                    with atomic_path(tp) as tmp:
                        Image.fromarray(e["views"][i]).save(tmp, format="PNG")
                im["thumbnail"] = str(tp)
            res["asset"] = {"id": a.id, "label": pred.classes[int(e["label_idx"])], "score": best["score"],
                            "kind": a.kind, "source": a.source, "object": a.object,
                            "mesh": e["mesh_file"], "alignment": int(e["alignment"]),
                            "center": e["center"].tolist(), "scale": float(e["scale"])}
            res["alternatives"] = [{"id": r["id"], "score": r["score"]} for r in ranked[1:]]
        return res

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
        fn = {"ping": self.ping, "configure": self.configure, "index": self.index_, "classify": self.classify}[cmd]
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
