"""Training on mixed looks: does RotationNet's class hold on randomised renders and sketches?

    .venv/bin/python benchmarks/looks_accuracy.py [--quick] [--work DIR] [--finetune-epochs N]

Renders ../shared/data/meshes/psb24 (ring12, 160 px, fast engine) in each look of
``render/looks.py`` — plain, randomised, sketch — exactly as
``rotationnet render --look plain,randomised,sketch`` does (one folder per look and
a mixed training set), reports the rendering speed of each look (views/s), then
trains RotationNet twice with the recipe of ``benchmarks/psb_accuracy.py``
(efficientnet_lite0, frozen features, a 512-unit hidden layer, label smoothing
0.1, 15 head epochs, all training models):

* **plain**: on the plain training renders only (today's model);
* **mixed**: on the training renders of all three looks;

and evaluates both on the *test* models of every look: single-image class
accuracy (one picture, unknown view) and object accuracy from all 12 views.
Before/after on the same test images.  The queries of ``pose_accuracy.py`` rows
(d)/(e) (random viewpoints, other seeds) measure the same through the worker.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, print_table, psb8, write_result  # noqa: E402

LOOKS = ("plain", "randomised", "sketch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="8 categories, 112 px")
    ap.add_argument("--work", default=None, help="keep renders and runs here (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=14, help="look seed (and the training seed)")
    ap.add_argument("--finetune-epochs", type=int, default=0, help="also fine-tune the backbone (mixed model)")
    ap.add_argument("--head-epochs", type=int, default=15)
    ap.add_argument("--speed", type=int, default=0, metavar="N",
                    help="instead: render N psb24 meshes per look into a fresh folder (one process, 160 px, PNGs "
                         "written) and report views/s")
    args = ap.parse_args()
    psb = SHARED / "meshes" / "psb24"
    if not psb.is_dir():
        sys.exit(f"benchmark data not found: {psb}")
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="rotationnet-bench-blender-"))
    import torchvision  # noqa: F401  (before Blender's libraries: see tests/conftest.py)

    from render.bulk import mix_looks, render_library
    from render.engine import RenderSettings
    from rotationnet.nn import evaluate, train
    from rotationnet.nn.config import EvalConfig, TrainConfig

    work = Path(args.work or tempfile.mkdtemp(prefix="rotationnet-looks-"))
    size = 112 if args.quick else 160
    if args.speed:
        from render.meshes import find_meshes

        ms = find_meshes(psb, test_fraction=0.0)
        pick = ms[:: max(1, len(ms) // args.speed)][: args.speed]
        lst = work / "speed-list.txt"
        lst.write_text("".join(f"{m.path},{m.label},{m.split}\n" for m in pick))
        speed = []
        for look in LOOKS:
            out = Path(tempfile.mkdtemp(prefix=f"looks-speed-{look}-", dir=work))
            s = render_library(lst, out, RenderSettings(size=size, look=look, look_seed=args.seed), workers=1,
                               progress=False)
            assert s.ok, s.failed
            speed.append({"look": look, "meshes": s.rendered, "views": s.views, "seconds": s.seconds,
                          "views_per_s": s.views / s.seconds})
        print_table(speed, ["look", "meshes", "views", "seconds", "views_per_s"])
        print(f"results: {write_result('looks_speed', speed, {'size': size})}")
        return
    lib = psb8(psb, work) if args.quick else psb
    data = work / f"looks-{'psb8' if args.quick else 'psb24'}-{size}"
    speed = []
    for look in LOOKS:
        t0 = time.time()
        s = render_library(lib, data / look, RenderSettings(size=size, look=look, look_seed=args.seed), workers=1,
                           seed=args.seed, progress=False)
        assert s.ok, s.failed
        speed.append({"look": look, "objects": s.total, "rendered": s.rendered, "seconds": time.time() - t0,
                      "views_per_s": s.views / s.seconds if s.rendered else None})
    mix_looks(data, list(LOOKS))
    print_table(speed, ["look", "objects", "rendered", "seconds", "views_per_s"])
    rows = []
    models = {"plain": data / "plain", "mixed": data}
    for name, train_data in models.items():
        ft = args.finetune_epochs if name == "mixed" else 0
        run = work / f"run-{name}-{size}-h{args.head_epochs}-ft{ft}-s{args.seed}"
        t0 = time.time()
        train.train(TrainConfig(data=str(train_data), out=str(run), image_size=size, head_epochs=args.head_epochs,
                                epochs=ft, val_fraction=0.0, seed=args.seed, head_hidden=512, label_smoothing=0.1,
                                resume=(run / "last.json").exists()))
        train_s = time.time() - t0
        for look in LOOKS:
            res = evaluate.run_eval(EvalConfig(run=str(run), data=str(data / look), split="test", ks=(1,), trials=1))
            rows.append({"model": name, "test_look": look, "test_objects": res["objects"],
                         "image_acc": res["image_acc"], "object_acc_all": res["object_acc_all"],
                         "train_seconds": train_s, "finetune_epochs": ft, "run": str(run)})
            print_table([rows[-1]], list(rows[-1]))
    print()
    print_table(rows, ["model", "test_look", "test_objects", "image_acc", "object_acc_all", "train_seconds"])
    path = write_result("looks_accuracy" + ("_quick" if args.quick else ""), rows,
                        {"render_speed": speed, "size": size, "seed": args.seed,
                         "goal": "one picture: randomised >= 0.80, sketch >= 0.70 (pose_accuracy rows d/e)"})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
