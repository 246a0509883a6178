"""``rotationnet train DATA --rig ... --backbone ... --out RUN``

Two phases, either may be skipped:

1. **head** (``--head-epochs``): the backbone is frozen; its features of every
   training/validation image are computed once, then only the last layer is
   trained on them — seconds on a CPU.
2. **finetune** (``--epochs``): the whole network, SGD with momentum, light
   augmentation.

Model selection uses a validation split carved from the training objects
(``--val-fraction``, stratified, seeded) and never looks at the test split.
After every epoch (and during fine-tuning every ``--checkpoint-minutes``) ``RUN/last``
(model, optimizer, scheduler, RNG, sampler position) is
written atomically, and ``RUN/best`` when validation accuracy improves;
``--resume`` continues from ``RUN/last``.  Logs: ``RUN/train.log`` (readable),
``RUN/log.csv``, TensorBoard events in ``RUN/tb``.

Multi-process: ``torchrun --nproc-per-node=N -m rotationnet.cli train ...``
(DistributedDataParallel, gloo on CPU, nccl on CUDA).  ``--batch-objects`` is
the global batch; each rank takes whole objects (:class:`ObjectSampler`), so
batch norm and the latent view assignment stay per object; only rank 0 logs
and writes checkpoints.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm.auto import tqdm

from .assign import candidate_scores, joint_argmax, rotationnet_loss, view_log_ratios
from .checkpoint import load_checkpoint, read_metadata, save_checkpoint
from .data import MultiViewDataset, ObjectSampler, load_dataset, split_validation
from .distributed import DistContext, init_from_env
from .errors import CheckpointError, DataError, RotationNetError
from .fileio import atomic_path, ensure_writable_dir, remove_stale_temporaries
from .model import RotationNet
from .predict import default_device

log = logging.getLogger("rotationnet.train")

__all__ = ["add_arguments", "main", "train", "object_accuracy", "extract_features"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset: manifest.json, a folder holding one, or a plain layout")
    p.add_argument("--out", required=True, help="run folder for checkpoints and logs")
    p.add_argument("--rig", default=None, help="rig of a plain layout (ring12, dodeca20, ring:N:ELEV, rings:N:E1,E2)")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--weights", default=None, help="local backbone weights file (torchvision/timm backbones)")
    p.add_argument("--no-pretrained", action="store_true", help="start the backbone from random weights")
    p.add_argument("--image-size", type=int, default=None, help="input size (default: the backbone's)")
    p.add_argument("--head-epochs", type=int, default=200, help="frozen-backbone epochs on cached features")
    p.add_argument("--epochs", type=int, default=0, help="full fine-tuning epochs")
    p.add_argument("--batch-objects", type=int, default=8,
                   help="objects per batch (each brings V images); under torchrun the global batch, split over processes")
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning learning rate (SGD)")
    p.add_argument("--head-lr", type=float, default=3e-3, help="head learning rate (AdamW)")
    p.add_argument("--backbone-lr-scale", type=float, default=0.1,
                   help="fine-tuning: backbone learning rate = lr × this (the head keeps lr)")
    p.add_argument("--bn", default="frozen", choices=["frozen", "train"],
                   help="fine-tuning: keep BatchNorm statistics (frozen, for small sets) or update them")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--head-hidden", type=int, default=0, metavar="N",
                   help="one hidden layer of N units in the head, shared by all view slots (0: linear head)")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="label smoothing of the training loss over each slot's C+1 classes (validation loss unsmoothed)")
    p.add_argument("--val-fraction", type=float, default=0.15)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--workers", type=int, default=0, help="data loader processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from RUN/last")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="exit after N epochs in this invocation (time-sliced jobs; continue with --resume)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="fine-tuning: also save RUN/last every N batches (0: only at epoch ends and by time)")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="fine-tuning: also save RUN/last mid-epoch when this many minutes have passed (0: off)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when present; "
                   "under torchrun each process takes cuda:LOCAL_RANK)")


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def object_accuracy(logits: torch.Tensor, labels: torch.Tensor, candidates: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Accuracy of the joint (candidate, class) argmax over all V views.
    Returns (accuracy, predicted classes (N,))."""
    v = candidates.shape[1]
    cls, _, _ = joint_argmax(candidate_scores(view_log_ratios(logits, v), candidates))
    labels = labels.to(cls.device)
    return float((cls == labels).float().mean()) if len(labels) else float("nan"), cls


