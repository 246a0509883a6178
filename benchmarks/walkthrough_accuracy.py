"""Walk-throughs end to end: camera track and objects placed once.

    python benchmarks/walkthrough_accuracy.py [--quick] [--work DIR]

Rows:
  lmo   runs of lmo-dev photos in which the objects stand still (found from the
        ground truth: every pair of annotated objects keeps its relative position
        to 1 cm), the longest few; K given; the library the scene benchmark uses
        (ape, cat, duck + 40 look-alike distractors), its distractors scaled to
        the table objects' sizes in millimetres (one unit for the whole library).  Camera track: median rotation
        and position error after the one similarity transform that best aligns the
        whole track (its scale reported); objects: each of ape, cat, duck placed how
        many times, rotation and position error (the reply's world against the truth
        after the rigid transform of the camera centres: the reply's unit is the
        assets', so scale errors count); false objects: anything placed that is
        not an asset of the truth within ~2 object sizes (150 mm) of it.
  synth a synthetic walk-through (render.scenes.generate_walkthrough: assets of the
        scene benchmark's library, a rendered orbit written as an MP4) read as a
        video; errors in % of the scene's size (false: further than 25 % of it).

Prints a table and writes benchmarks/results/walkthrough_accuracy[_quick].json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks._common import SHARED, print_table, write_result  # noqa: E402

FLIP = np.diag([1.0, -1.0, -1.0])  # OpenCV camera ↔ Blender camera
LMO_OBJECTS = ("ape", "cat", "duck")
SIGHTINGS_CACHE = False


# ----------------------------------------------------------------------------
# ground truth
# ----------------------------------------------------------------------------

def _orth(r):
    u, _, vt = np.linalg.svd(np.asarray(r, np.float64).reshape(3, 3))
    return u @ vt


def static_runs(ann: dict, tol_mm: float = 10.0) -> list[list[str]]:
    """Maximal runs of consecutive photos in which every pair of annotated
    objects keeps its relative position (b's origin in a's frame) within ``tol_mm``."""
    by: dict[str, dict] = {}
    for a in ann["annotations"]:
        by.setdefault(a["photo"], {})[a["object"]] = (_orth(a["R_model_to_camera"]),
                                                     np.asarray(a["t_model_to_camera_mm"], np.float64))
    runs, cur, rel = [], [], {}
    for p in sorted(by):
        objs = by[p]
        pairs = {(a, b): objs[a][0].T @ (objs[b][1] - objs[a][1]) for a in objs for b in objs if a != b}
        agree = all(np.linalg.norm(v - rel[k]) <= tol_mm for k, v in pairs.items() if k in rel)
        if cur and agree:
            cur.append(p)
            rel.update({k: v for k, v in pairs.items() if k not in rel})
        else:
            if cur:
                runs.append(cur)
            cur, rel = [p], dict(pairs)
    if cur:
        runs.append(cur)
    return runs


def lmo_truth(ann: dict, photos: list[str]) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict]:
    """Per photo (world → camera rotation, camera centre) with the world the
    first photo's camera frame (Blender camera, millimetres), and each object's
    (asset → world rotation, location)."""
    by: dict[str, dict] = {}
    for a in ann["annotations"]:
        by.setdefault(a["photo"], {})[a["object"]] = (_orth(a["R_model_to_camera"]),
                                                     np.asarray(a["t_model_to_camera_mm"], np.float64))
    first = by[photos[0]]
    # an object's pose in the world: from the first photo it is annotated in, through that photo's camera
    cams: list[tuple[np.ndarray, np.ndarray]] = []
    objects: dict[str, tuple[np.ndarray, np.ndarray]] = {o: (FLIP @ r, FLIP @ t) for o, (r, t) in first.items()}
    for p in photos:
        here = by[p]
        rots, cents = [], []
        for o, (r, t) in here.items():
            if o in objects:
                rw, tw = objects[o]  # asset → world
                rc = FLIP @ r  # asset → camera (Blender)
                tc = FLIP @ t
                w2c = rc @ rw.T
                rots.append(w2c)
                cents.append(tw - rw @ rc.T @ tc)  # camera centre: where asset coords give camera origin
        if not rots:
            raise ValueError(f"{p}: no object shared with the run's earlier photos")
        m = sum(rots)
        u, _, vt = np.linalg.svd(m)
        w2c = u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt
        cams.append((w2c, np.mean(cents, axis=0)))
        for o, (r, t) in here.items():
            if o not in objects:
                objects[o] = (w2c.T @ FLIP @ r, w2c.T @ FLIP @ t + cams[-1][1])
    return cams, {f"lmo/{o}.ply": v for o, v in objects.items()}


# ----------------------------------------------------------------------------
# scoring
# ----------------------------------------------------------------------------

def umeyama(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """s, R, t minimising ‖s R src + t − dst‖² (points (n, 3))."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    s = float(np.trace(np.diag(sv) @ d) / (a ** 2).sum()) if scale else 1.0
    return s, r, md - s * r @ ms


def angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


def sym_angle(a: np.ndarray, b: np.ndarray, steps: list[float]) -> float:
    """Rotation error allowing turns about the asset's +Z by the symmetry ``steps`` (degrees)."""
    best = angle(a, b)
    for st in steps:
        if st <= 0:
            continue
        for k in range(1, int(round(360 / st))):
            t = np.radians(k * st)
            rz = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
            best = min(best, angle(a @ rz, b))
    return best


def evaluate(res: dict, cams: list, objects: dict, frame_index, size: float, syms: dict, near: float) -> dict:
    """The reply against the truth (see the module's docstring)."""
    from rotationnet.core.views import quaternion_to_matrix

    est_r, est_c, gt_r, gt_c = [], [], [], []
    for f in res["frames"]:
        i = frame_index(f)
        est_r.append(quaternion_to_matrix(f["rotation_wxyz"]))
        est_c.append(np.asarray(f["position"], np.float64))
        gt_r.append(cams[i][0])
        gt_c.append(cams[i][1])
    est_c, gt_c = np.array(est_c), np.array(gt_c)
    out = {"frames": len(cams), "registered": len(res["frames"])}
    if len(est_c) >= 3:
        s, ra, ta = umeyama(est_c, gt_c)
        rot = [angle(r @ ra.T, g) for r, g in zip(est_r, gt_r)]
        pos = np.linalg.norm((s * est_c @ ra.T + ta) - gt_c, axis=1)
        out.update(track_rot_deg=float(np.median(rot)), track_pos=float(np.median(pos)), track_pos_pct=float(
            100 * np.median(pos) / size), track_scale=s)
        _, rr, tr = umeyama(est_c, gt_c, scale=False)  # rigid: the reply's unit is the assets'
    else:
        rr, tr = np.eye(3), np.zeros(3)
    per, used = {}, set()
    for asset, (rg, tg) in objects.items():
        mine = [(k, o) for k, o in enumerate(res["objects"]) if o["asset"] == asset]
        errs = []
        for k, o in mine:
            r = rr @ quaternion_to_matrix(o["rotation_wxyz"])
            t = rr @ np.asarray(o["location"]) + tr
            errs.append((float(np.linalg.norm(t - tg)), sym_angle(r, rg, syms.get(asset, [])), k))
        errs.sort()
        per[asset] = {"placed": len(mine), "pos": errs[0][0] if errs else None, "rot": errs[0][1] if errs else None,
                      "pos_pct": 100 * errs[0][0] / size if errs else None}
        used |= {k for d, _, k in errs if d <= near}
    out["objects"] = per
    out["false"] = sum(1 for k in range(len(res["objects"])) if k not in used)
    out["placed_total"] = len(res["objects"])
    return out


# ----------------------------------------------------------------------------
# rows
# ----------------------------------------------------------------------------

