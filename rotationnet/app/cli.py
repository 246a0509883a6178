"""``rotationnet demo`` (wired into rotationnet.cli): arguments only."""

from __future__ import annotations

import argparse


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", nargs="?", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster version (a few minutes)")
    p.add_argument("--finetune-epochs", type=int, default=None, help="fine-tune the backbone for this many epochs after the head (default 0: minutes each on a CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="render processes")
    p.add_argument("--photos", default=None, metavar="DIR",
                   help="also predict every picture in DIR (PNG/JPEG) and put them on prediction sheets")


def demo_main(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, quick=args.quick, finetune_epochs=args.finetune_epochs, seed=args.seed, workers=args.workers,
             photos=args.photos)
    return 0
