"""Rendering speed: views/s per engine and rig over real meshes, mesh loading and
normalisation included.

    python benchmarks/render_speed.py [--quick] [--meshes N] [--size 224]

Meshes: the first N of ../shared/data/meshes/psb24 taken evenly across
categories.  Engines: fast (gpu offscreen), workbench (AA off and 8), and the
baseline, a plain per-view Cycles render at 16 samples (no denoiser), timed on
a subset.  Also the whole bulk command (PNG writing, manifest, 2 workers).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PSB = Path(os.environ.get("ROTATIONNET_SHARED_DATA", ROOT.parent / "shared" / "data")) / "meshes" / "psb24"


def pick_meshes(n: int):
    from render.meshes import find_meshes

    jobs = find_meshes(PSB)
    by_class: dict[str, list] = {}
    for j in jobs:
        by_class.setdefault(j.label, []).append(j)
    out, k = [], 0
    while len(out) < n and any(by_class.values()):
        for lst in by_class.values():
            if k < len(lst) and len(out) < n:
                out.append(lst[k])
        k += 1
    return out


def time_engine(jobs, **settings) -> dict:
    from render.engine import Renderer, RenderSettings

    s = RenderSettings(**settings)
    with Renderer(s) as r:
        r.render_file(jobs[0].path)  # warm-up: context, shaders, scene
        t0 = time.perf_counter()
        views = 0
        for j in jobs:
            images, _, _ = r.render_file(j.path)
            views += len(images)
        dt = time.perf_counter() - t0
    return {"engine": s.engine + (f" aa={s.aa}" if s.engine == "workbench" else "")
            + (f" {s.samples} spp" if s.engine == "cycles" else ""),
            "rig": s.rig, "size": s.size, "meshes": len(jobs), "views": views,
            "seconds": dt, "views_per_s": views / dt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 meshes, smaller baselines")
    ap.add_argument("--meshes", type=int, default=100)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    if not PSB.is_dir():
        sys.exit(f"benchmark data not found: {PSB}")
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="rotationnet-bench-blender-"))
    n = 20 if args.quick else args.meshes
    jobs = pick_meshes(n)
    rows = []
    for rig in ("ring12", "dodeca20"):
        rows.append(time_engine(jobs, rig=rig, size=args.size, engine="fast"))
        print_table(rows[-1:], list(rows[-1]))
    for aa in ("OFF", "FXAA", "8"):
        rows.append(time_engine(jobs[: max(5, n // 5)], rig="ring12", size=args.size, engine="workbench", aa=aa))
        print_table(rows[-1:], list(rows[-1]))
    rows.append(time_engine(jobs[: 2 if args.quick else 5], rig="ring12", size=args.size, engine="cycles", samples=16))
    print_table(rows[-1:], list(rows[-1]))
    cycles = rows[-1]["views_per_s"]
    for r in rows:
        r["x_cycles16"] = r["views_per_s"] / cycles
    # the bulk command end to end: PNG files, records, manifest, 2 worker processes
    from render.bulk import render_library
    from render.engine import RenderSettings

    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        for j in jobs:
            d = lib / j.label / j.split
            d.mkdir(parents=True, exist_ok=True)
            (d / j.path.name).symlink_to(j.path)
        t0 = time.perf_counter()
        s = render_library(lib, Path(tmp) / "out", RenderSettings(rig="ring12", size=args.size), workers=2,
                           progress=False)
        dt = time.perf_counter() - t0
        rows.append({"engine": "fast, bulk command (2 workers, PNG)", "rig": "ring12", "size": args.size,
                     "meshes": s.rendered, "views": s.views, "seconds": dt, "views_per_s": s.views / dt,
                     "x_cycles16": s.views / dt / cycles})
    cols = ["engine", "rig", "size", "meshes", "views", "seconds", "views_per_s", "x_cycles16"]
    print()
    print_table(rows, cols)
    path = write_result("render_speed" + ("_quick" if args.quick else ""), rows,
                        {"goal": "fast >= 500 views/s and >= 100x cycles16; workbench >= 60 views/s"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
