"""Accuracy on real photos: COIL-100 turntable images (objects 1–60).

    python benchmarks/coil_accuracy.py [--quick] [--size 128] [--work DIR]

Train RotationNet (ring-12 rig, each object its own class) on the 12 photos at
0°, 30°, …, 330° of every object; test on all the other photos (5° apart).
Reported: identity accuracy from one photo and from 3 photos (unordered,
random, same object), and the azimuth error: each test photo's predicted view
slot, mapped through the object's alignment (the candidate its own training
views select), gives a turntable angle compared with the true one.
Four training photos are missing from the data set (obj11 30°, obj15 60°,
obj22 120°, obj25 210°); the nearest photo (5° away) stands in for them.
Goals: one-photo identity ≥ 98 %, median azimuth error ≤ 15°.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, print_table, write_result  # noqa: E402


def photos(obj_dir: Path) -> dict[int, Path]:
    out = {}
    for p in obj_dir.glob("*.png"):
        m = re.search(r"__(\d+)\.png$", p.name)
        if m:
            out[int(m.group(1))] = p
    return out


def build_manifest(coil: Path, work: Path, objects: list[int]):
    from rotationnet.core.manifest import Manifest, ObjectEntry
    from rotationnet.core.views import get_rig

    rig = get_rig("ring12")
    entries, tests, substitutes = [], [], []
    for n in objects:
        d = coil / f"obj{n}"
        ph = photos(d)
        views = []
        for a in range(0, 360, 30):
            if a in ph:
                views.append(ph[a])
            else:  # nearest available angle
                b = min(ph, key=lambda x: min(abs(x - a), 360 - abs(x - a)))
                views.append(ph[b])
                substitutes.append(f"obj{n}: {a}° ← {b}°")
        link = work / f"obj{n}"
        if not link.exists():
            link.symlink_to(d)
        entries.append(ObjectEntry(id=f"obj{n}", split="train", label=f"obj{n}",
                                   views=[f"obj{n}/{p.name}" for p in views]))
        tests += [(f"obj{n}", a, p) for a, p in sorted(ph.items()) if a % 30]
    m = Manifest(root=work, rig=rig, classes=[f"obj{n}" for n in objects], objects=entries,
                 info={"source": "COIL-100, 12 photos 30° apart per object"})
    m.save()
    return m, tests, substitutes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 objects")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--head-epochs", type=int, default=200)
    ap.add_argument("--finetune-epochs", type=int, default=0)
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    coil = SHARED / "coil100"
    if not coil.is_dir():
        sys.exit(f"benchmark data not found: {coil}")
    from rotationnet.nn import train
    from rotationnet.nn.config import TrainConfig
    from rotationnet.nn.evaluate import object_alignments
    from rotationnet.nn.predict import Predictor, unordered_assignment

    work = Path(args.work or tempfile.mkdtemp(prefix="rotationnet-coil-"))
    work.mkdir(parents=True, exist_ok=True)
    objects = list(range(1, 21 if args.quick else 61))
    m, tests, substitutes = build_manifest(coil, work, objects)
    run = work / f"run-{args.size}-ft{args.finetune_epochs}"
    t0 = time.time()
    train.train(TrainConfig(data=str(work), out=str(run), image_size=args.size, head_epochs=args.head_epochs,
                            epochs=args.finetune_epochs, val_fraction=0.0, resume=(run / "last.json").exists()))
    train_s = time.time() - t0
    pred = Predictor.from_run(run)
    rig = pred.rig
    # each object's alignment from its own 12 training photos
    tr_ratios, _ = pred.ratios_and_features([m.root / v for o in m.objects for v in o.views])
    tr_ratios = tr_ratios.reshape(len(m.objects), 12, 12, -1)
    labels = np.arange(len(m.objects))
    align = object_alignments(tr_ratios, labels, rig.candidates)
    t0 = time.time()
    te_ratios, _ = pred.ratios_and_features([p for _, _, p in tests])
    infer_s = time.time() - t0
    cls_idx = {c: i for i, c in enumerate(pred.classes)}
    hits, az_err = [], []
    for (obj, angle, _), r in zip(tests, te_ratios):
        sc, slots = unordered_assignment(r[None])
        c = int(sc.argmax())
        hits.append(c == cls_idx[obj])
        k = int(slots[cls_idx[obj], 0])  # the pose read with the true identity
        img = rig.candidates[align[cls_idx[obj]], k]
        pa = 30.0 * img
        az_err.append(min(abs(pa - angle), 360 - abs(pa - angle)))
    # three random photos of one object, order unknown
    rng = np.random.default_rng(0)
    by_obj: dict[str, list[int]] = {}
    for i, (obj, _, _) in enumerate(tests):
        by_obj.setdefault(obj, []).append(i)
    hits3 = []
    for obj, idx in by_obj.items():
        for _ in range(20):
            pick = rng.choice(idx, 3, replace=False)
            sc, _ = unordered_assignment(te_ratios[pick])
            hits3.append(int(sc.argmax()) == cls_idx[obj])
    az_err = np.array(az_err)
    row = {
        "objects": len(objects), "test_photos": len(tests), "size": args.size,
        "identity_acc_1photo": float(np.mean(hits)), "identity_acc_3photos": float(np.mean(hits3)),
        "azimuth_err_median_deg": float(np.median(az_err)), "azimuth_err_mean_deg": float(az_err.mean()),
        "azimuth_within_15deg": float(np.mean(az_err <= 15)),
        "train_seconds": train_s, "inference_images_per_s": len(tests) / infer_s,
        "finetune_epochs": args.finetune_epochs,
    }
    print_table([row], list(row))
    path = write_result("coil_accuracy" + ("_quick" if args.quick else ""), [row],
                        {"goal": "identity_acc_1photo >= 0.98, azimuth_err_median_deg <= 15",
                         "substituted_training_photos": substitutes,
                         "note": "test photos lie 5°, 10° or 15° from the nearest training view; picking "
                                 "the nearest view gives a median error of 10°"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
