"""Rendering very large meshes: time and peak memory of ``rotationnet render``.

    python benchmarks/big_mesh.py [--quick] [--faces 500000,2000000,4000000] [--size 224]

Each mesh is a wavy height field written as a binary PLY; the whole command
(Blender start-up, loading, normalising, rendering ring-12, PNG files) runs in a
child process and its largest process's peak resident memory is reported.
The loader refuses meshes above 5M faces; below that they must render within
bounded memory (tests assert < 2.5 GB at 2M faces).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, print_table, write_result  # noqa: E402

import trimesh  # noqa: E402

from render.procedural import grid_mesh  # noqa: E402


def measure(faces: int, size: int, work: Path) -> dict:
    v, f = grid_mesh(faces)
    lib = work / f"lib{faces}" / "terrain" / "train"
    lib.mkdir(parents=True)
    trimesh.Trimesh(v, f, process=False).export(lib / "big.ply")  # binary PLY
    probe = ("import resource, subprocess, sys, time\n"
             "t = time.time()\n"
             f"r = subprocess.run([sys.executable, '-m', 'rotationnet.cli', 'render', {str(lib.parent.parent)!r}, "
             f"{str(work / f'out{faces}')!r}, '--rig', 'ring12', '--size', '{size}', '--workers', '1'], "
             "capture_output=True)\n"
             "print(r.returncode, time.time() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "BLENDER_USER_RESOURCES": str(work / "blender")}).stdout.split()
    rc, secs, kb = int(out[-3]), float(out[-2]), int(out[-1])
    return {"faces": len(f), "ply_mb": round((lib / "big.ply").stat().st_size / 1e6, 1), "size": size,
            "exit_code": rc, "seconds": round(secs, 2), "peak_rss_mb": round(kb / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one 500k-face mesh")
    ap.add_argument("--faces", default="500000,2000000,4000000")
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    counts = [500_000] if args.quick else [int(x) for x in args.faces.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rotationnet-bigmesh-") as tmp:
        for n in counts:
            rows.append(measure(n, args.size, Path(tmp)))
            print_table(rows[-1:], list(rows[-1]))
    print()
    print_table(rows, list(rows[0]))
    print(f"wrote {write_result('big_mesh' + ('_quick' if args.quick else ''), rows)}")


if __name__ == "__main__":
    main()
