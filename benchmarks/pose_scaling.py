"""How indexing and a query grow with the library, through the worker as the
add-on uses it (``configure``, ``index``, then ``classify``), nothing cached.

Libraries of real meshes: the psb24 models (test models first, then training
models), topped up with procedural props (``render/procedural.py``) past
psb24's 480.  Rows:

* index time per asset — wall clock of ``configure`` + ``index`` on an empty
  cache, divided by the assets (mesh loading, 253 template renders, their crops
  and descriptors, the cache file; the worker's start-up excluded);
* query time — ``classify`` of one 224-pixel picture (no alpha: GrabCut finds
  the object) of a random library asset from a random camera (azimuth 0–360°,
  elevation −10…80°, roll ±10°), median and 90th percentile over the queries,
  reply and thumbnail included; and the share of queries whose exact asset was
  found, as a sanity check (the accuracy benchmark is pose_accuracy.py).

Also: the first stage of retrieval (pooled descriptors of every template,
inner products, best per asset) with numpy against faiss-cpu's exact
inner-product index, to find where a vector search library starts to pay.

    .venv/bin/python benchmarks/pose_scaling.py --quick          # 40 psb24 test models, 100 assets
    .venv/bin/python benchmarks/pose_scaling.py                  # 40 test, 40 training, 100, 1000 assets
    .venv/bin/python benchmarks/pose_scaling.py --sizes 1000 --run runs/psb   # with a trained model
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
from _common import SHARED, print_table, write_result  # noqa: E402


def meshes(root: Path, seed: int) -> list[tuple[str, Path]]:
    """(class, mesh) of every psb24 test model, then every training model, then procedural props."""
    from render.procedural import write_library

    psb = SHARED / "meshes" / "psb24"
    if not psb.is_dir():
        sys.exit(f"needs {psb}")
    out = [(c.name, p) for split in ("test", "train") for c in sorted(psb.iterdir()) if c.is_dir()
           for p in sorted((c / split).glob("*.ply"))]
    props = root / "props"
    if not props.is_dir():
        write_library(props, instances=65, test=0, seed=seed)  # 8 × 65 = 520
    out += [(p.parent.parent.name, p) for p in sorted(props.rglob("*.ply"))]  # props/<class>/train/*.ply
    return out


def library(root: Path, name: str, items: list[tuple[str, Path]]) -> Path:
    """A library folder ``Class/file`` of links to ``items``."""
    lib = root / name
    if not lib.is_dir():
        for label, p in items:
            d = lib / label
            d.mkdir(parents=True, exist_ok=True)
            (d / p.name).symlink_to(p.resolve())
    return lib


def pictures(lib: Path, out: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (asset id, picture path) pairs: random assets of ``lib`` from random cameras, on white."""
    from PIL import Image

    from render.engine import Renderer, RenderSettings
    from render.meshes import load_normalized
    from rotationnet.core.views import direction, rolled_up

    rng = np.random.default_rng(seed)
    files = sorted(lib.rglob("*.ply"))
    out.mkdir(parents=True, exist_ok=True)
    res = []
    with Renderer(RenderSettings(size=224, supersample=2)) as r:
        for k in rng.choice(len(files), size=min(n, len(files)), replace=False):
            f = files[int(k)]
            vn, faces, col, _ = load_normalized(f, colored=True)
            c = direction(rng.uniform(0, 360), rng.uniform(-10, 80))
            img = r.render(vn, faces, col, cameras=c[None], up=rolled_up(c, rng.uniform(-10, 10))[None])[0][0]
            p = out / f"{lib.name}_{f.parent.name}_{f.stem}.png"
            Image.fromarray(img).save(p)
            res.append((f"{f.parent.name}/{f.name}", str(p)))
    return res


def through_worker(lib: Path, queries: list[tuple[str, str]], cache: Path, run: str | None) -> dict:
    from rotationnet.app.client import WorkerClient

    with WorkerClient(timeout=7200) as w:
        w.request("ping")  # the worker is up (start-up not counted)
        t0 = time.time()
        info = w.request("configure", library=str(lib), cache=str(cache), run=run or "")
        idx = w.request("index")
        index_s = time.time() - t0
        times, exact, same_class = [], 0, 0
        for aid, path in queries:
            t1 = time.time()
            res = w.request("classify", images=[path], thumbs=str(cache / "thumbs"))
            times.append(time.time() - t1)
            exact += res["asset"]["id"] == aid
            same_class += res["asset"]["label"] == aid.split("/")[0]
    return {"assets": info["assets"], "model": bool(run), "rebuilt": idx["rebuilt"],
            # only a first use measures indexing (a reused cache rebuilds nothing)
            "index_s_per_asset": index_s / idx["rebuilt"] if idx["rebuilt"] else None, "queries": len(times),
            "query_s_median": float(np.median(times)), "query_s_p90": float(np.percentile(times, 90)),
            "exact_asset": exact / len(times), "same_class": same_class / len(times)}


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
    ap.add_argument("--quick", action="store_true", help="40 psb24 test models and 100 assets only")
    ap.add_argument("--sizes", default=None, help="comma list of rows: test40, train40, or a number of assets")
    ap.add_argument("--queries", type=int, default=10, help="pictures per library")
    ap.add_argument("--run", default=None, help="a trained model for the worker (default: none)")
    ap.add_argument("--work", default=None, help="folder for libraries, pictures and caches (default: a temporary one)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tag", default="", help="suffix of the result file")
    ap.add_argument("--reuse-cache", action="store_true",
                    help="keep each library's index in WORK/cache_<name> and reuse it (queries only; default: a new "
                         "cache every run, so indexing is measured)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="pose-scaling-"))
    sizes = (args.sizes.split(",") if args.sizes else
             ["test40", "100"] if args.quick else ["test40", "train40", "100", "1000"])
    items = meshes(work, args.seed)
    psb_test = [x for x in items if "/test/" in str(x[1])]
    psb_train = [x for x in items if "/train/" in str(x[1])]
    rows = []
    for name in sizes:
        chosen = (psb_test[::2][:40] if name == "test40" else psb_train[::9][:40] if name == "train40"
                  else items[:int(name)])
        lib = library(work, f"lib_{name}", chosen)
        qs = pictures(lib, work / "pictures", args.queries, args.seed)
        cache = work / (f"cache_{name}" if args.reuse_cache else f"cache_{name}_{time.strftime('%H%M%S')}")
        r = {"library": name, **through_worker(lib, qs, cache, args.run)}
        rows.append(r)
        print_table([r], list(r))
    stage = [first_stage(n) for n in (10, 100, 1000, 10000)]
    cols = ["library", "assets", "model", "index_s_per_asset", "query_s_median", "query_s_p90", "exact_asset",
            "same_class"]
    print_table(rows, cols)
    print()
    print_table(stage, ["assets", "vectors", "numpy_ms", "faiss_ms", "faiss_same_top12"])
    name = "pose_scaling" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")
    print(f"results: {write_result(name, rows, {'first_stage': stage})}")


if __name__ == "__main__":
    main()