@torch.no_grad()
def extract_features(model: RotationNet, ds: MultiViewDataset, device, batch_objects: int = 8,
                     desc: str = "features", disable: bool = False, indices=None) -> torch.Tensor:
    """Backbone features of every view, (N, V, D), in eval mode (no augmentation);
    with ``indices`` only those objects, in that order."""
    model.eval()
    idx = list(range(len(ds)) if indices is None else indices)
    out = []
    for i in tqdm(range(0, len(idx), batch_objects), desc=desc, unit="batch", leave=False, disable=disable):
        x = torch.stack([ds[j][0] for j in idx[i:i + batch_objects]])
        x = x.to(device).flatten(0, 1).contiguous(memory_format=torch.channels_last)
        out.append(model.features(x).float().cpu().view(-1, ds.num_views, model.num_features))
    return torch.cat(out) if out else torch.zeros(0, ds.num_views, model.num_features)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Console(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (not the one at creation), so
    callers that swap stderr (tests, notebooks) never hit a closed stream."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(run: Path) -> logging.Handler:
    handler = logging.FileHandler(run / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    if not any(isinstance(h, _Console) for h in log.handlers):
        console = _Console()
        console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(console)
        log.propagate = False  # one console line per message, whatever the caller configured
    return handler


CSV_FIELDS = ["epoch", "phase", "phase_epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k) for k in CSV_FIELDS})




# ----------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------

def train(args: argparse.Namespace) -> dict:
    """Run training as configured by ``args`` (see :func:`add_arguments`).
    Under ``torchrun`` every process calls this; rank 0 logs and writes.
    Returns the final record (best validation accuracy, epochs, paths)."""
    ctx = init_from_env(args.device)
    run = Path(args.out)
    handler = None
    try:
        if ctx.is_main:
            ensure_writable_dir(run, "run folder")
            remove_stale_temporaries(run)  # partial files of a killed earlier run
            handler = _setup_logging(run)
        else:
            log.setLevel(logging.WARNING)
        ctx.barrier()
        return _train(args, run, ctx)
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
        ctx.close()


def _restore_csv(path: Path, meta: dict) -> None:
    """After a crash the CSV may lack the checkpoint's last epoch or hold
    epochs past it: make it end exactly at the checkpoint."""
    last = meta.get("metrics") or {}
    epoch = int(meta["state"]["epoch"])
    rows = []
    if path.exists():
        with open(path, newline="") as f:
            by_epoch = {int(r["epoch"]): r for r in csv.DictReader(f) if int(r["epoch"]) <= epoch}
        rows = [by_epoch[k] for k in sorted(by_epoch)]
    if last.get("epoch") == epoch and epoch not in {int(r["epoch"]) for r in rows}:
        rows.append(last)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k) for k in CSV_FIELDS})


def _freeze_bn(model) -> None:
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.eval()


