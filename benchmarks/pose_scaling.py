"""How indexing and a query grow with the library: 10, 100 and 1000 assets.

Libraries are procedural props (``render/procedural.py``: 8 categories, seeded
instances).  Through the worker, as the add-on uses it: index time per asset
(first use, nothing cached) and the median time of a query (one 224 px
picture of one of the assets); every row uses the full template sphere.

Also: the first stage of retrieval (pooled descriptors of every template,
inner products, best per asset) with numpy against faiss-cpu's exact
inner-product index, to find where a vector search library starts to pay.

    .venv/bin/python benchmarks/pose_scaling.py --quick     # 10 and 100 assets
    .venv/bin/python benchmarks/pose_scaling.py             # 10, 100, 1000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import torchvision  # noqa: F401  (torch before Blender's libraries)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table, write_result  # noqa: E402


def library(root: Path, n: int, seed: int) -> Path:
    from render.procedural import CATEGORIES, write_library

    per = -(-n // len(CATEGORIES))
    lib = root / f"props{n}"
    if not lib.is_dir():
        write_library(lib, instances=per, test=0, seed=seed)
        extra = sorted(lib.rglob("*.ply"))[n:]
        for p in extra:  # exactly n
            p.unlink()
    return lib


def picture(lib: Path, out: Path, seed: int) -> str:
    from PIL import Image

    from render.engine import Renderer, RenderSettings
    from rotationnet.core.views import from_cameras

    mesh = sorted(lib.rglob("*.ply"))[len(list(lib.rglob("*.ply"))) // 2]
    rng = np.random.default_rng(seed)
    az, el = np.radians(rng.uniform(0, 360)), np.radians(rng.uniform(10, 50))
    c = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    with Renderer(RenderSettings(rig=from_cameras(np.stack([c, [0, 0, 1.0]]), upright=False), size=224,
                                 supersample=2)) as r:
        img, _, _ = r.render_file(mesh)
    out.mkdir(parents=True, exist_ok=True)
    p = out / f"query_{lib.name}.png"
    Image.fromarray(img[0]).save(p)
    return str(p)


def through_worker(lib: Path, query: str, cache: Path, queries: int = 5) -> dict:
    from rotationnet.app.client import WorkerClient

    with WorkerClient(timeout=7200) as w:
        t0 = time.time()
        info = w.request("configure", library=str(lib), cache=str(cache))
        idx = w.request("index")
        index_s = time.time() - t0
        times = []
        for _ in range(queries):
            t1 = time.time()
            w.request("classify", images=[query], thumbs=str(cache / "thumbs"))
            times.append(time.time() - t1)
    return {"assets": info["assets"], "index_s_per_asset": index_s / info["assets"], "rebuilt": idx["rebuilt"],
            "query_s_median": float(np.median(times))}


def first_stage(n_assets: int, templates: int = 253, dim: int = 112, rolls: int = 7, repeats: int = 5) -> dict:
    """numpy vs faiss (exact inner product) for the best template of every asset."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((n_assets * templates, dim)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    q = rng.standard_normal((rolls, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    owner = np.repeat(np.arange(n_assets), templates)

    def by_numpy():
        s = (q @ base.T).max(axis=0)
        return np.maximum.reduceat(s, np.arange(0, len(s), templates))

    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ref = by_numpy()
        t.append(time.perf_counter() - t0)
    row = {"assets": n_assets, "vectors": len(base), "numpy_ms": 1000 * float(np.median(t))}
    try:
        import faiss
    except ImportError:
        row["faiss_ms"] = None
        return row
    index = faiss.IndexFlatIP(dim)
    index.add(base)
    k = min(len(base), 64 * rolls)
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        d, i = index.search(q, k)
        best = np.full(n_assets, -np.inf, np.float32)
        np.maximum.at(best, owner[i.ravel()], d.ravel())
        t.append(time.perf_counter() - t0)
    row["faiss_ms"] = 1000 * float(np.median(t))
    top = np.argsort(-ref)[:12]
    row["faiss_same_top12"] = bool(set(top) <= set(np.argsort(-best)[:64]))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 and 100 assets only")
    ap.add_argument("--work", default=None)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="pose-scaling-"))
    sizes = (10, 100) if args.quick else (10, 100, 1000)
    rows = []
    for n in sizes:
        lib = library(work, n, args.seed)
        q = picture(lib, work / "queries", args.seed)
        r = through_worker(lib, q, work / f"cache{n}")
        r["templates_per_asset"] = 253
        rows.append(r)
        print_table([r], list(r))
    stage = [first_stage(n) for n in (10, 100, 1000, 10000)]
    print_table(rows, ["assets", "templates_per_asset", "index_s_per_asset", "query_s_median"])
    print()
    print_table(stage, ["assets", "vectors", "numpy_ms", "faiss_ms", "faiss_same_top12"])
    print(f"results: {write_result('pose_scaling' + ('_quick' if args.quick else ''), rows, {'first_stage': stage})}")


if __name__ == "__main__":
    main()
