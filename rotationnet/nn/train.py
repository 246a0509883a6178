"""Training: ``train(TrainConfig(data=..., out=...))``, the library behind
``rotationnet train DATA --out RUN``.

Laid out like torchvision's classification reference: a :class:`Session`
holds what the phases share (config, process group, model, data, the
:class:`TrainState` saved in every checkpoint); :func:`head_phase` /
:func:`train_head_one_epoch` and :func:`finetune_phase` /
:func:`finetune_one_epoch` do the work; :func:`evaluate_objects` validates.

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

import csv
import dataclasses
import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm.auto import tqdm

from rotationnet.core.errors import CheckpointError, DataError, RotationNetError
from rotationnet.core.fileio import atomic_path, ensure_writable_dir, remove_stale_temporaries

from .assign import candidate_scores, joint_argmax, rotationnet_loss, view_log_ratios
from .checkpoint import load_checkpoint, read_metadata, save_checkpoint
from .config import TrainConfig, stored_config
from .data import MultiViewDataset, ObjectSampler, load_dataset, split_validation
from .distributed import DistContext, init_from_env
from .model import RotationNet

log = logging.getLogger("rotationnet.nn.train")

__all__ = ["train", "TrainState", "Session", "head_phase", "train_head_one_epoch", "finetune_phase",
           "finetune_one_epoch", "evaluate_objects", "object_accuracy", "extract_features", "ConsoleHandler"]


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


class ConsoleHandler(logging.Handler):
    """Log lines on the console through tqdm's writer, so they never land in
    the middle of a progress bar; written to whatever ``sys.stderr`` is now
    (not the one at creation), so callers that swap stderr (tests, notebooks)
    never hit a closed stream."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "file_only", False):  # e.g. the head phase's epoch rows: its bar shows them
            return
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _setup_logging(run: Path) -> logging.Handler:
    handler = logging.FileHandler(run / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    if not any(isinstance(h, ConsoleHandler) for h in log.handlers):
        console = ConsoleHandler()
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

def train(cfg: TrainConfig) -> dict:
    """Run training as configured (see :class:`~rotationnet.nn.config.TrainConfig`).
    Under ``torchrun`` every process calls this; rank 0 logs and writes.
    Returns the final record (best validation accuracy, epochs, paths)."""
    ctx = init_from_env(cfg.device)
    run = Path(cfg.out)
    handler = None
    try:
        if ctx.is_main:
            ensure_writable_dir(run, "run folder")
            remove_stale_temporaries(run)  # partial files of a killed earlier run
            handler = _setup_logging(run)
        else:
            log.setLevel(logging.WARNING)
        ctx.barrier()
        s = Session.start(cfg, run, ctx)
        try:
            if cfg.head_epochs > 0 and s.state.phase == "head" and s.state.phase_epoch < cfg.head_epochs:
                head_phase(s)
            if cfg.epochs > 0 and not s.out_of_budget():
                finetune_phase(s)
        finally:
            s.close()
        ctx.barrier()
        best = s.state.best_val
        log.info("done: best validation accuracy %s; checkpoints in %s",
                 f"{best:.3f}" if best >= 0 else "n/a (no validation split)", run)
        return {"run": str(run), "best_val_acc": best if best >= 0 else None, "epochs": s.state.epoch}
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


@dataclass
class TrainState:
    """Where training stands; every checkpoint stores it under ``"state"``.
    ``batch``/``partial``: position and running sums inside an unfinished
    fine-tuning epoch (a mid-epoch checkpoint)."""

    phase: str = "head"
    phase_epoch: int = 0
    epoch: int = 0
    batch: int = 0
    partial: dict | None = None
    best_val: float = -1.0
    best_val_loss: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "TrainState":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclass
class Session:
    """Everything the two phases share: the config, the process group, the
    run folder, the model and data, the :class:`TrainState`, and the
    bookkeeping around checkpoints and logs.  Build it with :meth:`start`."""

    cfg: TrainConfig
    run: Path
    ctx: DistContext
    manifest: object
    model: RotationNet
    train_objs: list
    val_objs: list
    train_plain: MultiViewDataset
    val_ds: MultiViewDataset | None
    base_meta: dict
    state: TrainState
    resume_meta: dict | None = None
    tb: object = None
    epochs_this_run: int = 0
    last_save: float = dataclasses.field(default_factory=time.time)
    last_row: dict | None = None

    @classmethod
    def start(cls, cfg: TrainConfig, run: Path, ctx: DistContext) -> "Session":
        """Load the data, build (or restore) the model, open the logs."""
        _seed_everything(cfg.seed)  # the same initial weights on every rank
        manifest = load_dataset(cfg.data, rig=cfg.rig)
        rig = manifest.rig
        manifest.check_test_classes()
        pool = manifest.split("train")
        if not pool:
            raise DataError(f"{manifest.origin}: no objects in the 'train' split")
        if cfg.batch_objects % ctx.world_size:
            raise RotationNetError(f"--batch-objects {cfg.batch_objects} (the global batch) must be a multiple of the "
                                   f"{ctx.world_size} processes")
        if manifest.split("val"):
            train_objs, val_objs = pool, manifest.split("val")
        else:
            train_objs, val_objs = split_validation(pool, cfg.val_fraction, cfg.seed)
        classes = manifest.classes
        resume_meta = None
        if cfg.resume:
            if not (run / "last.json").exists():
                raise CheckpointError(f"{run / 'last.json'}: nothing to resume from")
            resume_meta = read_metadata(run / "last")
            if resume_meta["classes"] != classes or resume_meta["model"]["rig"]["spec"] != rig.spec:
                raise CheckpointError(f"{run / 'last.json'}: checkpoint classes/rig differ from {manifest.origin}")
        model = RotationNet(cfg.backbone, len(classes), rig, pretrained=not cfg.no_pretrained,
                            weights=cfg.weights, input_size=cfg.image_size, dropout=cfg.dropout,
                            head_hidden=cfg.head_hidden)
        _seed_everything(cfg.seed + ctx.rank)  # then each rank its own dropout masks
        if resume_meta is not None:
            stored_batch = stored_config(resume_meta).get("batch_objects")
            if resume_meta["state"].get("batch") and stored_batch != cfg.batch_objects:
                raise CheckpointError(f"{run / 'last.json'}: stopped in the middle of an epoch with --batch-objects "
                                      f"{stored_batch}; resume with the same value")
            # weights and RNG as they were, whichever phase comes next
            load_checkpoint(run / "last", model, restore_rng=True)
            if ctx.is_main:
                _restore_csv(run / "log.csv", resume_meta)
        model.to(ctx.device).to(memory_format=torch.channels_last)
        pre = model.preprocess
        per_rank = cfg.batch_objects // ctx.world_size
        log.info("data %s: %d classes, rig %s (V=%d, K=%d), %d train / %d val objects",
                 manifest.origin, len(classes), rig.spec, rig.num_views, rig.num_candidates, len(train_objs),
                 len(val_objs))
        log.info("model %s, input %d px, device %s%s", cfg.backbone, pre["input_size"], ctx.device,
                 f", {ctx.world_size} processes × {per_rank} objects per batch" if ctx.enabled else "")
        ds_kw = dict(image_size=pre["input_size"], mean=pre["mean"], std=pre["std"], seed=cfg.seed)
        train_plain = MultiViewDataset(manifest, train_objs, **ds_kw)
        val_ds = MultiViewDataset(manifest, val_objs, **ds_kw) if val_objs else None
        base_meta = {
            "classes": classes,
            "config": cfg.to_dict(),
            "dataset": {"origin": manifest.origin, "num_train": len(train_objs), "num_val": len(val_objs),
                        "val_ids": [o.id for o in val_objs]},
            "world_size": ctx.world_size,
        }
        state = TrainState()
        if resume_meta is not None:
            state = TrainState.from_dict({**dataclasses.asdict(state), **resume_meta["state"]})
            log.info("resuming from %s: phase %s, epoch %d%s", run / "last", state.phase, state.epoch,
                     f", batch {state.batch}" if state.batch else "")
        tb = None
        if ctx.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter

                tb = SummaryWriter(str(run / "tb"))
            except Exception as e:  # tensorboard missing or broken: CSV and log remain
                log.warning("TensorBoard logging disabled: %s", e)
        return cls(cfg=cfg, run=run, ctx=ctx, manifest=manifest, model=model, train_objs=train_objs,
                   val_objs=val_objs, train_plain=train_plain, val_ds=val_ds, base_meta=base_meta, state=state,
                   resume_meta=resume_meta, tb=tb, last_row=resume_meta.get("metrics") if resume_meta else None)

    # -- shared by the phases ---------------------------------------------------
    @property
    def device(self):
        return self.ctx.device

    @property
    def per_rank(self) -> int:
        """Objects per batch in this process."""
        return self.cfg.batch_objects // self.ctx.world_size

    @property
    def candidates(self) -> torch.Tensor:
        return self.model.candidates

    def resuming(self, phase: str) -> bool:
        """Whether the checkpoint being resumed stopped inside ``phase``."""
        return self.resume_meta is not None and self.resume_meta["state"]["phase"] == phase

    def out_of_budget(self) -> bool:
        return self.cfg.stop_after is not None and self.epochs_this_run >= self.cfg.stop_after

    def features(self, ds: MultiViewDataset | None, desc: str) -> torch.Tensor | None:
        """Backbone features (N, V, D) of a dataset, each rank computing every W-th object."""
        if ds is None:
            return None
        part = extract_features(self.model, ds, self.device, self.cfg.batch_objects, desc,
                                disable=not self.ctx.is_main, indices=range(self.ctx.rank, len(ds), self.ctx.world_size))
        return self.ctx.gather_rows(part, len(ds))

    def save_last(self, optimizer, scheduler, metrics: dict | None = None) -> None:
        """``RUN/last`` with the optimizer, scheduler and RNG; ``metrics``: the
        last finished epoch's row (kept for mid-epoch saves)."""
        if metrics is not None:
            self.last_row = metrics
        if self.ctx.is_main:
            save_checkpoint(self.run / "last", self.model,
                            {**self.base_meta, "state": dataclasses.asdict(self.state), "metrics": self.last_row},
                            optimizer, scheduler, with_rng=True)
        self.last_save = time.time()

    def mid_epoch_save_due(self, batches_since: int) -> bool:
        cfg = self.cfg
        return bool((cfg.checkpoint_every and batches_since >= cfg.checkpoint_every)
                    or (cfg.checkpoint_minutes and time.time() - self.last_save >= 60 * cfg.checkpoint_minutes))

    def finish_epoch(self, phase: str, optimizer, scheduler, row: dict) -> None:
        """Advance the state; on rank 0 select, checkpoint and log the epoch."""
        self.epochs_this_run += 1
        st = self.state
        st.phase, st.phase_epoch = phase, row["phase_epoch"]
        st.epoch, st.batch, st.partial = row["epoch"], 0, None
        if not self.ctx.is_main:
            return
        # select on validation accuracy, ties broken by validation loss (accuracy
        # saturates early on small sets while the view assignment still improves)
        no_val = math.isnan(row["val_acc"])
        best = (st.best_val, -(st.best_val_loss if st.best_val_loss is not None else math.inf))
        improved = not no_val and (row["val_acc"], -row["val_loss"]) > best
        if improved:
            st.best_val, st.best_val_loss = row["val_acc"], row["val_loss"]
        if improved or no_val:
            save_checkpoint(self.run / "best", self.model,
                            {**self.base_meta, "state": dataclasses.asdict(st), "metrics": row})
        self.save_last(optimizer, scheduler, row)
        _append_csv(self.run / "log.csv", row)
        if self.tb is not None:
            for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
                if row[k] is not None and not math.isnan(row[k]):
                    self.tb.add_scalar(f"{k}", row[k], row["epoch"])
            self.tb.flush()
        log.info("epoch %3d %-8s loss %.4f  train acc %.3f  val loss %.4f  val acc %.3f  lr %.2e  %.1fs%s",
                 row["epoch"], phase, row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"], row["lr"],
                 row["seconds"], "  *best*" if improved else "", extra={"file_only": phase == "head"})

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None


# ----------------------------------------------------------------------------
# phase 1: frozen backbone, cached features
# ----------------------------------------------------------------------------

def head_phase(s: Session) -> None:
    """Train only the head on backbone features computed once."""
    cfg, ctx, model = s.cfg, s.ctx, s.model
    t0 = time.time()
    f_train = s.features(s.train_plain, "features train")
    f_val = s.features(s.val_ds, "features val")
    log.info("cached backbone features of %d images in %.1fs", f_train.shape[0] * model.rig.num_views,
             time.time() - t0)
    y_train = torch.tensor(s.train_plain.labels)
    y_val = torch.tensor(s.val_ds.labels) if s.val_ds else None
    head = DDP(model.head) if ctx.enabled else model.head
    opt = torch.optim.AdamW(model.head.parameters(), lr=cfg.head_lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.head_epochs)
    if s.resuming("head"):
        load_checkpoint(s.run / "last", model, opt, sched, restore_rng=True)
    sampler = ObjectSampler(len(s.train_plain), shuffle=True, seed=cfg.seed, rank=ctx.rank,
                            world_size=ctx.world_size)
    bar = tqdm(range(s.state.phase_epoch, cfg.head_epochs), desc="head", unit="epoch", disable=not ctx.is_main)
    for e in bar:
        if s.out_of_budget():
            break
        row = train_head_one_epoch(s, head, opt, sched, sampler, e, f_train, y_train, f_val, y_val)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row['val_acc']:.3f}")
        s.finish_epoch("head", opt, sched, row)
    bar.close()


