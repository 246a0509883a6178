"""Evaluation: ``run_eval(EvalConfig(run=..., data=...))``, the library behind
``rotationnet eval RUN DATA --split test``: accuracy and pose on a dataset.

Every metric is computed from the per-image log-ratios (N, V, V, C) of the
split, one forward pass per image:

* ``object_acc_all`` — all V views in rig order, joint argmax over
  (candidate, class) (the reference method);
* ``object_acc_k`` — k random views per object, viewpoints unknown and
  order ignored (:func:`rotationnet.nn.assign.unordered_assignment`);
* ``image_acc`` — each image alone, its class by the marginal over view
  slots (:func:`rotationnet.nn.assign.image_class_log_probs`);
  ``image_acc_best_slot`` the paper's joint argmax over (slot, class);
* ``asset_pose`` — each object's own alignment is the candidate its full set
  of views selects for its class (the original ``make_reference_poses``); each
  image alone is then predicted and its view slot, mapped back through that
  alignment, is compared with the camera that really took it: exact-view rate,
  angle between the predicted and true camera directions, and geodesic error of
  the camera rotations (in-plane roll included);
* ``class_pose`` (``--class-pose``) — for objects sharing a canonical frame
  (turntable photos): one alignment per class, the candidate most training
  objects of the class select, used instead of the object's own;
* a confusion matrix (JSON and PNG);
* ``eval_<split>_images.csv`` — every image alone: its object, true class and
  view, the predicted class and view, and whether the class is right (to find
  the failures, or to compare two models image by image);
* ``skipped`` — objects left out because an image was missing or unreadable
  (each with its error); the others are evaluated.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from rotationnet.core.errors import CheckpointError, DataError
from rotationnet.core.fileio import atomic_path, atomic_write_json, atomic_write_text
from rotationnet.core.views import ViewRig, camera_matrices, geodesic_deg

from .assign import candidate_scores, image_class_log_probs, image_log_ratios, unordered_assignment
from .checkpoint import checkpoint_stem, load_checkpoint
from .config import EvalConfig
from .data import MultiViewDataset, load_dataset
from .distributed import default_device

__all__ = ["run_eval", "summary", "dataset_ratios", "evaluate_ratios", "image_table", "json_summary",
           "object_alignments"]


@torch.no_grad()
def dataset_ratios(model, ds: MultiViewDataset, device, batch_objects: int = 8, desc: str = "eval") -> np.ndarray:
    """Log-ratios (N, V, V, C) of every image of every object, eval mode."""
    model.eval()
    v = ds.num_views
    out = []
    for i in tqdm(range(0, len(ds), batch_objects), desc=desc, unit="batch", leave=False):
        x = torch.stack([ds[j][0] for j in range(i, min(i + batch_objects, len(ds)))])
        x = x.to(device).flatten(0, 1).contiguous(memory_format=torch.channels_last)
        r = image_log_ratios(model(x).float(), v).cpu().numpy()
        out.append(r.reshape(-1, v, v, r.shape[-1]))
    return np.concatenate(out) if out else np.zeros((0, v, v, model.num_classes), np.float32)


def object_alignments(ratios: np.ndarray, labels: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The candidate each object's full view set selects for its class, (N,)."""
    s = candidate_scores(torch.as_tensor(ratios), torch.tensor(candidates)).numpy()  # (N, K, C)
    return s[np.arange(len(labels)), :, labels].argmax(axis=1)


def _pose_errors(rig: ViewRig, pred_image: np.ndarray, true_image: np.ndarray) -> dict:
    ang = np.degrees(np.arccos(np.clip(np.sum(rig.cameras[pred_image] * rig.cameras[true_image], -1), -1, 1)))
    mats = camera_matrices(rig.cameras, rig.up)
    geo = geodesic_deg(mats[pred_image], mats[true_image])
    return {
        "exact_view_rate": float(np.mean(pred_image == true_image)),
        "view_angle_median_deg": float(np.median(ang)),
        "view_angle_mean_deg": float(np.mean(ang)),
        "geodesic_median_deg": float(np.median(geo)),
        "geodesic_mean_deg": float(np.mean(geo)),
        "images": int(len(ang)),
    }


