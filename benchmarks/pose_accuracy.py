"""Picture → the right asset → placed at the turn the picture shows, end to end.

Every query goes through the worker (``python -m rotationnet.app.service``),
as the Blender add-on sends it.  Rows (see BENCHMARKS.md):

* (a)  library = the psb24 test models; 3 references per asset, 224 px,
       alpha removed (white), rendered by the fast engine at a random azimuth,
       elevation −10…80°, roll ±10°, camera distance ±10 %, fixed seed;
* (a') the same queries with the psb24 training models added as distractors;
* (b)  the same cameras rendered by Cycles with a random colour, headlight and
       ambient light per asset, on random backgrounds (a generator frozen in this
       file with its own seed, which nothing ever trains or indexes on);
* (c)  ``../shared/data/lmo-dev`` photos: instances ≥ 80 % visible, cropped square
       around ``bbox_obj_xywh`` with a 10 % margin; library = its 3 meshes plus 40
       psb24 distractors given random colours; the object's box in the crop is sent
       as the user's crop box;
* (d), (e) the first picture of every test model (row (a)'s camera) in the
       randomised and the sketch look of ``render/looks.py`` (seed
       ``LOOK_QUERY_SEED``, no jitter); with ``--run`` every row also reports the
       class from one picture;
* baseline "nearest of 12": the true asset's 12 ring renders (30° elevation),
       the query matched by pooled features of the same frozen backbone.

Metrics: exact asset top-1 (a pose of a wrong asset counts as a miss); view
error = angle between the true and placed ``asset_view_direction`` (median,
≤ 15°, ≤ 30°); rotation error = geodesic angle between the camera rotations
(roll included); front/back flips (azimuth error ≥ 150° at elevation < 60°).
Errors are symmetry-aware (turns about the up axis that map the mesh onto
itself, :mod:`rotationnet.app.symmetry`); the rows without that allowance are
reported too.  Cost: index time per asset and query time.

    .venv/bin/python benchmarks/pose_accuracy.py --quick      # 24 assets, 1 reference each; 60 photos
    .venv/bin/python benchmarks/pose_accuracy.py              # every row
    .venv/bin/python benchmarks/pose_accuracy.py --rows b     # one row
    .venv/bin/python benchmarks/pose_accuracy.py --calibrate  # the confidence table, on training models
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# torch (with torchvision) before Blender's libraries: loading triton after them segfaults
import torchvision  # noqa: E402,F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, print_table, write_result  # noqa: E402


def link_library(models, folder: Path) -> Path:
    """A library folder of links to the meshes, ``Class/name.ply``."""
    for m in models:
        d = folder / m.label
        d.mkdir(parents=True, exist_ok=True)
        if not (d / m.path.name).exists():
            (d / m.path.name).symlink_to(m.path.resolve())
    return folder


def render_queries(models, refs: int, seed: int, out: Path) -> list[dict]:
    """``refs`` pictures of every model from random cameras, on white (the alpha removed)."""
    from PIL import Image

    from render.engine import Renderer, RenderSettings
    from render.meshes import load_mesh, normalize
    from rotationnet.app.symmetry import up_axis_symmetries
    from rotationnet.core.views import direction, rolled_up

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    distances = (2.25, 2.5, 2.75)  # ±10 % around the templates' 2.5
    renderers = {d: Renderer(RenderSettings(size=224, supersample=2, distance=d)) for d in distances}
    queries = []
    try:
        for m in models:
            v, f = load_mesh(m.path, "Z")
            vn, _ = normalize(v, f)
            sym = up_axis_symmetries(vn, f)
            for k in range(refs):
                az, el, roll = rng.uniform(0, 360), rng.uniform(-10, 80), rng.uniform(-10, 10)
                dist = distances[int(rng.integers(len(distances)))]
                c = direction(az, el)
                u = rolled_up(c, roll)
                img = renderers[dist].render(vn, f, cameras=c[None], up=u[None])[0][0]
                p = out / f"{m.label}_{m.path.stem}_{k}.png"
                Image.fromarray(img).save(p)
                queries.append({"asset": f"{m.label}/{m.path.name}", "path": str(p), "direction": c, "up": u,
                                "azimuth": az, "elevation": el, "symmetries": sym, "distance": dist})
    finally:
        for r in renderers.values():
            r.close()
    return queries


LOOK_QUERY_SEED = 140_014  # rows (d) and (e): the looks of render/looks.py, this seed, exact cameras


def render_queries_look(models, queries: list[dict], look: str, out: Path) -> list[dict]:
    """Rows (d)/(e): the first picture of every model (row (a)'s camera, distance and
    roll) drawn in ``look`` of :mod:`render.looks` (randomised or sketch), no jitter."""
    from PIL import Image

    from render.engine import Renderer, RenderSettings
    from render.looks import look_rng, render_look
    from render.meshes import load_mesh_colored, normalize

    out.mkdir(parents=True, exist_ok=True)
    renderers = {}
    first = {}
    for q in queries:
        first.setdefault(q["asset"], q)
    res = []
    try:
        for m in models:
            q = first[f"{m.label}/{m.path.name}"]
            p = out / Path(q["path"]).name
            if not p.is_file():
                d = q.get("distance", 2.5)
                if d not in renderers:
                    renderers[d] = Renderer(RenderSettings(size=224, supersample=2, distance=d))
                v, f, col = load_mesh_colored(m.path, "Z")
                vn, _ = normalize(v, f)
                img, _ = render_look(renderers[d], look, vn, f, look_rng(LOOK_QUERY_SEED, q["asset"]), col,
                                     jitter=False, cameras=np.asarray(q["direction"])[None],
                                     up=np.asarray(q["up"])[None])
                Image.fromarray(img[0]).save(p)
            res.append({**q, "path": str(p)})
    finally:
        for r in renderers.values():
            r.close()
    return res


# Row (b)'s generator is frozen here, in the benchmark, with its own seeds: nothing under render/
# or rotationnet/ may use it, so no training set or index can ever look like it.
CYCLES_SEED = 770_001


def _background(rng, size: int) -> np.ndarray:
    """A random plain colour, linear gradient or smooth noise, (S, S, 3) float 0..1."""
    kind = rng.integers(3)
    if kind == 0:
        return np.broadcast_to(rng.uniform(0, 1, 3), (size, size, 3)).copy()
    if kind == 1:
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        t = np.linspace(0, 1, size)
        ang = rng.uniform(0, 2 * np.pi)
        g = (np.cos(ang) * t[None, :] + np.sin(ang) * t[:, None])
        g = (g - g.min()) / max(np.ptp(g), 1e-6)
        return a * (1 - g[..., None]) + b * g[..., None]
    small = rng.uniform(0, 1, (6, 6, 3))
    from PIL import Image

    big = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)) / 255.0
    return big


def render_queries_cycles(models, queries_a: list[dict], out: Path) -> list[dict]:
    """Row (b): the same cameras as row (a), rendered by Cycles with a random
    colour, headlight and ambient light per asset, composited onto a random
    background (frozen generator, :data:`CYCLES_SEED`)."""
    from PIL import Image

    from render.engine import Renderer, RenderSettings
    from render.meshes import load_mesh, normalize

    rng = np.random.default_rng(CYCLES_SEED)
    out.mkdir(parents=True, exist_ok=True)
    by_asset: dict[str, list[dict]] = {}
    for q in queries_a:
        by_asset.setdefault(q["asset"], []).append(q)
    result = []
    for m in models:
        qs = by_asset[f"{m.label}/{m.path.name}"]
        v, f = load_mesh(m.path, "Z")
        vn, _ = normalize(v, f)
        cams, ups = np.array([q["direction"] for q in qs]), np.array([q["up"] for q in qs])
        settings = RenderSettings(size=224, engine="cycles",
                                  samples=16, denoiser="oidn-fast", background="transparent",
                                  object_color=tuple(float(x) for x in rng.uniform(0.05, 0.95, 3)),
                                  light=float(rng.uniform(1.0, 4.0)), ambient=float(rng.uniform(0.1, 0.6)),
                                  distance=float(rng.choice([2.25, 2.5, 2.75])))
        with Renderer(settings) as r:
            imgs, _ = r.render(vn, f, cameras=cams, up=ups)
        for q, im in zip(qs, imgs):
            a = im[..., 3:4] / 255.0
            rgb = im[..., :3] / 255.0 * a + _background(rng, 224) * (1 - a)
            p = out / Path(q["path"]).name
            Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8)).save(p)
            result.append({**q, "path": str(p)})
    return result


def baseline_nearest_of_12(models, queries) -> list[float]:
    """View error of the nearest of the true asset's 12 ring renders (pooled frozen features)."""
    import torch

    from render.engine import Renderer, RenderSettings
    from render.meshes import load_mesh, normalize
    from rotationnet.app.descriptor import Descriptor
    from rotationnet.app.segment import foreground, object_crop
    from rotationnet.app.symmetry import symmetric_view_error_deg
    from rotationnet.core.views import get_rig
    from rotationnet.nn.data import load_image

    desc = Descriptor(stride=32)  # the backbone's last stage, pooled below
    rig = get_rig("ring12")
    pooled = {}
    with Renderer(RenderSettings(rig=rig, size=192, background="transparent")) as r:
        for m in models:
            v, f = load_mesh(m.path, "Z")
            vn, _ = normalize(v, f)
            imgs, _ = r.render(vn, f)
            crops = [object_crop(im[..., :3], im[..., 3] / 255.0, 96) for im in imgs]
            d = desc(np.stack([c for c, _ in crops]), np.stack([mm for _, mm in crops]))
            pooled[f"{m.label}/{m.path.name}"] = torch.nn.functional.normalize(
                torch.from_numpy(d.feat).float().mean((1, 2)), dim=1).numpy()
    errs = []
    for q in queries:
        img = load_image(q["path"])
        c, mm = object_crop(img, foreground(img), 96)
        d = desc(c[None], mm[None])
        f = torch.nn.functional.normalize(torch.from_numpy(d.feat).float().mean((1, 2)), dim=1).numpy()[0]
        best = int(np.argmax(pooled[q["asset"]] @ f))
        errs.append(symmetric_view_error_deg(rig.cameras[best], q["direction"], q["symmetries"]))
    return errs


