"""``rotationnet`` command line: ``render``, ``merge``, ``sheet``, ``train``, ``eval``, ``predict``, ``scene``, ``walkthrough``, ``demo``.

The top of the levels: each subcommand's arguments live in the ``cli`` module
of its level (``render/cli.py``, ``rotationnet/nn/cli.py``,
``rotationnet/app/cli.py``) and are imported only when used, so commands that
need no torch do not load it.  User errors (bad data, bad checkpoints) print one line
naming the file and the problem and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .core.errors import RotationNetError

# name: (module, argument adder, entry point, help)
COMMANDS = {
    "render": ("render.cli", "add_render_arguments", "render_main", "render a mesh library into a multi-view dataset"),
    "merge": ("render.cli", "add_merge_arguments", "merge_main",
              "merge render shards (separate output folders) into one dataset"),
    "sheet": ("render.cli", "add_sheet_arguments", "sheet_main", "contact sheets of a rendered dataset"),
    "train": ("rotationnet.nn.cli", "add_train_arguments", "train_main", "train RotationNet on a multi-view dataset"),
    "eval": ("rotationnet.nn.cli", "add_eval_arguments", "eval_main", "accuracy and pose of a trained run on a dataset split"),
    "predict": ("rotationnet.nn.cli", "add_predict_arguments", "predict_main",
                "class and pose from 1..V images of one object"),
    "scene": ("rotationnet.app.cli", "add_scene_arguments", "scene_main",
              "every library object of a whole picture: scene.json, scene.blend, overlay.png"),
    "walkthrough": ("rotationnet.app.cli", "add_walkthrough_arguments", "walkthrough_main",
                    "photos or a video around a set: one camera track and every library object placed once"),
    "demo": ("rotationnet.app.cli", "add_demo_arguments", "demo_main", "the main job end to end on a generated prop library"),
}


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