def evaluate_ratios(ratios: np.ndarray, labels: np.ndarray, rig: ViewRig, ks=None, trials: int = 3,
                    seed: int = 0, class_alignment: np.ndarray | None = None) -> dict:
    """All metrics from log-ratios.

    Args:
        ratios: (N, V, V, C); labels: (N,) class indices.
        ks: view counts for the k-view accuracy (default powers of two < V).
        class_alignment: optional (C,) candidate per class (class pose).
    Returns a JSON-ready dict (see the module docstring).
    """
    n, v, _, c = ratios.shape
    labels = np.asarray(labels)
    cand = rig.candidates
    scores = candidate_scores(torch.as_tensor(ratios), torch.tensor(cand)).numpy()  # (N, K, C)
    pred_all = scores.max(axis=1).argmax(axis=1)
    conf = np.zeros((c, c), dtype=np.int64)
    np.add.at(conf, (labels, pred_all), 1)
    res = {"objects": int(n), "num_views": v, "num_candidates": int(len(cand)),
           "object_acc_all": float(np.mean(pred_all == labels))}
    # k random unordered views
    rng = np.random.default_rng(seed)
    ks = ks or [k for k in (1, 2, 4, 8, 16, 32, 64) if k < v]
    acc_k = {}
    for k in ks:
        if not 1 <= k <= v:
            raise ValueError(f"k={k} outside 1..{v}")
        hits = []
        for i in range(n):
            for _ in range(trials):
                sub = rng.choice(v, size=k, replace=False)
                sc, _ = unordered_assignment(ratios[i, sub])
                hits.append(int(sc.argmax()) == labels[i])
        acc_k[str(k)] = float(np.mean(hits))
    res["object_acc_k"] = acc_k
    # single images: class by its marginal over slots, then that class's best slot
    flat = ratios.reshape(n * v, v, c)
    best_slot_per_class = flat.argmax(axis=1)  # (N·V, C)
    img_cls = image_class_log_probs(torch.as_tensor(flat, dtype=torch.float64)).numpy().argmax(axis=1)  # (N·V,)
    img_slot = best_slot_per_class[np.arange(n * v), img_cls]
    img_true = np.repeat(labels, v)
    res["image_acc"] = float(np.mean(img_cls == img_true))
    # the paper's rule (joint argmax over slot and class), for reference
    res["image_acc_best_slot"] = float(np.mean(flat.max(axis=1).argmax(axis=1) == img_true))
    true_image = np.tile(np.arange(v), n)
    # asset pose: the object's own alignment
    align = object_alignments(ratios, labels, cand)
    pred_image = cand[np.repeat(align, v), img_slot]
    res["asset_pose"] = _pose_errors(rig, pred_image, true_image)
    ok = img_cls == img_true
    if ok.any():
        res["asset_pose_correct_class"] = _pose_errors(rig, pred_image[ok], true_image[ok])
    if class_alignment is not None:
        res["class_pose"] = _pose_errors(rig, cand[class_alignment[img_true], img_slot], true_image)
    res["confusion"] = conf.tolist()
    # per-object and per-image predictions (run_eval writes the images as CSV; neither goes into the JSON)
    res["object_pred_class"] = pred_all.tolist()
    res["image_pred_class"] = img_cls.tolist()
    res["image_pred_view"] = pred_image.tolist()
    return res


PER_ITEM_KEYS = ("object_pred_class", "image_pred_class", "image_pred_view")


def json_summary(res: dict) -> dict:
    """``res`` without its per-object and per-image lists: what goes into
    ``eval_<split>.json`` (the images go to the CSV of :func:`image_table`)."""
    return {k: x for k, x in res.items() if k not in PER_ITEM_KEYS}


def image_table(res: dict, object_ids: list[str], labels, classes: list[str]) -> str:
    """CSV text of the per-image predictions in ``res`` (from
    :func:`evaluate_ratios`), one row per image in the split's (object, view)
    order; ``labels`` are the objects' class indices."""
    import csv
    import io

    v = res["num_views"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["object", "true_class", "view", "pred_class", "pred_view", "correct"])
    for i, (pc, pv) in enumerate(zip(res["image_pred_class"], res["image_pred_view"])):
        obj, view = divmod(i, v)
        true = int(labels[obj])
        w.writerow([object_ids[obj], classes[true], view, classes[pc], pv, int(pc == true)])
    return buf.getvalue()