def run_row(name: str, library: Path, queries: list[dict], cache: Path, refs_per_query: int = 1,
            run: str | None = None, boxes: bool = False, classes_k: int | None = None) -> tuple[dict, list]:
    from rotationnet.app.client import WorkerClient, WorkerFailed
    from rotationnet.app.symmetry import symmetric_rotation_error_deg, symmetric_view_error_deg

    per = []
    with WorkerClient(timeout=3600) as w:
        t0 = time.time()
        info = w.request("configure", library=str(library), cache=str(cache), **({"run": run} if run else {}))
        idx = w.request("index")
        index_s = time.time() - t0
        for q in queries:
            t1 = time.time()
            try:
                extra = {"boxes": [q["box"]]} if boxes and q.get("box") else {}
                if classes_k:
                    extra["classes_k"] = classes_k
                res = w.request("classify", images=[q["path"]], thumbs=str(cache / "thumbs"), **extra)
            except WorkerFailed as e:  # counted as a miss, reported
                print(f"  {q['path']}: {e}")
                per.append({"query": q["path"], "thumbnail": None, "asset_ok": False, "seconds": time.time() - t1,
                            "confidence": 0.0, "view": 180.0, "view_nosym": 180.0, "rot": 180.0, "rot_nosym": 180.0,
                            "symmetric": False, "flip": False, "error": str(e)})
                continue
            sec = time.time() - t1
            im = res["images"][0]
            hit = res["asset"]["id"] == q["asset"]
            d, u = np.array(im["asset_view_direction"]), np.array(im["asset_view_up"])
            row = {"query": q["path"], "thumbnail": im["thumbnail"], "asset": q["asset"], "placed": res["asset"]["id"],
                   "asset_ok": hit, "seconds": sec,
                   "confidence": im["confidence"], "margin": im.get("score_margin"),
                   "view": symmetric_view_error_deg(d, q["direction"], q["symmetries"]) if hit else 180.0,
                   "view_nosym": symmetric_view_error_deg(d, q["direction"]) if hit else 180.0,
                   "rot": symmetric_rotation_error_deg(d, u, q["direction"], q["up"], q["symmetries"]) if hit else 180.0,
                   "rot_nosym": symmetric_rotation_error_deg(d, u, q["direction"], q["up"]) if hit else 180.0,
                   "symmetric": len(q["symmetries"]) > 1,
                   "class": res.get("class"), "class_ok": res.get("class") == q["asset"].split("/")[0]}
            az_err = min(abs((im["azimuth_deg"] + a - q["azimuth"] + 180.0) % 360.0 - 180.0) for a in q["symmetries"])
            row["flip"] = bool(hit and az_err >= 150.0 and q["elevation"] < 60.0)
            per.append(row)
    v = np.array([r["view"] for r in per])
    vn = np.array([r["view_nosym"] for r in per])
    summary = {
        "row": name, "assets": info["assets"], "queries": len(per), "failed_assets": len(idx["failed"]),
        "asset_top1": float(np.mean([r["asset_ok"] for r in per])),
        "view_median": float(np.median(v)), "view_le15": float(np.mean(v <= 15)), "view_le30": float(np.mean(v <= 30)),
        "rot_median": float(np.median([r["rot"] for r in per])),
        "flips": float(np.mean([r["flip"] for r in per])),
        "view_median_nosym": float(np.median(vn)), "view_le30_nosym": float(np.mean(vn <= 30)),
        "rot_median_nosym": float(np.median([r["rot_nosym"] for r in per])),
        "symmetric_assets": len({q["asset"] for q in queries if len(q["symmetries"]) > 1}),
        "index_s_per_asset": index_s / max(info["assets"], 1) if idx["rebuilt"] else None,
        "index_rebuilt": idx["rebuilt"],
        "query_s_median": float(np.median([r["seconds"] for r in per])),
        "class_top1": float(np.mean([r.get("class_ok", False) for r in per])) if run else None,
    }
    return summary, per


