"""``rotationnet train``, ``rotationnet eval`` and ``rotationnet predict`` (wired into rotationnet.cli).

Arguments only: each command builds its config dataclass
(:mod:`rotationnet.nn.config`, where the defaults are defined) and calls the
library function.
"""

from __future__ import annotations

import argparse
import json

from rotationnet.core.errors import RotationNetError

from .config import EvalConfig, TrainConfig

T = TrainConfig.defaults()
E = EvalConfig.defaults()


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset: manifest.json, a folder holding one, or a plain layout")
    p.add_argument("--out", required=True, help="run folder for checkpoints and logs")
    p.add_argument("--rig", default=T["rig"], help="rig of a plain layout (ring12, dodeca20, ring:N:ELEV, rings:N:E1,E2)")
    p.add_argument("--backbone", default=T["backbone"])
    p.add_argument("--weights", default=T["weights"], help="local backbone weights file (torchvision/timm backbones)")
    p.add_argument("--no-pretrained", action="store_true", help="start the backbone from random weights")
    p.add_argument("--image-size", type=int, default=T["image_size"], help="input size (default: the backbone's)")
    p.add_argument("--head-epochs", type=int, default=T["head_epochs"], help="frozen-backbone epochs on cached features")
    p.add_argument("--epochs", type=int, default=T["epochs"], help="full fine-tuning epochs")
    p.add_argument("--batch-objects", type=int, default=T["batch_objects"],
                   help="objects per batch (each brings V images); under torchrun the global batch, split over processes")
    p.add_argument("--lr", type=float, default=T["lr"], help="fine-tuning learning rate (SGD)")
    p.add_argument("--head-lr", type=float, default=T["head_lr"], help="head learning rate (AdamW)")
    p.add_argument("--backbone-lr-scale", type=float, default=T["backbone_lr_scale"],
                   help="fine-tuning: backbone learning rate = lr × this (the head keeps lr)")
    p.add_argument("--bn", default=T["bn"], choices=["frozen", "train"],
                   help="fine-tuning: keep BatchNorm statistics (frozen, for small sets) or update them")
    p.add_argument("--momentum", type=float, default=T["momentum"])
    p.add_argument("--weight-decay", type=float, default=T["weight_decay"])
    p.add_argument("--dropout", type=float, default=T["dropout"])
    p.add_argument("--head-hidden", type=int, default=T["head_hidden"], metavar="N",
                   help="one hidden layer of N units in the head, shared by all view slots (0: linear head)")
    p.add_argument("--label-smoothing", type=float, default=T["label_smoothing"],
                   help="label smoothing of the training loss over each slot's C+1 classes (validation loss unsmoothed)")
    p.add_argument("--val-fraction", type=float, default=T["val_fraction"])
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--workers", type=int, default=T["workers"], help="data loader processes")
    p.add_argument("--seed", type=int, default=T["seed"])
    p.add_argument("--resume", action="store_true", help="continue from RUN/last")
    p.add_argument("--stop-after", type=int, default=T["stop_after"], metavar="N",
                   help="exit after N epochs in this invocation (time-sliced jobs; continue with --resume)")
    p.add_argument("--checkpoint-every", type=int, default=T["checkpoint_every"], metavar="N",
                   help="fine-tuning: also save RUN/last every N batches (0: only at epoch ends and by time)")
    p.add_argument("--checkpoint-minutes", type=float, default=T["checkpoint_minutes"],
                   help="fine-tuning: also save RUN/last mid-epoch when this many minutes have passed (0: off)")
    p.add_argument("--device", default=T["device"], help="cpu, cuda, cuda:1 (default: cuda when present; "
                   "under torchrun each process takes cuda:LOCAL_RANK)")


def train_main(args: argparse.Namespace) -> int:
    from .train import train

    print(json.dumps(train(TrainConfig.from_args(args))))
    return 0


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'") from None


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder (or checkpoint) from rotationnet train")
    p.add_argument("data", help="dataset: manifest.json, a folder holding one, or a plain layout")
    p.add_argument("--split", default=E["split"])
    p.add_argument("--which", default=E["which"], choices=["best", "last"])
    p.add_argument("--rig", default=E["rig"], help="rig of a plain layout (default: the model's)")
    p.add_argument("--k", dest="ks", type=_int_list, default=E["ks"],
                   help="comma-separated view counts for k-view accuracy (default 1,2,4,...)")
    p.add_argument("--trials", type=int, default=E["trials"], help="random view subsets per object and k")
    p.add_argument("--class-pose", action="store_true", help="also report pose with per-class alignments (needs a train split)")
    p.add_argument("--out", default=E["out"], help="output folder (default: the run folder)")
    p.add_argument("--batch-objects", type=int, default=E["batch_objects"])
    p.add_argument("--seed", type=int, default=E["seed"])
    p.add_argument("--device", default=E["device"])


def eval_main(args: argparse.Namespace) -> int:
    from .evaluate import run_eval, summary

    print(json.dumps(summary(run_eval(EvalConfig.from_args(args))), indent=2))
    return 0


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder (or checkpoint) from rotationnet train")
    p.add_argument("images", nargs="+", help="1..V images of one object, any order")
    p.add_argument("--positions", type=_int_list, default=None,
                   help="comma-separated rig image index of each image, when known (ordered mode)")
    p.add_argument("--which", default="best", choices=["best", "last"])
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--device", default=None)


def predict_main(args: argparse.Namespace) -> int:
    from .predict import Predictor

    if args.positions is not None and len(args.positions) != len(args.images):
        raise RotationNetError(f"--positions has {len(args.positions)} entries for {len(args.images)} images")
    pred = Predictor.from_run(args.run, args.which, args.device)
    try:
        res = pred.predict(args.images, positions=args.positions, top_k=args.top_k)
    except ValueError as e:
        if isinstance(e, RotationNetError):
            raise
        raise RotationNetError(str(e)) from None
    print(json.dumps(res, indent=2))
    return 0