def train_head_one_epoch(s: Session, head, opt, sched, sampler: ObjectSampler, epoch: int,
                         f_train: torch.Tensor, y_train: torch.Tensor,
                         f_val: torch.Tensor | None, y_val: torch.Tensor | None) -> dict:
    """One epoch of the head on cached features (N, V, D); returns the epoch's log row."""
    model, ctx, device, cand = s.model, s.ctx, s.device, s.candidates
    t0 = time.time()
    sampler.set_epoch(epoch)
    order = list(sampler)
    model.head.train()
    loss_sum, n_batches, correct = 0.0, 0, 0
    for i in range(0, len(order), s.per_rank):
        idx = torch.tensor(order[i:i + s.per_rank])
        logits = head(f_train[idx].flatten(0, 1).to(device))
        loss, _ = rotationnet_loss(logits, y_train[idx].to(device), cand, s.cfg.label_smoothing)
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
    if f_val is not None and ctx.is_main:
        with torch.no_grad():
            logits = model.head(f_val.flatten(0, 1).to(device))
            val_loss = float(rotationnet_loss(logits, y_val.to(device), cand)[0])
            val_acc = object_accuracy(logits, y_val, cand)[0]
    return {"epoch": s.state.epoch + 1, "phase": "head", "phase_epoch": epoch + 1,
            "train_loss": loss_sum / max(n_batches, 1), "train_acc": correct / max(seen, 1),
            "val_loss": val_loss, "val_acc": val_acc, "lr": lr, "seconds": time.time() - t0}