def figure(per: list[dict], path: Path, tile: int = 160) -> None:
    """Pictures on top, below each the asset the worker placed, rendered from the pose it found."""
    from PIL import Image, ImageDraw

    sheet = Image.new("RGB", (tile * len(per), 2 * tile + 18), "white")
    draw = ImageDraw.Draw(sheet)
    for i, r in enumerate(per):
        sheet.paste(Image.open(r["query"]).convert("RGB").resize((tile, tile)), (i * tile, 0))
        sheet.paste(Image.open(r["thumbnail"]).convert("RGB").resize((tile, tile)), (i * tile, tile))
        ok = "asset ok" if r["asset_ok"] else "other asset"
        draw.text((i * tile + 4, 2 * tile + 3), f"{ok}, {r['view']:.0f} deg", fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def lmo_queries(lmo: Path, out: Path, limit: int | None, min_visible: float = 0.8) -> list[dict]:
    """Real photos: instances at least ``min_visible`` visible, cropped square around
    ``bbox_obj_xywh`` with a 10 % margin.  The ground truth is corrected for the crop:
    the crop shows the object along the ray through it, so the camera is turned
    (minimally) from its optical axis onto that ray."""
    import json

    from PIL import Image

    ann = json.loads((lmo / "annotations.json").read_text())["annotations"]
    ann = [a for a in ann if a["visible_fraction"] >= min_visible]
    if limit:
        ann = ann[:limit]
    out.mkdir(parents=True, exist_ok=True)
    queries = []
    for n, a in enumerate(ann):
        r = np.asarray(a["R_model_to_camera"], np.float64).reshape(3, 3)
        u_, _, vt = np.linalg.svd(r)
        r = u_ @ vt  # re-orthonormalised
        t = np.asarray(a["t_model_to_camera_mm"], np.float64)
        ray = t / np.linalg.norm(t)  # camera → object, OpenCV camera frame
        z = np.array([0.0, 0.0, 1.0])
        axis = np.cross(z, ray)
        s_, c_ = np.linalg.norm(axis), float(z @ ray)
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / max(s_, 1e-12)
        rc = np.eye(3) + s_ * k + (1 - c_) * k @ k  # optical axis → the ray
        direction = r.T @ (-ray)  # object → camera, in the model frame
        up = r.T @ (-(rc @ np.array([0.0, 1.0, 0.0])))  # the crop's up (OpenCV y points down)
        x, y, w, h = a["bbox_obj_xywh"]
        side = max(w, h) * 1.2
        cx, cy = x + w / 2, y + h / 2
        img = Image.open(lmo / a["photo"]).convert("RGB")
        crop = img.crop((int(round(cx - side / 2)), int(round(cy - side / 2)),
                         int(round(cx + side / 2)), int(round(cy + side / 2))))
        path = out / f"{n:04d}_{a['object']}.png"
        crop.save(path)
        az = float(np.degrees(np.arctan2(direction[1], direction[0])) % 360)
        el = float(np.degrees(np.arcsin(np.clip(direction[2], -1, 1))))
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        queries.append({"asset": f"lmo/{Path(a['mesh']).name}", "path": str(path), "direction": direction, "up": up,
                        "azimuth": az, "elevation": el, "symmetries": [0.0],
                        "box": [x - x0, y - y0, w, h]})  # the object's box in the crop (a user's crop box)
    return queries


def lmo_library(lmo: Path, distractors, folder: Path, seed: int, size_range: tuple[float, float] | None = None) -> Path:
    """The 3 lmo-dev meshes (their own colours) plus psb24 distractors given random colours
    (with ``size_range``: each distractor scaled so its longest side is a random length in
    that range, e.g. millimetres like the lmo meshes; else psb24's own size)."""
    import trimesh

    from render.meshes import load_mesh

    (folder / "lmo").mkdir(parents=True, exist_ok=True)
    for m in sorted((lmo / "meshes").glob("*.ply")):
        if not (folder / "lmo" / m.name).exists():
            (folder / "lmo" / m.name).symlink_to(m.resolve())
    rng = np.random.default_rng(seed)
    for m in distractors:
        d = folder / m.label
        d.mkdir(parents=True, exist_ok=True)
        if (d / m.path.name).exists():
            continue
        v, f = load_mesh(m.path, "Z")
        if size_range is not None:
            v = v * (rng.uniform(*size_range) / np.ptp(v, axis=0).max())
        base = rng.uniform(0.1, 0.9, 3)
        col = np.clip(base + rng.normal(0, 0.05, (len(v), 3)), 0, 1)
        mesh = trimesh.Trimesh(v, f, process=False)
        mesh.visual.vertex_colors = (np.concatenate([col, np.ones((len(v), 1))], 1) * 255).astype(np.uint8)
        mesh.export(d / m.path.name)
    return folder


def calibration(per: list[dict]) -> dict:
    """Confidence reported vs the share of views within 30° (reliability table)."""
    c = np.array([r["confidence"] for r in per])
    ok = np.array([r["view"] <= 30 for r in per])
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0001]
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (c >= lo) & (c < hi)
        if sel.any():
            rows.append({"confidence": f"{lo:.2f}-{hi:.2f}", "queries": int(sel.sum()), "mean_confidence": float(c[sel].mean()),
                         "within_30": float(ok[sel].mean())})
    return {"bins": rows}


