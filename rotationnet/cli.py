"""``rotationnet`` command line: ``render``, ``merge``, ``sheet``, ``train``, ``eval``, ``predict``, ``demo``.

Subcommand modules are imported only when used, so commands that need no
torch do not load it.  User errors (bad data, bad checkpoints) print one line
naming the file and the problem and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from .errors import RotationNetError

# name: (module, argument adder, entry point, help)
COMMANDS = {
    "render": ("render.cli", "add_render_arguments", "render_main", "render a mesh library into a multi-view dataset"),
    "merge": ("render.cli", "add_merge_arguments", "merge_main",
              "merge render shards (separate output folders) into one dataset"),
    "sheet": ("render.cli", "add_sheet_arguments", "sheet_main", "contact sheets of a rendered dataset"),
    "train": ("rotationnet.train", "add_arguments", "main", "train RotationNet on a multi-view dataset"),
    "eval": ("rotationnet.evaluate", "add_arguments", "main", "accuracy and pose of a trained run on a dataset split"),
    "predict": ("rotationnet.cli", "_predict_arguments", "_predict_main", "class and pose from 1..V images of one object"),
    "demo": ("rotationnet.demo", "add_arguments", "main", "the main job end to end on a generated prop library"),
}


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run folder (or checkpoint) from rotationnet train")
    p.add_argument("images", nargs="+", help="1..V images of one object, any order")
    p.add_argument("--positions", default=None,
                   help="comma-separated rig image index of each image, when known (ordered mode)")
    p.add_argument("--which", default="best", choices=["best", "last"])
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--device", default=None)


def _predict_main(args: argparse.Namespace) -> int:
    from .predict import Predictor

    pred = Predictor.from_run(args.run, args.which, args.device)
    positions = None
    if args.positions:
        try:
            positions = [int(x) for x in args.positions.split(",")]
        except ValueError:
            raise RotationNetError(f"--positions must be comma-separated integers, got '{args.positions}'") from None
        if len(positions) != len(args.images):
            raise RotationNetError(f"--positions has {len(positions)} entries for {len(args.images)} images")
    try:
        res = pred.predict(args.images, positions=positions, top_k=args.top_k)
    except ValueError as e:
        if isinstance(e, RotationNetError):
            raise
        raise RotationNetError(str(e)) from None
    print(json.dumps(res, indent=2))
    return 0




def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only`` just that subcommand's module is imported."""
    parser = argparse.ArgumentParser(prog="rotationnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, adder, entry, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if only is not None and name != only:
            continue
        mod = importlib.import_module(module)
        getattr(mod, adder)(p)
        p.set_defaults(func=getattr(mod, entry))
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RotationNetError as e:
        print(f"rotationnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the environment, not a bug: full disk, permissions, a vanished file
        print(f"rotationnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rotationnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
