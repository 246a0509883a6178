"""Foreground segmentation on real photos: lmo-dev, masks from the ground-truth pose.

    .venv/bin/python benchmarks/segmentation.py [--quick] [--sheet PNG]

For every lmo-dev instance at least 80 % visible, the object's silhouette is
rendered from its ground-truth pose (the mesh's triangles projected with the
camera matrix and filled), and compared with :func:`rotationnet.app.segment.foreground`
on the query the pose benchmark sends — a square crop around ``bbox_obj_xywh``
with a 10 % margin —

* ``box``: with the object's box given (what the add-on's crop box sends);
* ``border``: without a box (GrabCut seeded from the crop's border).

IoU is measured inside the crop.  Goal: median IoU ≥ 0.75 from the box alone.
(The whole silhouette is the reference: up to 20 % of it may be hidden by other
objects, which caps the reachable IoU of those instances below 1.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, print_table, write_result  # noqa: E402


def load_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    m = trimesh.load(path, process=False, force="mesh")
    return np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)


def gt_mask(v: np.ndarray, f: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, wh) -> np.ndarray:
    """(H, W) bool: the projected silhouette of the mesh at pose (R, t)."""
    import cv2

    cam = v @ R.T + t
    uv = cam @ K.T
    uv = uv[:, :2] / uv[:, 2:3]
    tris = np.round(uv[f] * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    m = np.zeros((wh[1], wh[0]), np.uint8)
    cv2.fillPoly(m, list(tris), 1, lineType=cv2.LINE_8, shift=4)
    return m.astype(bool)


def square_crop(box, margin: float, wh) -> tuple[int, int, int, int]:
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    half = max(w, h) / 2.0 * (1.0 + 2.0 * margin)
    return int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half))


def crop(img: np.ndarray, x0, y0, x1, y1, fill=0) -> np.ndarray:
    """Crop with padding where the square leaves the photo."""
    h, w = img.shape[:2]
    out = np.full((y1 - y0, x1 - x0) + img.shape[2:], fill, img.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="every 6th instance")
    ap.add_argument("--sheet", default=None, help="write a contact sheet of crops, truth and masks here")
    args = ap.parse_args()
    from PIL import Image

    from rotationnet.app.segment import foreground

    lmo = SHARED / "lmo-dev"
    if not lmo.is_dir():
        sys.exit(f"lmo-dev not present at {lmo}")
    ann = json.loads((lmo / "annotations.json").read_text())
    K = np.asarray(ann["camera_K"], np.float64).reshape(3, 3)
    wh = ann["image_size_wh"]
    inst = [a for a in ann["annotations"] if a["visible_fraction"] >= 0.8]
    if args.quick:
        inst = inst[::6]
    meshes = {}
    per, times, sheet = [], {"box": [], "border": []}, []
    for a in inst:
        if a["mesh"] not in meshes:
            meshes[a["mesh"]] = load_ply(lmo / a["mesh"])
        v, f = meshes[a["mesh"]]
        R = np.asarray(a["R_model_to_camera"], np.float64).reshape(3, 3)
        t = np.asarray(a["t_model_to_camera_mm"], np.float64)
        truth = gt_mask(v, f, R, t, K, wh)
        photo = np.asarray(Image.open(lmo / a["photo"]).convert("RGB"))
        x0, y0, x1, y1 = square_crop(a["bbox_obj_xywh"], 0.1, wh)
        q = crop(photo, x0, y0, x1, y1)
        tq = crop(truth, x0, y0, x1, y1, False)
        bx, by, bw, bh = a["bbox_obj_xywh"]
        row = {"photo": a["photo"], "object": a["object"], "visible": a["visible_fraction"],
               "size_px": max(bw, bh)}
        masks = {}
        for mode, box in (("box", (bx - x0, by - y0, bw, bh)), ("border", None)):
            t0 = time.perf_counter()
            m = foreground(q, box=box, name=a["photo"]) > 0.5
            times[mode].append(time.perf_counter() - t0)
            row[f"iou_{mode}"] = iou(m, tq)
            masks[mode] = m
        per.append(row)
        if args.sheet and len(sheet) < 24:
            sheet.append((q, tq, masks["box"], masks["border"]))
    rows = []
    for obj in ("all", "ape", "cat", "duck"):
        sel = [r for r in per if obj == "all" or r["object"] == obj]
        for mode in ("box", "border"):
            x = np.array([r[f"iou_{mode}"] for r in sel])
            rows.append({"objects": obj, "mode": mode, "instances": len(x), "iou_median": float(np.median(x)),
                         "iou_mean": float(x.mean()), "iou_ge_0.75": float(np.mean(x >= 0.75)),
                         "ms_per_image": float(np.median(times[mode]) * 1000) if obj == "all" else None})
    print_table(rows, ["objects", "mode", "instances", "iou_median", "iou_mean", "iou_ge_0.75", "ms_per_image"])
    path = write_result("segmentation" + ("_quick" if args.quick else ""), rows, {"per_instance": per})
    print(f"results: {path}")
    if args.sheet:
        import cv2

        tiles = []
        for q, tq, mb, mo in sheet:
            s = 96
            q = cv2.resize(q, (s, s), interpolation=cv2.INTER_AREA)

            def over(m, col):
                mm = cv2.resize(m.astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST).astype(bool)
                o = q.copy()
                o[mm] = (0.5 * o[mm] + 0.5 * np.array(col)).astype(np.uint8)
                return o
            tiles.append(np.concatenate([q, over(tq, (0, 255, 0)), over(mb, (255, 0, 0)), over(mo, (0, 0, 255))], 1))
        cols = 2
        while len(tiles) % cols:
            tiles.append(np.zeros_like(tiles[0]))
        grid = np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0)
        Image.fromarray(grid).save(args.sheet)
        print(f"sheet: {args.sheet} (per instance: crop, truth green, box red, border blue)")


if __name__ == "__main__":
    main()
