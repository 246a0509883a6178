"""``rotationnet render``, ``rotationnet merge`` and ``rotationnet sheet`` (wired into rotationnet.cli)."""

from __future__ import annotations

import argparse
import json
import sys

from rotationnet.core.errors import RotationNetError

from .engine import ENGINES, engine_names
from .looks import LOOKS, look_names


def add_render_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("meshes", help="mesh library: Class/{train,test}/*.ext, Class/*.ext, or a list file")
    p.add_argument("out", help="output dataset folder")
    p.add_argument("--rig", default="ring12", help="ring12, dodeca20, ring:N:ELEV, rings:N:E1,E2,...")
    p.add_argument("--size", type=int, default=224, help="image size in pixels")
    p.add_argument("--engine", default=engine_names()[0], choices=engine_names(),
                   help="; ".join(f"{name}: {desc}" for name, (desc, _) in ENGINES.items()))
    p.add_argument("--background", default="white", choices=["white", "black", "transparent"])
    p.add_argument("--gray", action="store_true", help="grayscale images")
    p.add_argument("--depth", action="store_true", help="also write 16-bit depth maps")
    p.add_argument("--up-axis", default="Z", choices=["Z", "Y"], help="up axis of the source meshes")
    p.add_argument("--distance", type=float, default=2.5, help="camera distance (unit-sphere radii)")
    p.add_argument("--supersample", type=int, default=1, help="fast engine: anti-aliasing by k×k supersampling")
    p.add_argument("--aa", default="OFF", help="workbench anti-aliasing: OFF, FXAA, 5, 8, 11, 16, 32 (FXAA ~2x, 8 ~5x slower)")
    p.add_argument("--samples", type=int, default=16, help="cycles samples")
    p.add_argument("--denoiser", default="none", choices=["none", "oidn", "oidn-fast"], help="cycles denoiser")
    p.add_argument("--light", type=float, default=2.0, help="cycles headlight strength")
    p.add_argument("--ambient", type=float, default=0.25, help="cycles ambient (world) strength")
    p.add_argument("--look", default="plain",
                   help="; ".join(f"{name}: {desc}" for name, desc in LOOKS.items()) + ". Looks other than plain: fast "
                        "engine, seeded by --seed and each object's id, recorded in the manifest. A comma list "
                        "(plain,randomised,sketch) renders each look into OUT/<look> and writes one mixed training "
                        "set in OUT/manifest.json")
    p.add_argument("--backgrounds", default="", metavar="DIR",
                   help="randomised look: a folder of your photos to crop backgrounds from")
    p.add_argument("--workers", type=int, default=1, help="render processes (one Blender each)")
    p.add_argument("--shard", default="0/1", help="i/n: render every n-th mesh starting at i")
    p.add_argument("--limit", type=int, default=None, help="render at most this many meshes")
    p.add_argument("--test-fraction", type=float, default=0.2, help="test share for Class/*.ext libraries")
    p.add_argument("--seed", type=int, default=0, help="seed of that split and of the rotated copies")
    p.add_argument("--rotated-copies", type=int, default=0, metavar="N",
                   help="also render N randomly turned copies of every training mesh (views between the rig's cameras)")


def render_main(args: argparse.Namespace) -> int:
    from .bulk import render_library
    from .engine import RenderSettings

    try:
        i, n = (int(x) for x in args.shard.split("/"))
    except ValueError:
        raise RotationNetError(f"--shard must look like i/n, got '{args.shard}'") from None
    looks = [x.strip() for x in args.look.split(",") if x.strip()]
    bad = [x for x in looks if x not in look_names()]
    if not looks or bad or len(set(looks)) != len(looks):
        raise RotationNetError(f"--look must be one or more of {', '.join(look_names())} (comma-separated, "
                               f"each once), got '{args.look}'")
    if len(looks) > 1:
        from pathlib import Path

        from .bulk import mix_looks

        code = 0
        for look in looks:
            print(f"look {look}:")
            code |= render_main(argparse.Namespace(**{**vars(args), "look": look, "out": str(Path(args.out) / look)}))
        print(f"mixed training set ({', '.join(looks)}): {mix_looks(args.out, looks)}")
        return code
    try:
        settings = RenderSettings(
            rig=args.rig, size=args.size, engine=args.engine, background=args.background,
            color="gray" if args.gray else "rgb", depth=args.depth, distance=args.distance,
            up_axis=args.up_axis, supersample=args.supersample, aa=args.aa.upper(), samples=args.samples,
            denoiser=args.denoiser, light=args.light, ambient=args.ambient, look=args.look, look_seed=args.seed,
            look_backgrounds=args.backgrounds)
    except ValueError as e:
        raise RotationNetError(str(e)) from None
    summary = render_library(args.meshes, args.out, settings, workers=args.workers, shard=(i, n),
                             limit=args.limit, test_fraction=args.test_fraction, seed=args.seed,
                             rotated_copies=args.rotated_copies)
    print(f"rendered {summary.rendered}, skipped {summary.skipped}, failed {len(summary.failed)} "
          f"of {summary.total} meshes in {summary.seconds:.1f}s ({summary.views / max(summary.seconds, 1e-9):.0f} views/s)")
    for path, reason in summary.failed:
        print(f"  failed: {reason}", file=sys.stderr)
    print(f"manifest: {summary.manifest}")
    return 0 if summary.ok else 1


def add_sheet_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="rendered dataset folder (with manifest.json)")
    p.add_argument("--out", default=None, help="folder for the sheets (default DATASET/sheets)")
    p.add_argument("--thumb", type=int, default=96)
    p.add_argument("--max-objects", type=int, default=24, help="objects per class sheet")
    p.add_argument("--split", default=None)


def sheet_main(args: argparse.Namespace) -> int:
    from .sheet import write_sheets

    paths = write_sheets(args.dataset, args.out, args.thumb, args.max_objects, args.split)
    print(json.dumps([str(p) for p in paths], indent=2))
    return 0


def add_merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="merged dataset folder")
    p.add_argument("shards", nargs="+", help="render output folders (e.g. one per --shard i/n job)")


def merge_main(args: argparse.Namespace) -> int:
    from .bulk import merge_shards

    path = merge_shards(args.shards, args.out)
    from rotationnet.core.manifest import Manifest

    m = Manifest.load(path)
    print(f"merged {len(args.shards)} shards: {len(m.objects)} objects, {len(m.classes)} classes")
    print(f"manifest: {path}")
    return 0