def run_service(library: Path, cache: Path, req: dict):
    from rotationnet.app import walkthrough as W
    from rotationnet.app.service import Service

    if SIGHTINGS_CACHE:  # development: the scene stage's sightings kept, so fusion can be iterated on
        import pickle

        keep = Path(req["out"]).with_suffix(".sightings.pkl")
        original = getattr(W, "_uncached_sightings", W.sightings)
        W._uncached_sightings = original

        def cached(*a, **k):
            if keep.exists():
                return pickle.loads(keep.read_bytes())
            out = original(*a, **k)
            keep.write_bytes(pickle.dumps(out))
            return out

        W.sightings = cached

    last = [0.0]

    def send(m):
        if "progress" in m and time.time() - last[0] > 20:
            last[0] = time.time()
            print(f"    {100 * m['progress']:3.0f}% {m['message']}", flush=True)

    svc = Service(send)
    svc.configure({"library": str(library), "cache": str(cache)})
    svc.index_({})
    t0 = time.time()
    res = svc.walkthrough({"id": 1, "cmd": "walkthrough", **req})
    return res, time.time() - t0, svc


def lmo_rows(work: Path, runs: int, scene_frames: int) -> list[dict]:
    from scene_accuracy import lmo_library

    ann = json.loads((SHARED / "lmo-dev" / "annotations.json").read_text())
    k = np.asarray(ann["camera_K"], np.float64).reshape(3, 3)
    # the scene benchmark's library, its distractors at the table objects' sizes (60-150 mm): one
    # library, one unit, as an artist's is (the scene benchmark's distractors are psb24's ~1-unit sizes)
    lib = lmo_library(work / "lib-lmo-mm", 2026, size_range=(60.0, 150.0))
    found = sorted(static_runs(ann), key=len, reverse=True)[:runs]
    rows = []
    for n, photos in enumerate(found):
        cams, objects = lmo_truth(ann, photos)
        print(f"lmo run {n + 1}: {len(photos)} photos {Path(photos[0]).stem}..{Path(photos[-1]).stem}", flush=True)
        req = {"images": [str(SHARED / "lmo-dev" / p) for p in photos], "out": str(work / f"lmo-{n}"),
               "camera": {"K": k.tolist()}, "scene_frames": scene_frames}
        res, secs, _ = run_service(lib, work / "cache", req)
        (work / f"lmo-{n}" / "walkthrough.json").write_text(json.dumps(res, indent=1))
        ev = evaluate(res, cams, objects, lambda f: int(Path(f["image"]).stem.split("_")[-1]) - 1, 1.0,
                      {}, near=150.0)  # further than ~2 of the objects' sizes from its asset's truth: false
        ev.update(name=f"lmo run {n + 1} ({len(photos)} photos)", seconds=secs)
        rows.append(ev)
        print(json.dumps(ev), flush=True)
    return rows


def synth_row(work: Path, frames: int, scene_frames: int, seed: int) -> dict:
    from scene_accuracy import synthetic_library

    lib = synthetic_library(work / "lib-synth")
    video, truth_path = work / f"synth-{seed}.mp4", work / f"synth-{seed}.json"
    if not truth_path.exists():  # Blender draws it in a child process (nothing else of Blender in there)
        subprocess.run([sys.executable, __file__, "--draw", str(seed), "--frames", str(frames), "--work", str(work)],
                       check=True)
    truth = json.loads(truth_path.read_text())
    from rotationnet.core.views import quaternion_to_matrix

    cams = [(quaternion_to_matrix(f["rotation_wxyz"]), np.asarray(f["position"])) for f in truth["frames"]]
    objects = {o["asset"]: (quaternion_to_matrix(o["rotation_wxyz"]), np.asarray(o["location"]))
               for o in truth["objects"]}
    size = float(max(np.linalg.norm(np.asarray(o["location"])) for o in truth["objects"]) + max(
        o["size"] for o in truth["objects"]))
    req = {"video": str(video), "out": str(work / f"synth-{seed}"), "every": 1, "max_frames": frames,
           "camera": {"K": truth["camera"]["K"]}, "scene_frames": scene_frames}
    res, secs, svc = run_service(lib, work / "cache", req)
    (work / f"synth-{seed}" / "walkthrough.json").write_text(json.dumps(res, indent=1))
    from rotationnet.app.symmetry import up_axis_symmetries

    syms = {a: up_axis_symmetries(svc.index.entries[a].mesh.vertices, svc.index.entries[a].mesh.faces)
            for a in objects}
    # the frame's index in the video: its time × fps (every frame was kept)
    ev = evaluate(res, cams, objects, lambda f: int(Path(f["image"]).stem.split("_")[-1]) - 1, size, syms,
                  near=0.25 * size)  # further than a quarter of the set from its asset's truth: false
    ev.update(name=f"synthetic video ({frames} frames, {len(objects)} objects)", seconds=secs, scene_size=size)
    print(json.dumps(ev), flush=True)
    return ev