def _train(args, run: Path, ctx: DistContext) -> dict:
    device = ctx.device
    main_rank = ctx.is_main
    _seed_everything(args.seed)  # the same initial weights on every rank
    manifest = load_dataset(args.data, rig=args.rig)
    rig = manifest.rig
    manifest.check_test_classes()
    pool = manifest.split("train")
    if not pool:
        raise DataError(f"{manifest.origin}: no objects in the 'train' split")
    if args.batch_objects % ctx.world_size:
        raise RotationNetError(f"--batch-objects {args.batch_objects} (the global batch) must be a multiple of the "
                               f"{ctx.world_size} processes")
    per_rank = args.batch_objects // ctx.world_size
    if manifest.split("val"):
        train_objs, val_objs = pool, manifest.split("val")
    else:
        train_objs, val_objs = split_validation(pool, args.val_fraction, args.seed)
    classes = manifest.classes
    resume_meta = None
    if args.resume:
        if not (run / "last.json").exists():
            raise CheckpointError(f"{run / 'last.json'}: nothing to resume from")
        resume_meta = read_metadata(run / "last")
        if resume_meta["classes"] != classes or resume_meta["model"]["rig"]["spec"] != rig.spec:
            raise CheckpointError(f"{run / 'last.json'}: checkpoint classes/rig differ from {manifest.origin}")
    model = RotationNet(args.backbone, len(classes), rig, pretrained=not args.no_pretrained,
                        weights=args.weights, input_size=args.image_size, dropout=args.dropout,
                        head_hidden=args.head_hidden)
    _seed_everything(args.seed + ctx.rank)  # then each rank its own dropout masks
    if resume_meta is not None:
        if resume_meta["state"].get("batch") and resume_meta["args"].get("batch_objects") != args.batch_objects:
            raise CheckpointError(f"{run / 'last.json'}: stopped in the middle of an epoch with --batch-objects "
                                  f"{resume_meta['args'].get('batch_objects')}; resume with the same value")
        # weights and RNG as they were, whichever phase comes next
        load_checkpoint(run / "last", model, restore_rng=True)
        if main_rank:
            _restore_csv(run / "log.csv", resume_meta)
    model.to(device).to(memory_format=torch.channels_last)
    pre = model.preprocess
    log.info("data %s: %d classes, rig %s (V=%d, K=%d), %d train / %d val objects",
             manifest.origin, len(classes), rig.spec, rig.num_views, rig.num_candidates, len(train_objs), len(val_objs))
    log.info("model %s, input %d px, device %s%s", args.backbone, pre["input_size"], device,
             f", {ctx.world_size} processes × {per_rank} objects per batch" if ctx.enabled else "")
    ds_kw = dict(image_size=pre["input_size"], mean=pre["mean"], std=pre["std"], seed=args.seed)
    train_plain = MultiViewDataset(manifest, train_objs, **ds_kw)
    val_ds = MultiViewDataset(manifest, val_objs, **ds_kw) if val_objs else None
    cand = model.candidates
    base_meta = {
        "classes": classes,
        "args": {k: v for k, v in vars(args).items() if k != "func"},
        "dataset": {"origin": manifest.origin, "num_train": len(train_objs), "num_val": len(val_objs),
                    "val_ids": [o.id for o in val_objs]},
        "world_size": ctx.world_size,
    }
    state = {"phase": "head", "phase_epoch": 0, "epoch": 0, "batch": 0, "partial": None,
             "best_val": -1.0, "best_val_loss": None}
    if resume_meta is not None:
        state.update(resume_meta["state"])
        log.info("resuming from %s: phase %s, epoch %d%s", run / "last", state["phase"], state["epoch"],
                 f", batch {state['batch']}" if state.get("batch") else "")
    tb = None
    if main_rank:
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(run / "tb"))
        except Exception as e:  # tensorboard missing or broken: CSV and log remain
            log.warning("TensorBoard logging disabled: %s", e)

    epochs_this_run = [0]
    last_save = [time.time()]

    def out_of_budget() -> bool:
        return args.stop_after is not None and epochs_this_run[0] >= args.stop_after

    last_row = [resume_meta.get("metrics") if resume_meta else None]

    def save_last(optimizer, scheduler, metrics=None) -> None:
        if metrics is not None:
            last_row[0] = metrics
        if main_rank:  # metrics: the last finished epoch's row
            save_checkpoint(run / "last", model, {**base_meta, "state": dict(state), "metrics": last_row[0]},
                            optimizer, scheduler, with_rng=True)
        last_save[0] = time.time()

    def mid_epoch_save_due(batches_since: int) -> bool:
        return ((args.checkpoint_every and batches_since >= args.checkpoint_every)
                or (args.checkpoint_minutes and time.time() - last_save[0] >= 60 * args.checkpoint_minutes))

    def finish_epoch(phase, optimizer, scheduler, row):
        epochs_this_run[0] += 1
        state["phase"], state["phase_epoch"] = phase, row["phase_epoch"]
        state["epoch"], state["batch"], state["partial"] = row["epoch"], 0, None
        if not main_rank:
            return
        # select on validation accuracy, ties broken by validation loss (accuracy
        # saturates early on small sets while the view assignment still improves)
        no_val = math.isnan(row["val_acc"])
        best = (state["best_val"], -(state["best_val_loss"] if state["best_val_loss"] is not None else math.inf))
        improved = not no_val and (row["val_acc"], -row["val_loss"]) > best
        if improved:
            state["best_val"], state["best_val_loss"] = row["val_acc"], row["val_loss"]
        if improved or no_val:
            save_checkpoint(run / "best", model, {**base_meta, "state": dict(state), "metrics": row})
        save_last(optimizer, scheduler, row)
        _append_csv(run / "log.csv", row)
        if tb is not None:
            for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
                if row[k] is not None and not math.isnan(row[k]):
                    tb.add_scalar(f"{k}", row[k], row["epoch"])
            tb.flush()
        log.info("epoch %3d %-8s loss %.4f  train acc %.3f  val loss %.4f  val acc %.3f  lr %.2e  %.1fs%s",
                 row["epoch"], phase, row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"], row["lr"],
                 row["seconds"], "  *best*" if improved else "")

    def features(ds, desc):
        if ds is None:
            return None
        part = extract_features(model, ds, device, args.batch_objects, desc, disable=not main_rank,
                                indices=range(ctx.rank, len(ds), ctx.world_size))
        return ctx.gather_rows(part, len(ds))

    # ---- phase 1: frozen backbone, cached features -------------------------
    if args.head_epochs > 0 and state["phase"] == "head" and state["phase_epoch"] < args.head_epochs:
        t0 = time.time()
        f_train = features(train_plain, "features train")
        f_val = features(val_ds, "features val")
        log.info("cached backbone features of %d images in %.1fs", f_train.shape[0] * rig.num_views, time.time() - t0)
        y_train = torch.tensor(train_plain.labels)
        y_val = torch.tensor(val_ds.labels) if val_ds else None
        head = DDP(model.head) if ctx.enabled else model.head
        opt = torch.optim.AdamW(model.head.parameters(), lr=args.head_lr, weight_decay=args.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.head_epochs)
        if resume_meta is not None and resume_meta["state"]["phase"] == "head":
            load_checkpoint(run / "last", model, opt, sched, restore_rng=True)
        sampler = ObjectSampler(len(train_plain), shuffle=True, seed=args.seed, rank=ctx.rank,
                                world_size=ctx.world_size)
        bar = tqdm(range(state["phase_epoch"], args.head_epochs), desc="head", unit="epoch", disable=not main_rank)
        for e in bar:
            if out_of_budget():
                break
            t0 = time.time()
            sampler.set_epoch(e)
            order = list(sampler)
            model.head.train()
            loss_sum, n_batches, correct = 0.0, 0, 0
            for i in range(0, len(order), per_rank):
                idx = torch.tensor(order[i:i + per_rank])
                logits = head(f_train[idx].flatten(0, 1).to(device))
                loss, _ = rotationnet_loss(logits, y_train[idx].to(device), cand, args.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += float(loss.detach())
                n_batches += 1
                correct += int((object_accuracy(logits.detach(), y_train[idx], cand)[1].cpu() == y_train[idx]).sum())
            loss_sum, n_batches, correct, seen = ctx.sum([loss_sum, n_batches, correct, len(order)])
            lr = opt.param_groups[0]["lr"]
            sched.step()
            model.head.eval()
            val_loss = val_acc = float("nan")
            if f_val is not None and main_rank:
                with torch.no_grad():
                    logits = model.head(f_val.flatten(0, 1).to(device))
                    val_loss = float(rotationnet_loss(logits, y_val.to(device), cand)[0])
                    val_acc = object_accuracy(logits, y_val, cand)[0]
            row = {"epoch": state["epoch"] + 1, "phase": "head", "phase_epoch": e + 1,
                   "train_loss": loss_sum / max(n_batches, 1), "train_acc": correct / max(seen, 1),
                   "val_loss": val_loss, "val_acc": val_acc,
                   "lr": lr, "seconds": time.time() - t0}
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val_acc:.3f}")
            finish_epoch("head", opt, sched, row)
        bar.close()
        del f_train, f_val, head

    # ---- phase 2: full fine-tuning ----------------------------------------
    if args.epochs > 0 and not out_of_budget():
        if state["phase"] != "finetune":
            state["phase"], state["phase_epoch"], state["batch"], state["partial"] = "finetune", 0, 0, None
        train_ds = MultiViewDataset(manifest, train_objs, augment=not args.no_augment, check_sizes=False, **ds_kw)
        train_ds._cache = train_plain._cache  # share decoded images
        groups = [{"params": list(model.backbone.parameters()), "lr": args.lr * args.backbone_lr_scale},
                  {"params": list(model.head.parameters()), "lr": args.lr}]
        opt = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
        if resume_meta is not None and resume_meta["state"]["phase"] == "finetune":
            load_checkpoint(run / "last", model, opt, sched, restore_rng=True)
        if args.workers > 0:
            train_ds.preload(progress=main_rank)
        net = DDP(model) if ctx.enabled else model
        sampler = ObjectSampler(len(train_ds), shuffle=True, seed=args.seed, rank=ctx.rank, world_size=ctx.world_size)
        total_batches = -(-len(sampler) // per_rank)  # per epoch and rank (start 0 here)
        # the loader draws its worker seeds from its own generator, not the global
        # RNG, so a run resumed mid-epoch draws the same dropout masks
        loader = torch.utils.data.DataLoader(train_ds, batch_size=per_rank, sampler=sampler,
                                             num_workers=args.workers, persistent_workers=args.workers > 0,
                                             generator=torch.Generator().manual_seed(args.seed))
        for e in range(state["phase_epoch"], args.epochs):
            if out_of_budget():
                break
            t0 = time.time()
            start_batch = state.get("batch") or 0
            partial = state.get("partial") or {"loss_sum": 0.0, "batches": 0, "correct": 0, "seen": 0, "seconds": 0.0}
            sampler.set_epoch(e, start=start_batch * per_rank)
            train_ds.set_epoch(e)
            model.train()
            if args.bn == "frozen":  # keep the pretrained statistics: batches hold few, correlated objects
                _freeze_bn(model)
            loss_sum, n_batches, correct, seen = 0.0, 0, 0, 0
            since_save = 0
            bar = tqdm(loader, desc=f"finetune {e + 1}/{args.epochs}", unit="batch", leave=False,
                       initial=start_batch, total=total_batches, disable=not main_rank)
            for b, (x, y) in enumerate(bar, start=start_batch):
                x = x.to(device).flatten(0, 1).contiguous(memory_format=torch.channels_last)
                y = y.to(device)
                logits = net(x)
                loss, _ = rotationnet_loss(logits, y, cand, args.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += float(loss.detach())
                n_batches += 1
                correct += int((object_accuracy(logits.detach(), y, cand)[1] == y).sum())
                seen += len(y)
                bar.set_postfix(loss=f"{float(loss):.3f}")
                since_save += 1
                due = mid_epoch_save_due(since_save)
                if ctx.enabled:  # a collective decision: every rank joins the sums below
                    due = ctx.sum([float(due)])[0] > 0
                if b + 1 < total_batches and due:
                    tot = ctx.sum([loss_sum, n_batches, correct, seen])
                    state["batch"] = b + 1
                    state["partial"] = {"loss_sum": partial["loss_sum"] + tot[0], "batches": partial["batches"] + tot[1],
                                        "correct": partial["correct"] + tot[2], "seen": partial["seen"] + tot[3],
                                        "seconds": partial["seconds"] + time.time() - t0}
                    save_last(opt, sched)
                    since_save = 0
            tot = ctx.sum([loss_sum, n_batches, correct, seen])
            loss_sum, n_batches, correct, seen = (partial[k] + v for k, v in
                                                  zip(("loss_sum", "batches", "correct", "seen"), tot))
            lr = opt.param_groups[-1]["lr"]
            sched.step()
            val_loss, val_acc = (evaluate_objects(model, val_ds, device, args.batch_objects, ctx)
                                 if val_ds else (float("nan"),) * 2)
            row = {"epoch": state["epoch"] + 1, "phase": "finetune", "phase_epoch": e + 1,
                   "train_loss": loss_sum / max(n_batches, 1), "train_acc": correct / max(seen, 1),
                   "val_loss": val_loss, "val_acc": val_acc,
                   "lr": lr, "seconds": partial["seconds"] + time.time() - t0}
            finish_epoch("finetune", opt, sched, row)
    if tb is not None:
        tb.close()
    ctx.barrier()
    result = {"run": str(run), "best_val_acc": state["best_val"] if state["best_val"] >= 0 else None,
              "epochs": state["epoch"]}
    log.info("done: best validation accuracy %s; checkpoints in %s",
             f"{state['best_val']:.3f}" if state["best_val"] >= 0 else "n/a (no validation split)", run)
    return result


@torch.no_grad()
def evaluate_objects(model: RotationNet, ds: MultiViewDataset, device, batch_objects: int = 8,
                     ctx: DistContext | None = None) -> tuple[float, float]:
    """(RotationNet loss, object accuracy with all views) on a dataset, eval
    mode; under torchrun each rank takes every W-th object and the sums are
    shared, so every rank returns the same figures."""
    ctx = ctx or DistContext()
    model.eval()
    idx = list(range(ctx.rank, len(ds), ctx.world_size))
    loss_sum, correct = 0.0, 0
    for i in range(0, len(idx), batch_objects):
        items = [ds[j] for j in idx[i:i + batch_objects]]
        x = torch.stack([a for a, _ in items]).to(device).flatten(0, 1).contiguous(memory_format=torch.channels_last)
        y = torch.tensor([b for _, b in items])
        logits = model(x)
        loss_sum += float(rotationnet_loss(logits, y.to(device), model.candidates)[0]) * len(y)
        correct += int((object_accuracy(logits, y, model.candidates)[1].cpu() == y).sum())
    loss_sum, correct = ctx.sum([loss_sum, correct])
    return loss_sum / len(ds), correct / len(ds)


def main(args: argparse.Namespace) -> int:
    result = train(args)
    print(json.dumps(result))
    return 0