def save_confusion_png(conf: np.ndarray, classes: list[str], path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = len(classes)
    size = max(4.0, 0.35 * c + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    norm = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(c), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(c), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    if c <= 30:
        for i in range(c):
            for j in range(c):
                if conf[i, j]:
                    ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _readable_objects(manifest, objs, kw) -> tuple[MultiViewDataset, list[dict]]:
    """Decode every object once; objects with a missing or unreadable image are
    left out (and reported) so one bad file never stops the evaluation."""
    probe = MultiViewDataset(manifest, objs, check_sizes=False, **kw)
    good, cache, skipped = [], {}, []
    for i, o in enumerate(objs):
        try:
            cache[len(good)] = probe.raw_views(i)
            good.append(o)
        except DataError as e:
            skipped.append({"id": o.id, "error": str(e)})
            print(f"rotationnet eval: skipping object '{o.id}': {e}", file=sys.stderr)
    if not good:
        raise DataError(f"{manifest.origin}: no readable objects to evaluate (first problem: {skipped[0]['error']})")
    return MultiViewDataset(manifest, good, check_sizes=False, cache=cache, **kw), skipped


def run_eval(cfg: EvalConfig) -> dict:
    """Evaluate ``cfg.run`` on ``cfg.split`` of ``cfg.data``; writes
    ``eval_<split>.json``, ``eval_<split>_images.csv`` and the confusion PNG
    (into ``cfg.out``, default the run folder) and returns every metric."""
    device = torch.device(cfg.device) if cfg.device else default_device()
    stem = checkpoint_stem(cfg.run, cfg.which)
    model, meta = load_checkpoint(stem, map_location="cpu")
    model.to(device).to(memory_format=torch.channels_last)
    manifest = load_dataset(cfg.data, rig=cfg.rig or model.rig)
    if manifest.rig.num_views != model.rig.num_views or manifest.rig.num_candidates != model.rig.num_candidates:
        raise CheckpointError(f"{stem}: model rig '{model.rig.spec}' does not match the dataset's '{manifest.rig.spec}'")
    classes = meta["classes"]
    objs = manifest.split(cfg.split)
    if not objs:
        raise DataError(f"{manifest.origin}: no objects in split '{cfg.split}' (splits: {manifest.splits})")
    for o in objs:
        if o.label not in classes:
            raise DataError(f"{manifest.origin}: object '{o.id}' has class '{o.label}', unknown to the model {stem}")
    pre = model.preprocess
    kw = dict(image_size=pre["input_size"], mean=pre["mean"], std=pre["std"])
    ds, skipped = _readable_objects(manifest, objs, kw)
    ds.labels = [classes.index(o.label) for o in ds.objects]
    ratios = dataset_ratios(model, ds, device, cfg.batch_objects, f"eval {cfg.split}")
    class_alignment = None
    if cfg.class_pose:
        tr = [o for o in manifest.split("train") if o.label in classes]
        if not tr:
            raise DataError(f"{manifest.origin}: --class-pose needs training objects")
        tds, _ = _readable_objects(manifest, tr, kw)
        tlabels = np.array([classes.index(o.label) for o in tds.objects])
        al = object_alignments(dataset_ratios(model, tds, device, cfg.batch_objects, "eval train"), tlabels,
                               model.rig.candidates)
        class_alignment = np.zeros(len(classes), dtype=np.int64)
        for ci in range(len(classes)):
            picks = al[tlabels == ci]
            if len(picks):
                class_alignment[ci] = np.bincount(picks).argmax()
    res = evaluate_ratios(ratios, np.array(ds.labels), model.rig, ks=cfg.ks, trials=cfg.trials, seed=cfg.seed,
                          class_alignment=class_alignment)
    res = {"checkpoint": str(stem), "data": manifest.origin, "split": cfg.split, "classes": classes, **res,
           "skipped": skipped}
    out = Path(cfg.out) if cfg.out else stem.parent
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"eval_{cfg.split}.json", json_summary(res))
    atomic_write_text(out / f"eval_{cfg.split}_images.csv", image_table(res, [o.id for o in ds.objects], ds.labels, classes))
    save_confusion_png(np.array(res["confusion"]), classes, out / f"eval_{cfg.split}_confusion.png",
                       f"{cfg.split}: object accuracy {res['object_acc_all']:.3f} ({res['objects']} objects)")
    res["outputs"] = [str(out / f"eval_{cfg.split}.json"), str(out / f"eval_{cfg.split}_confusion.png"),
                      str(out / f"eval_{cfg.split}_images.csv")]
    return res


def summary(res: dict) -> dict:
    """The few figures ``rotationnet eval`` prints."""
    out = {k: res[k] for k in ("object_acc_all", "object_acc_k", "image_acc", "asset_pose", "outputs")}
    if res["skipped"]:
        out["skipped"] = res["skipped"]
    if "class_pose" in res:
        out["class_pose"] = res["class_pose"]
    return out