def fit_calibration(per: list[dict], path: Path, bins: int = 6) -> dict:
    """The margin → P(view error ≤ 30°) table the worker reads
    (``rotationnet/app/pose_calibration.json``): equal-count margin bins, their
    success rates made non-decreasing (pooled adjacent violators)."""
    import json

    m = np.array([r["margin"] for r in per if r.get("margin") is not None], np.float64)
    ok = np.array([r["view"] <= 30 for r in per if r.get("margin") is not None], np.float64)
    order = np.argsort(m)
    m, ok = m[order], ok[order]
    groups = [list(g) for g in np.array_split(np.arange(len(m)), bins) if len(g)]
    xs = [float(np.median(m[g])) for g in groups]
    ps = [float(ok[g].mean()) for g in groups]
    ns = [len(g) for g in groups]
    i = 0
    while i < len(ps) - 1:  # pool adjacent violators
        if ps[i] > ps[i + 1]:
            n = ns[i] + ns[i + 1]
            ps[i] = (ps[i] * ns[i] + ps[i + 1] * ns[i + 1]) / n
            xs[i] = (xs[i] * ns[i] + xs[i + 1] * ns[i + 1]) / n
            ns[i] = n
            del ps[i + 1], xs[i + 1], ns[i + 1]
            i = max(i - 1, 0)
        else:
            i += 1
    table = {"margin": [round(x, 5) for x in xs], "p": [round(min(max(p, 0.02), 0.99), 4) for p in ps],
             "queries": int(len(m)), "source": "benchmarks/pose_accuracy.py --calibrate (psb24 training models)"}
    path.write_text(json.dumps(table, indent=2) + "\n")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one test model per category, 1 reference each; no (a')")
    ap.add_argument("--refs", type=int, default=3, help="references per asset")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--work", default=None, help="work folder (renders, index cache); default a temporary one")
    ap.add_argument("--rows", default="a,b,c,d,e,a'", help="which rows: a (with the nearest-of-12 baseline), b, c, "
                                                          "d (randomised look), e (sketch look), a' (--quick: a' is skipped)")
    ap.add_argument("--tag", default="", help="suffix of the result file name (e.g. before)")
    ap.add_argument("--classes-k", type=int, default=None,
                    help="with --run: match only the assets of the model's k best classes (a hard filter; default: "
                         "every asset, the class probabilities as a soft prior)")
    ap.add_argument("--run", default=None, help="a trained RotationNet run for the worker (class, candidates): "
                                                "rows then also report the class from one picture")
    ap.add_argument("--figure", default=None, help="also write a figure: pictures above, the placed asset below")
    ap.add_argument("--calibrate", action="store_true",
                    help="instead: pose 2 pictures of each of 96 psb24 training models (4 per category) and write "
                         "the confidence table rotationnet/app/pose_calibration.json")
    args = ap.parse_args()
    psb = SHARED / "meshes" / "psb24"
    if not psb.is_dir():
        sys.exit(f"needs {psb} (../shared/data)")
    from render.meshes import find_meshes

    models = find_meshes(psb, test_fraction=0.0)
    test = [m for m in models if m.split == "test"]
    train = [m for m in models if m.split == "train"]
    if args.quick:
        seen, pick = set(), []
        for m in test:
            if m.label not in seen:
                seen.add(m.label)
                pick.append(m)
        test, refs = pick, 1
    else:
        refs = args.refs
    work = Path(args.work or tempfile.mkdtemp(prefix="pose-accuracy-"))
    if args.calibrate:
        cal_models = [m for i, m in enumerate(train) if i % 16 < 4]
        lib = link_library(cal_models, work / "lib-calibrate")
        queries = render_queries(cal_models, 2, args.seed + 1, work / "queries-calibrate")
        s, per = run_row("calibration: psb24 training models", lib, queries, work / "cache")
        out = Path(__file__).resolve().parents[1] / "rotationnet" / "app" / "pose_calibration.json"
        table = fit_calibration(per, out)
        print_table([s], ["row", "assets", "queries", "asset_top1", "view_median", "view_le30"])
        print(table)
        print(f"calibration: {out}")
        return
    tag = "quick" if args.quick else "full"
    lib = link_library(test, work / f"lib-{tag}")
    t0 = time.time()
    queries = render_queries(test, refs, args.seed, work / f"queries-{tag}")
    print(f"{len(queries)} queries rendered in {time.time() - t0:.0f}s; "
          f"{len({q['asset'] for q in queries if len(q['symmetries']) > 1})} of {len(test)} assets symmetric about up")
    want = set(args.rows.split(","))
    rows, per_rows = [], {}
    if "a" in want:
        s, per = run_row("(a) test models", lib, queries, work / "cache", run=args.run)
        rows.append(s)
        per_rows["a"] = per
        base = baseline_nearest_of_12(test, queries)
        b = np.array(base)
        rows.append({"row": "(a) baseline: nearest of the true asset's 12 ring renders", "queries": len(b),
                     "asset_top1": None, "view_median": float(np.median(b)), "view_le15": float(np.mean(b <= 15)),
                     "view_le30": float(np.mean(b <= 30))})
    if "b" in want:
        t0 = time.time()
        qb = render_queries_cycles(test, queries, work / f"queries-cycles-{tag}")
        print(f"{len(qb)} Cycles queries rendered in {time.time() - t0:.0f}s")
        sb, perb = run_row("(b) the same cameras, Cycles, random colour, light and background", lib, qb, work / "cache",
                           run=args.run)
        rows.append(sb)
        per_rows["b"] = perb
    lmo = SHARED / "lmo-dev"
    if lmo.is_dir() and "c" in want:
        rng = np.random.default_rng(args.seed)
        distract = [models[i] for i in rng.choice(len(models), 40, replace=False)]
        libc = lmo_library(lmo, distract, work / "lib-lmo", args.seed)
        qc = lmo_queries(lmo, work / "queries-lmo", 60 if args.quick else None)
        s3, per3 = run_row("(c) lmo-dev photos, 3 meshes + 40 coloured distractors (box given)", libc, qc,
                           work / "cache", boxes=True)
        rows.append(s3)
        per_rows["c"] = per3
    for key, look in (("d", "randomised"), ("e", "sketch")):
        if key in want:
            ql = render_queries_look(test, queries, look, work / f"queries-{look}-{tag}")
            sl, perl = run_row(f"({key}) one picture per model, {look} look (render/looks.py, seed {LOOK_QUERY_SEED})",
                               lib, ql, work / "cache", run=args.run, classes_k=args.classes_k)
            rows.append(sl)
            per_rows[key] = perl
    if not args.quick and "a'" in want:
        lib2 = link_library(train, link_library(test, work / "lib-distractors"))
        s2, per2 = run_row("(a') + 384 training models as distractors", lib2, queries, work / "cache")
        rows.append(s2)
        per_rows["a'"] = per2
    first = next(iter(per_rows.values()))
    if args.figure:
        figure(first[:8], Path(args.figure))
    cal = calibration(first)
    print_table(rows, ["row", "assets", "queries", "asset_top1", "view_median", "view_le15", "view_le30", "rot_median",
                       "flips", "view_median_nosym", "view_le30_nosym", "index_s_per_asset", "query_s_median",
                       "class_top1"])
    print()
    print_table(cal["bins"], ["confidence", "queries", "mean_confidence", "within_30"])
    name = "pose_accuracy" + ("_quick" if args.quick else "") + ("" if want == {"a", "b", "c", "d", "e", "a'"} else
                                                                  "_" + "".join(sorted(want)).replace("'", "p"))
    name += f"_{args.tag}" if args.tag else ""
    path = write_result(name, rows,
                        {"calibration": cal, "seed": args.seed, "refs_per_asset": refs,
                         "per_query": {k: [{kk: vv for kk, vv in r.items() if kk not in ("query", "thumbnail")}
                                           for r in v]
                                       for k, v in per_rows.items()}})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