# ----------------------------------------------------------------------------
# phase 2: full fine-tuning
# ----------------------------------------------------------------------------

def finetune_phase(s: Session) -> None:
    """Fine-tune the whole network (SGD), checkpointing mid-epoch when due."""
    cfg, ctx, model = s.cfg, s.ctx, s.model
    if s.state.phase != "finetune":
        s.state = dataclasses.replace(s.state, phase="finetune", phase_epoch=0, batch=0, partial=None)
    train_ds = MultiViewDataset(s.manifest, s.train_objs, augment=not cfg.no_augment, check_sizes=False,
                                cache=s.train_plain.decoded, image_size=s.train_plain.image_size,
                                mean=model.preprocess["mean"], std=model.preprocess["std"], seed=cfg.seed)
    groups = [{"params": list(model.backbone.parameters()), "lr": cfg.lr * cfg.backbone_lr_scale},
              {"params": list(model.head.parameters()), "lr": cfg.lr}]
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if s.resuming("finetune"):
        load_checkpoint(s.run / "last", model, opt, sched, restore_rng=True)
    if cfg.workers > 0:
        train_ds.preload(progress=ctx.is_main)
    net = DDP(model) if ctx.enabled else model
    sampler = ObjectSampler(len(train_ds), shuffle=True, seed=cfg.seed, rank=ctx.rank, world_size=ctx.world_size)
    # the loader draws its worker seeds from its own generator, not the global
    # RNG, so a run resumed mid-epoch draws the same dropout masks
    loader = torch.utils.data.DataLoader(train_ds, batch_size=s.per_rank, sampler=sampler,
                                         num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
                                         generator=torch.Generator().manual_seed(cfg.seed))
    for e in range(s.state.phase_epoch, cfg.epochs):
        if s.out_of_budget():
            break
        row = finetune_one_epoch(s, net, opt, sched, loader, sampler, train_ds, e)
        s.finish_epoch("finetune", opt, sched, row)


