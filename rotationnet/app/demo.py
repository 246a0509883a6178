"""``rotationnet demo OUT`` (``make demo``): the main job end to end on a library
the project generates itself — no download, no data outside the repository.

1. a procedural library of 8 prop categories × 14 instances (render.procedural),
2. rendered with the ring-12 rig (plus turned copies of the training meshes),
   and again in the randomised and the sketch look (render/looks.py),
3. trained on the three looks mixed: a head on the frozen backbone's features
   (fine-tuning the backbone, ``--finetune-epochs``, costs minutes on a CPU and
   did not pay end to end: BENCHMARKS.md),
4. evaluated on the held-out instances,
5. predictions on held-out objects photographed from viewpoints between the
   rig's cameras, each matched to an asset of the library; the same objects as
   photo-like pictures (the randomised look) and as sketches (the sketch look),
   and any photos the user points at (``--photos DIR``), each on a prediction
   sheet: the picture above, the placed asset rendered from the found pose below,
6. a report: ``OUT/report/index.html``.

Every step is resumable: rerunning skips what is done.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("rotationnet.app.demo")

__all__ = ["run_demo"]


def run_demo(out, quick: bool = False, finetune_epochs: int | None = None, seed: int = 0, workers: int = 2,
             photos=None) -> Path:
    """Run the demo into ``out``; returns the report page.  The console shows
    progress bars and the steps; Blender's and Mesa's own output goes to
    ``out/demo.log``."""
    from rotationnet.core.fileio import native_output_to
    from rotationnet.nn.train import ConsoleHandler

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not log.handlers:
        h = ConsoleHandler()
        h.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False
    with native_output_to(out / "demo.log"):
        return _run_demo(out, quick, finetune_epochs, seed, workers, photos)


def _look_and_photo_predictions(svc, lib: Path, report: Path, rng, seed: int, photos=None) -> list[dict]:
    """Held-out props pictured in the randomised and the sketch look from new
    viewpoints, and the user's photos: one sheet each (picture above, the placed
    asset from the found pose below)."""
    from PIL import Image

    from render.engine import Renderer, RenderSettings
    from render.looks import look_rng, render_look
    from render.meshes import load_normalized
    from render.procedural import CATEGORIES
    from rotationnet.core.views import angle_deg, direction

    from .report import prediction_sheet

    refs_dir = report / "references"
    out = []
    with Renderer(RenderSettings(size=224, supersample=2)) as r:
        for cat in CATEGORIES:
            mesh = sorted((lib / cat / "test").glob("*.ply"))[0]
            vn, f, col, _ = load_normalized(mesh, colored=True)
            pics, views = [], []
            for look in ("randomised", "sketch"):
                az, el = float(rng.uniform(0, 360)), float(rng.uniform(10, 50))
                img, _ = render_look(r, look, vn, f, look_rng(seed, f"demo/{cat}/{look}"), col, jitter=False,
                                     cameras=direction(az, el)[None], up=np.array([[0.0, 0.0, 1.0]]))
                p = refs_dir / f"{cat}_{look}.png"
                Image.fromarray(img[0]).save(p)
                pics.append((look, p, img[0]))
                views.append((az, el))
            placed, titles, errs = [], [], []
            for (look, p, _), (az, el) in zip(pics, views):
                pred = svc.classify({"images": [str(p)], "top_k": 3, "thumbs": str(report / "thumbnails")})
                im = pred["images"][0]
                placed.append(np.asarray(Image.open(im["thumbnail"])))
                titles.append(f"{look}: {pred['class']} -> {pred['asset']['id']}")
                errs.append(float(angle_deg(direction(az, el), im["asset_view_direction"])))
                out.append({"look": look, "true": cat, "class": pred["class"], "view_error_deg": errs[-1]})
            sheet = prediction_sheet([x[2] for x in pics], placed, " | ".join(titles), None,
                                     report / f"prediction_looks_{cat}.png")
            out[-1]["sheet"] = sheet.name
            out[-1]["caption"] = (f"{cat}, a held-out prop as a photo-like picture and as a sketch; view errors "
                                  + ", ".join(f"{e:.0f}°" for e in errs))
        if photos:
            files = sorted(q for q in Path(photos).iterdir() if q.suffix.lower() in (".png", ".jpg", ".jpeg"))
            for i in range(0, len(files), 4):
                group = files[i:i + 4]
                pics, placed, titles = [], [], []
                for q in group:
                    pred = svc.classify({"images": [str(q)], "top_k": 3, "thumbs": str(report / "thumbnails")})
                    pics.append(np.asarray(Image.open(q).convert("RGB")))
                    placed.append(np.asarray(Image.open(pred["images"][0]["thumbnail"])))
                    titles.append(f"{q.name}: {pred['class']} -> {pred['asset']['id']}")
                sheet = prediction_sheet(pics, placed, " | ".join(titles), None,
                                         report / f"prediction_photos_{i // 4:02d}.png")
                out.append({"look": "photo", "sheet": sheet.name, "caption": "your photos: " + "; ".join(titles)})
    return out


def _run_demo(out: Path, quick: bool, finetune_epochs: int | None, seed: int, workers: int, photos=None) -> Path:
    from PIL import Image

    from render.bulk import mix_looks, render_library
    from render.engine import Renderer, RenderSettings
    from render.procedural import CATEGORIES, write_library
    from render.sheet import write_sheets

    from rotationnet.nn import evaluate, train
    from rotationnet.nn.config import EvalConfig, TrainConfig
    from rotationnet.core.fileio import atomic_write_json
    from .report import plot_training_curves, prediction_sheet, write_html_report
    from .service import Service
    from render.meshes import load_normalized
    from rotationnet.core.views import angle_deg, direction

    t_start = time.time()
    size = 96 if quick else 128
    instances, test = (8, 2) if quick else (14, 3)
    epochs = finetune_epochs or 0
    lib = out / "library"
    if not (lib / "car").is_dir():
        log.info("[1/6] writing the procedural library to %s", lib)
        write_library(lib, instances=instances, test=test, seed=seed)
    renders = out / "renders"
    data = renders / "plain"
    log.info("[2/6] rendering %s → %s in three looks: plain, randomised (photo-like), sketch", lib, renders)
    s = render_library(lib, data, RenderSettings(rig="ring12", size=size, supersample=2), workers=workers,
                       rotated_copies=2, seed=seed)
    for look in ("randomised", "sketch"):
        s2 = render_library(lib, renders / look, RenderSettings(rig="ring12", size=size, look=look, look_seed=seed),
                            workers=workers, seed=seed)
        s.failed += s2.failed
    if s.failed:
        raise RuntimeError(f"rendering failed for {len(s.failed)} meshes: {s.failed[:3]}")
    mixed = mix_looks(renders, ["plain", "randomised", "sketch"]).parent
    write_sheets(data, max_objects=6)
    run = out / "run"
    log.info("[3/6] training → %s", run)
    t0 = time.time()
    train.train(TrainConfig(data=str(mixed), out=str(run), image_size=size, head_epochs=200, epochs=epochs, seed=seed,
                            batch_objects=8, resume=(run / "last.json").exists()))
    train_seconds = time.time() - t0
    report = out / "report"
    report.mkdir(exist_ok=True)
    log.info("[4/6] evaluating on the held-out instances")
    res = evaluate.run_eval(EvalConfig(run=str(run), data=str(data), split="test", class_pose=True, out=str(report),
                                       trials=5))
    log.info("[5/6] predicting held-out objects from new viewpoints")
    rng = np.random.default_rng(seed + 1)
    refs_dir = report / "references"
    refs_dir.mkdir(exist_ok=True)
    svc = Service(lambda m: None)
    svc.configure({"run": str(run), "library": str(lib), "cache": str(out / "index")})
    predictions, correct, exact = [], 0, 0
    for cat in CATEGORIES:
        mesh = sorted((lib / cat / "test").glob("*.ply"))[0]
        views = [(float(rng.uniform(0, 360)), float(rng.uniform(15, 45))) for _ in range(2)]
        vn, f, _, _ = load_normalized(mesh)
        with Renderer(RenderSettings(size=224, supersample=2)) as r:
            imgs, _ = r.render(vn, f, cameras=direction(*np.array(views).T))
        paths = []
        for k in range(2):
            p = refs_dir / f"{cat}_{k}.png"
            Image.fromarray(imgs[k]).save(p)
            paths.append(str(p))
        pred = svc.classify({"images": paths, "top_k": 3, "thumbs": str(report / "thumbnails")})
        correct += pred["class"] == cat
        exact += Path(pred["asset"]["source"]).resolve() == mesh.resolve()
        asset_views = [np.asarray(Image.open(im["thumbnail"])) for im in pred["images"]]
        title = f"{pred['class']} ({pred['probability']:.0%}) -> asset {pred['asset']['id']}"
        sheet = prediction_sheet([imgs[0], imgs[1]], asset_views, title, cat, report / f"prediction_{cat}.png")
        errs = []
        for k, im in enumerate(pred["images"]):
            # the pose is the matched asset's; props of a class share a
            # canonical frame, so the view error is read off directly
            errs.append(float(angle_deg(direction(*views[k]), im["asset_view_direction"])))
        predictions.append({"sheet": sheet.name, "caption": f"{cat}: views at azimuth/elevation "
                            + ", ".join(f"{a:.0f}°/{e:.0f}°" for a, e in views)
                            + f"; predicted view error {', '.join(f'{x:.0f}°' for x in errs)}",
                            "class": pred["class"], "true": cat, "view_errors_deg": errs})
    log.info("[5/6] the same held-out props as photo-like pictures and sketches%s",
             f", and the photos in {photos}" if photos else "")
    looks = _look_and_photo_predictions(svc, lib, report, rng, seed, photos)
    log.info("[6/6] writing the report")
    curves = plot_training_curves(run / "log.csv", report / "training_curves.png")
    errs = [e for p in predictions for e in p["view_errors_deg"]]
    metrics = {
        "object accuracy, 12 views": res["object_acc_all"],
        "object accuracy, k random views": res["object_acc_k"],
        "single-image accuracy": res["image_acc"],
        "asset pose, exact view (single image)": res["asset_pose"]["exact_view_rate"],
        "asset pose, median view error (deg)": res["asset_pose"]["view_angle_median_deg"],
        "class pose, exact view": res["class_pose"]["exact_view_rate"],
        "class pose, median view error (deg)": res["class_pose"]["view_angle_median_deg"],
        "new-viewpoint predictions, class correct": f"{correct}/{len(predictions)}",
        "new-viewpoint predictions, exact asset": f"{exact}/{len(predictions)}",
        "new-viewpoint predictions, median view error (deg)": float(np.median(errs)),
        **{f"{look} pictures, class correct": f"{sum(x['class'] == x['true'] for x in looks if x['look'] == look)}"
                                               f"/{sum(x['look'] == look for x in looks)}"
           for look in ("randomised", "sketch")},
        **{f"{look} pictures, median view error (deg)": float(np.median([x["view_error_deg"] for x in looks
                                                                         if x["look"] == look]))
           for look in ("randomised", "sketch")},
        "held-out objects": res["objects"],
        "training time (s)": round(train_seconds, 1),
        "whole demo (s)": round(time.time() - t_start, 1),
    }
    atomic_write_json(report / "metrics.json", {**metrics, "eval": evaluate.json_summary(res), "predictions": predictions,
                                                "looks": looks})
    page = write_html_report(
        report, "RotationNet demo: procedural props", metrics,
        {"training curves": curves.name, "confusion matrix (12 views)": Path(res["outputs"][1]).name},
        predictions + [x for x in looks if "sheet" in x],
        [f"{len(CATEGORIES)} categories × {instances} instances ({test} held out per category), rendered with the "
         f"ring-12 rig at {size} px (+2 turned copies of each training mesh), and in the randomised and sketch "
         "looks; trained on the three looks mixed: efficientnet_lite0, a head on its frozen features"
         + (f", then {epochs} fine-tuning epoch(s)" if epochs else "") + ". Numbers below: the plain-look held-out "
         "renders.",
         f"Renders: {data} (contact sheets in {data / 'sheets'}); run: {run}.",
         f"Every held-out image alone, predicted class and view: {Path(res['outputs'][2]).name}.",
         "Chance level: 12.5% for the class, 8.3% for the exact view."])
    print(f"report: {page.resolve()}  (Blender's and Mesa's output: {out / 'demo.log'})")
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}, indent=2))
    return page
