"""Whole pictures: every library object found, turned, located — measured end to end.

Rows (``--rows``):

* (a)  synthetic scenes (``render/scenes.py``), frozen split (seeds 0..N-1;
       tuning used seeds from 10000 on): 2–8 assets of a library of psb24 *test*
       models and procedural props, each written at a random size of 0.4–1.2
       units, on a floor, plain and randomised looks alternating; camera K given.
* (a0) the same pictures, camera not given: field-of-view error, and the objects
       placed with the estimated camera.
* (b)  ``../shared/data/lmo-dev`` whole photos, K given; library = its 3 meshes +
       40 psb24 distractors from the look-alike categories (Quadruped, Bird,
       Insect, AquaticAnimal, HumanHead, Tool; random colours); targets ape, cat,
       duck where ≥ 50 % visible; any object placed elsewhere is false (the
       table's other objects are not in the library).
* (b0) the same photos without K.

A target is **found** when an object of the same asset has box IoU ≥ 0.5 with its
whole-outline box, **placed** when found, its rotation error (geodesic, the
smallest over the mesh's own turns about its up axis) is ≤ 30° and its centre is
within 10 % of its true distance from the camera.  An object matching no target is
**false** (one that matches a target seen less than 50 % is neither).  Time is per
picture, through the same code the worker's ``scene`` command runs (index loaded).

    python benchmarks/scene_accuracy.py [--quick] [--work DIR] [--rows a,a0,b,b0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import SHARED, print_table, write_result  # noqa: E402

LOOKALIKE = ("Quadruped", "Bird", "Insect", "AquaticAnimal", "HumanHead", "Tool")
SPLIT_SEED = 0  # the frozen split: seeds 0..N-1; tuning used 10000+


def synthetic_library(folder: Path, seed: int = 7) -> Path:
    """psb24 test models and procedural props, each written (PLY, +Z up) at a
    random size (longest side 0.4–1.2 units) standing on z = 0."""
    import trimesh

    from render.meshes import find_meshes, load_mesh
    from render.procedural import CATEGORIES, make_prop

    done = folder / ".done"
    if done.exists():
        return folder
    rng = np.random.default_rng(seed)
    items = []
    for m in find_meshes(SHARED / "meshes" / "psb24", test_fraction=0.0):
        if m.split == "test":
            v, f = load_mesh(m.path, "Z")
            items.append((m.label, m.path.stem, v, f))
    for cat in CATEGORIES:
        for k in range(2):
            p = make_prop(cat, rng)
            items.append((f"prop_{cat}", f"{cat}_{k}", np.asarray(p.vertices, np.float64), np.asarray(p.faces)))
    for label, name, v, f in items:
        v = v - [(v[:, 0].min() + v[:, 0].max()) / 2, (v[:, 1].min() + v[:, 1].max()) / 2, v[:, 2].min()]
        v = v * (rng.uniform(0.4, 1.2) / np.ptp(v, axis=0).max())
        (folder / label).mkdir(parents=True, exist_ok=True)
        trimesh.Trimesh(v, f, process=False).export(folder / label / f"{name}.ply")
    done.touch()
    return folder


def synthetic_scenes(library: Path, out: Path, seeds, quick: bool) -> list[dict]:
    """One picture per seed (2–8 assets; plain for even seeds, randomised for odd), saved with its truth."""
    from PIL import Image

    from render.meshes import load_mesh_colored
    from render.scenes import SceneAsset, generate_scene
    from rotationnet.app.assetindex import list_assets

    assets = list_assets(library)
    out.mkdir(parents=True, exist_ok=True)
    cache: dict[str, SceneAsset] = {}
    scenes = []
    for s in seeds:
        png, js = out / f"scene_{s:05d}.png", out / f"scene_{s:05d}.json"
        if not js.exists():
            rng = np.random.default_rng(s)
            pick = rng.choice(len(assets), int(rng.integers(2, 9)), replace=False)
            sa = []
            for i in pick:
                a = assets[i]
                if a.id not in cache:
                    v, f, c = load_mesh_colored(a.source, "Z")
                    cache[a.id] = SceneAsset(a.id, a.label, v, f, c)
                sa.append(cache[a.id])
            img, truth = generate_scene(sa, rng, 640, 480, look="plain" if s % 2 == 0 else "randomised")
            Image.fromarray(img).save(png)
            js.write_text(json.dumps(truth))
        scenes.append({"image": str(png), "truth": json.loads(js.read_text()), "name": png.stem})
    return scenes


def lmo_library(folder: Path, seed: int, size_range: tuple[float, float] | None = None) -> Path:
    """The 3 lmo-dev meshes (own colours, millimetres) + 40 look-alike psb24 distractors in random colours
    (``size_range``: see pose_accuracy.lmo_library)."""
    from render.meshes import find_meshes

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pose_accuracy import lmo_library as write

    models = [m for m in find_meshes(SHARED / "meshes" / "psb24", test_fraction=0.0) if m.label in LOOKALIKE]
    rng = np.random.default_rng(seed)
    pick = [models[i] for i in rng.choice(len(models), 40, replace=False)]
    return write(SHARED / "lmo-dev", pick, folder, seed, size_range)


def lmo_scenes(limit: int | None) -> list[dict]:
    """Every lmo-dev photo (or every ``len // limit``-th) and its truth in the scene reply's frame."""
    from rotationnet.core.camera import Intrinsics
    from rotationnet.core.views import matrix_to_quaternion

    lmo = SHARED / "lmo-dev"
    ann = json.loads((lmo / "annotations.json").read_text())
    k = np.asarray(ann["camera_K"], np.float64).reshape(3, 3)
    w, h = ann.get("image_size_wh", [640, 480])
    flip = np.diag([1.0, -1.0, -1.0])  # OpenCV camera → Blender camera
    by_photo: dict[str, list] = {}
    for a in ann["annotations"]:
        by_photo.setdefault(a["photo"], []).append(a)
    photos = sorted(by_photo)
    if limit:
        photos = photos[:: max(1, len(photos) // limit)][:limit]
    scenes = []
    for p in photos:
        objs = []
        for a in by_photo[p]:
            r = np.asarray(a["R_model_to_camera"], np.float64).reshape(3, 3)
            u, _, vt = np.linalg.svd(r)
            r = flip @ (u @ vt)
            t = flip @ np.asarray(a["t_model_to_camera_mm"], np.float64)
            objs.append({"asset": f"lmo/{Path(a['mesh']).name}", "box": a["bbox_obj_xywh"],
                         "rotation_wxyz": matrix_to_quaternion(r).tolist(), "location": t.tolist(),
                         "visible": a["visible_fraction"]})
        scenes.append({"image": str(lmo / p), "name": Path(p).stem,
                       "truth": {"camera": Intrinsics(k, w, h).to_dict(), "objects": objs, "floor": None}})
    return scenes


def _box_iou(a, b) -> float:
    from rotationnet.app.proposals import box_iou

    return float(box_iou(np.array([a]), np.array([b]))[0, 0])


def evaluate(objects: list[dict], truth: dict, meshes: dict, symmetries: dict, min_visible: float = 0.5) -> dict:
    """Found / placed targets and false objects of one picture (see the module's docstring).

    ``meshes``: asset id → its own vertices (for the centre); ``symmetries``:
    asset id → turns about +Z (degrees) that map it onto itself."""
    from rotationnet.core.views import geodesic_deg, quaternion_to_matrix

    targets = [t for t in truth["objects"] if t["visible"] >= min_visible]
    others = [t for t in truth["objects"] if t["visible"] < min_visible]
    used, per = set(), []
    false = 0
    for o in objects:  # most confident first
        hit = None
        for j, t in enumerate(targets):
            if j not in used and t["asset"] == o["asset"] and _box_iou(o["box"], t["box"]) >= 0.5:
                hit = j
                break
        if hit is None:
            if not any(t["asset"] == o["asset"] and _box_iou(o["box"], t["box"]) >= 0.5 for t in others):
                false += 1
            continue
        used.add(hit)
        t = targets[hit]
        rp, rt = quaternion_to_matrix(o["rotation_wxyz"]), quaternion_to_matrix(t["rotation_wxyz"])
        errs = []
        for a in symmetries.get(t["asset"], [0.0]):
            c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
            errs.append(float(geodesic_deg(rp, rt @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]))))
        v = meshes[t["asset"]]
        mid = (v.min(axis=0) + v.max(axis=0)) / 2
        cp, ct = rp @ mid + o["location"], rt @ mid + np.asarray(t["location"])
        dist = float(np.linalg.norm(cp - ct) / np.linalg.norm(ct))
        per.append({"asset": t["asset"], "rotation_deg": min(errs), "centre_rel": dist,
                    "placed": bool(min(errs) <= 30.0 and dist <= 0.1)})
    return {"targets": len(targets), "found": len(per), "placed": sum(p["placed"] for p in per), "false": false,
            "matches": per}


class Runner:
    """The worker's service in this process (its scene command), on one library."""

    def __init__(self, library: Path, cache: Path):
        from rotationnet.app.service import Service

        self.svc = Service(lambda msg: None)
        self.svc.configure({"library": str(library), "cache": str(cache)})
        t0 = time.time()
        res = self.svc.index_({})
        print(f"indexed {res['assets']} assets ({res['rebuilt']} rebuilt) in {time.time() - t0:.0f}s", flush=True)
        self.index = self.svc.index

    def scene(self, image: str, camera: dict | None) -> tuple[dict, float]:
        req = {"id": 1, "cmd": "scene", "image": image}
        if camera is not None:
            req["camera"] = camera
        t0 = time.time()
        res = self.svc.scene(req)
        return res, time.time() - t0

    def own_meshes(self) -> dict:
        from rotationnet.app.scene import own_vertices

        return {a: own_vertices(e) for a, e in self.index.entries.items()}

    def symmetries(self) -> dict:
        from rotationnet.app.symmetry import up_axis_symmetries

        out = {}
        for a, e in self.index.entries.items():
            out[a] = [0.0] if a.startswith("lmo/") else up_axis_symmetries(e.mesh.vertices, e.mesh.faces)
        return out


def run_row(name: str, runner: Runner, scenes: list[dict], with_k: bool, meshes, syms, log: Path) -> dict:
    from tqdm import tqdm

    tot = {"targets": 0, "found": 0, "placed": 0, "false": 0}
    times, fov_err, rot, cen = [], [], [], []
    per = []
    for sc in tqdm(scenes, desc=name[:40], file=sys.stderr):
        cam = {"K": sc["truth"]["camera"]["K"]} if with_k else None
        res, dt = runner.scene(sc["image"], cam)
        times.append(dt)
        ev = evaluate(res["objects"], sc["truth"], meshes, syms)
        for k in tot:
            tot[k] += ev[k]
        rot += [m["rotation_deg"] for m in ev["matches"]]
        cen += [m["centre_rel"] for m in ev["matches"]]
        if not with_k:
            fov_err.append(abs(res["camera"]["fov_deg"] - sc["truth"]["camera"]["fov_deg"]) / sc["truth"]["camera"]["fov_deg"])
        per.append({"scene": sc["name"], **{k: ev[k] for k in tot}, "time_s": dt, "fov_deg": res["camera"]["fov_deg"],
                    "true_fov_deg": sc["truth"]["camera"]["fov_deg"], "matches": ev["matches"],
                    "objects": [{k: o[k] for k in ("asset", "box", "confidence", "score")} for o in res["objects"]]})
        with log.open("a") as fh:
            fh.write(json.dumps(per[-1]) + "\n")
    n = max(tot["targets"], 1)
    return {"row": name, "pictures": len(scenes), "targets": tot["targets"], "found": tot["found"] / n,
            "placed": tot["placed"] / n, "false_per_picture": tot["false"] / max(len(scenes), 1),
            "rotation_median_deg": float(np.median(rot)) if rot else None,
            "centre_median_rel": float(np.median(cen)) if cen else None,
            "fov_err_median": float(np.median(fov_err)) if fov_err else None,
            "time_median_s": float(np.median(times)), "time_p90_s": float(np.percentile(times, 90)), "per": per}


def library_rows(lib: Path, scenes: list[dict], cache: Path, log: Path, names: dict, want: set) -> list[dict]:
    """The rows of one library: ``names`` maps a row key to its title; keys ending in 0 run without K."""
    runner = Runner(lib, cache)
    meshes, syms = runner.own_meshes(), runner.symmetries()
    out = [run_row(title, runner, scenes, not key.endswith("0"), meshes, syms, log)
           for key, title in names.items() if key in want]
    runner.index.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8 synthetic scenes, 10 lmo-dev photos")
    ap.add_argument("--scenes", type=int, default=40, help="synthetic scenes in the frozen split")
    ap.add_argument("--lmo", type=int, default=50, help="lmo-dev photos (spread over the 200)")
    ap.add_argument("--tune", action="store_true", help="use the tuning seeds (10000+) instead of the frozen split")
    ap.add_argument("--work", default=None)
    ap.add_argument("--rows", default="a,a0,b,b0")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--tag", default="")
    ap.add_argument("--time-library", default=None, metavar="LIB",
                    help="instead: time the scene command on the first --time-pictures synthetic pictures against "
                         "this (large) library, e.g. benchmarks/pose_scaling.py's 1000 assets")
    ap.add_argument("--time-cache", default=None, metavar="DIR", help="the index cache of --time-library")
    ap.add_argument("--time-pictures", type=int, default=5)
    ap.add_argument("--generate", default=None, help=argparse.SUPPRESS)  # internal: FIRST,COUNT scenes in a child
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="scene-accuracy-"))
    work.mkdir(parents=True, exist_ok=True)
    want = set(args.rows.split(","))
    n_syn = 8 if args.quick else args.scenes
    n_lmo = 10 if args.quick else args.lmo
    rows = []
    log = work / f"per_picture{args.tag}.jsonl"
    if args.time_library:
        pics = sorted((work / "scenes").glob("scene_*.png"))[:args.time_pictures]
        if not pics:
            sys.exit(f"no synthetic pictures in {work / 'scenes'}: run the (a) rows with this --work first")
        runner = Runner(Path(args.time_library), Path(args.time_cache or work / "cache-time"))
        times = []
        for p in pics:
            truth = json.loads(p.with_suffix(".json").read_text())
            res, dt = runner.scene(str(p), {"K": truth["camera"]["K"]})
            times.append(dt)
            print(f"{p.name}: {dt:.1f}s, {len(res['objects'])} objects", flush=True)
        row = {"row": f"time, {len(runner.index.entries)} assets", "pictures": len(times),
               "time_median_s": float(np.median(times)), "time_max_s": float(np.max(times))}
        print_table([row], ["row", "pictures", "time_median_s", "time_max_s"])
        print(write_result("scene_accuracy_time" + (f"_{args.tag}" if args.tag else ""), [row], {"work": str(work)}))
        return
    if want & {"a", "a0"}:
        lib = synthetic_library(work / "lib-synth")
        base = 10000 if args.tune else SPLIT_SEED
        folder = work / ("scenes-tune" if args.tune else "scenes")
        if args.generate:  # the child: Blender draws the scenes, nothing else in this process
            synthetic_scenes(lib, folder, range(base, base + n_syn), args.quick)
            return
        # drawn in a child process: Workbench scene renders and the index's GPU renderer do not share one well
        import subprocess

        subprocess.run([sys.executable, __file__, "--generate", "1", "--work", str(work), "--scenes", str(n_syn),
                        *(["--tune"] if args.tune else []), *(["--quick"] if args.quick else [])], check=True,
                       stdout=subprocess.DEVNULL)
        scenes = synthetic_scenes(lib, folder, range(base, base + n_syn), args.quick)
        rows += library_rows(lib, scenes, work / "cache", log, {"a": "(a) synthetic scenes, K given",
                                                                "a0": "(a0) synthetic scenes, camera not given"}, want)
    if want & {"b", "b0"} and (SHARED / "lmo-dev").is_dir():
        lib = lmo_library(work / "lib-lmo", args.seed)
        rows += library_rows(lib, lmo_scenes(n_lmo), work / "cache", log,
                             {"b": "(b) lmo-dev photos, K given", "b0": "(b0) lmo-dev photos, camera not given"}, want)
    print_table(rows, ["row", "pictures", "targets", "found", "placed", "false_per_picture", "rotation_median_deg",
                       "centre_median_rel", "fov_err_median", "time_median_s", "time_p90_s"])
    name = "scene_accuracy" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    print(write_result(name, rows, {"work": str(work)}))


if __name__ == "__main__":
    main()