def finetune_one_epoch(s: Session, net, opt, sched, loader, sampler: ObjectSampler,
                       train_ds: MultiViewDataset, epoch: int) -> dict:
    """One fine-tuning epoch (from ``state.batch`` when resuming mid-epoch),
    then validation; returns the epoch's log row."""
    cfg, ctx, model, device, cand = s.cfg, s.ctx, s.model, s.device, s.candidates
    per_rank = s.per_rank
    total_batches = -(-len(sampler) // per_rank)  # per epoch and rank (start 0 here)
    t0 = time.time()
    start_batch = s.state.batch or 0
    partial = s.state.partial or {"loss_sum": 0.0, "batches": 0, "correct": 0, "seen": 0, "seconds": 0.0}
    sampler.set_epoch(epoch, start=start_batch * per_rank)
    train_ds.set_epoch(epoch)
    model.train()
    if cfg.bn == "frozen":  # keep the pretrained statistics: batches hold few, correlated objects
        _freeze_bn(model)
    loss_sum, n_batches, correct, seen = 0.0, 0, 0, 0
    since_save = 0
    bar = tqdm(loader, desc=f"finetune {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
               initial=start_batch, total=total_batches, disable=not ctx.is_main)
    for b, (x, y) in enumerate(bar, start=start_batch):
        x = x.to(device).flatten(0, 1).contiguous(memory_format=torch.channels_last)
        y = y.to(device)
        logits = net(x)
        loss, _ = rotationnet_loss(logits, y, cand, cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_value = float(loss.detach())
        loss_sum += loss_value
        n_batches += 1
        correct += int((object_accuracy(logits.detach(), y, cand)[1] == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{loss_value:.3f}")
        since_save += 1
        due = s.mid_epoch_save_due(since_save)
        if ctx.enabled:  # a collective decision: every rank joins the sums below
            due = ctx.sum([float(due)])[0] > 0
        if b + 1 < total_batches and due:
            tot = ctx.sum([loss_sum, n_batches, correct, seen])
            s.state.batch = b + 1
            s.state.partial = {"loss_sum": partial["loss_sum"] + tot[0], "batches": partial["batches"] + tot[1],
                               "correct": partial["correct"] + tot[2], "seen": partial["seen"] + tot[3],
                               "seconds": partial["seconds"] + time.time() - t0}
            s.save_last(opt, sched)
            since_save = 0
    tot = ctx.sum([loss_sum, n_batches, correct, seen])
    loss_sum, n_batches, correct, seen = (partial[k] + v for k, v in
                                          zip(("loss_sum", "batches", "correct", "seen"), tot))
    lr = opt.param_groups[-1]["lr"]
    sched.step()
    val_loss, val_acc = (evaluate_objects(model, s.val_ds, device, cfg.batch_objects, ctx)
                         if s.val_ds else (float("nan"),) * 2)
    return {"epoch": s.state.epoch + 1, "phase": "finetune", "phase_epoch": epoch + 1,
            "train_loss": loss_sum / max(n_batches, 1), "train_acc": correct / max(seen, 1),
            "val_loss": val_loss, "val_acc": val_acc, "lr": lr, "seconds": partial["seconds"] + time.time() - t0}


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