def draw(seed: int, frames: int, work: Path) -> None:
    """The child: one synthetic walk-through → MP4 + truth."""
    from render.meshes import load_mesh_colored
    from render.scenes import SceneAsset, generate_walkthrough, write_video
    from rotationnet.app.assetindex import list_assets
    from scene_accuracy import synthetic_library

    assets = list_assets(synthetic_library(work / "lib-synth"))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(assets), int(rng.integers(3, 6)), replace=False)
    sa = []
    for i in pick:
        v, f, c = load_mesh_colored(assets[i].source, "Z")
        sa.append(SceneAsset(assets[i].id, assets[i].label, v, f, c))
    imgs, truth = generate_walkthrough(sa, rng, frames=frames, width=640, height=480, look="plain")
    write_video(imgs, work / f"synth-{seed}.mp4", fps=10)
    (work / f"synth-{seed}.json").write_text(json.dumps(truth))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one lmo run and the synthetic video")
    ap.add_argument("--work", default="/tmp/rotationnet-walkthrough-bench")
    ap.add_argument("--runs", type=int, default=3, help="lmo-dev runs (the longest)")
    ap.add_argument("--scene-frames", type=int, default=8)
    ap.add_argument("--frames", type=int, default=50, help="frames of the synthetic video")
    ap.add_argument("--seed", type=int, default=1, help="the synthetic walk-through's seed")
    ap.add_argument("--skip", default="", help="rows to skip: lmo,synth")
    ap.add_argument("--cache-sightings", action="store_true", help="development: keep each walk-through's sightings "
                                                                    "(pickles beside its output) and reuse them")
    ap.add_argument("--draw", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global SIGHTINGS_CACHE
    SIGHTINGS_CACHE = args.cache_sightings
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.draw is not None:
        draw(args.draw, args.frames, work)
        return
    rows = []
    if "synth" not in args.skip:
        rows.append(synth_row(work, args.frames, args.scene_frames, args.seed))
    if "lmo" not in args.skip and (SHARED / "lmo-dev").is_dir():
        rows += lmo_rows(work, 1 if args.quick else args.runs, args.scene_frames)
    table = []
    for r in rows:
        objs = r.get("objects", {})
        unit = "%" if "scene_size" in r else "mm"
        table.append({
            "row": r["name"], "registered": f"{r['registered']}/{r['frames']}",
            "track rot°": f"{r.get('track_rot_deg', float('nan')):.2f}",
            "track pos": f"{r.get('track_pos_pct' if unit == '%' else 'track_pos', float('nan')):.2f}{unit}",
            "objects (placed× rot° pos)": "; ".join(
                f"{Path(a).stem}:{o['placed']}×" + (f" {o['rot']:.0f}° {o['pos_pct' if unit == '%' else 'pos']:.1f}{unit}"
                                                   if o["placed"] else "") for a, o in objs.items()),
            "false": r["false"], "time s": f"{r['seconds']:.0f}"})
    print_table(table, list(table[0]) if table else [])
    write_result("walkthrough_accuracy" + ("_quick" if args.quick else ""), rows)


if __name__ == "__main__":
    main()
