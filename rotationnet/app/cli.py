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


def add_scene_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("picture", help="a whole picture: a photo or a painting")
    p.add_argument("--library", required=True, help="asset library: a mesh folder, a folder of .blend files or one .blend")
    p.add_argument("--run", default=None, help="a trained RotationNet run (optional)")
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--fov", type=float, default=None, metavar="DEG", help="the picture's horizontal field of view")
    cam.add_argument("--focal-px", type=float, default=None, metavar="F",
                     help="the focal length in pixels (principal point in the middle)")
    p.add_argument("--box", action="append", default=None, metavar="X,Y,W,H",
                   help="place exactly the objects inside these boxes (repeat the option)")
    p.add_argument("--max-objects", type=int, default=16)
    p.add_argument("--cache", default=None, help="folder for the asset index (default ~/.cache/rotationnet/index)")
    p.add_argument("--up-axis", choices=("Z", "Y"), default="Z", help="the library's up axis")
    p.add_argument("--no-blend", action="store_true", help="skip scene.blend")
    p.add_argument("--out", required=True, help="output folder: scene.json, scene.blend, overlay.png")


def _camera_request(fov: float | None, focal_px: float | None, size) -> dict | None:
    """--fov / --focal-px → the worker's camera (``size()`` → (width, height), read only when needed)."""
    from rotationnet.core.errors import RotationNetError

    if fov is not None:
        return {"fov_deg": fov}
    if focal_px is None:
        return None
    if not focal_px > 0:
        raise RotationNetError(f"--focal-px must be a positive number of pixels, got {focal_px}")
    w, h = size()
    return {"K": [[focal_px, 0.0, w / 2.0], [0.0, focal_px, h / 2.0], [0.0, 0.0, 1.0]]}


def scene_main(args: argparse.Namespace) -> int:
    from rotationnet.core.errors import RotationNetError

    from .scenejob import picture_size, run_scene

    camera = _camera_request(args.fov, args.focal_px, lambda: picture_size(args.picture))
    boxes = None
    if args.box:
        boxes = []
        for b in args.box:
            try:
                v = [float(x) for x in b.split(",")]
            except ValueError:
                v = []
            if len(v) != 4 or v[2] <= 0 or v[3] <= 0:
                raise RotationNetError(f"--box must be X,Y,W,H in pixels with a positive size, got {b!r}")
            boxes.append(v)
    res = run_scene(args.picture, args.library, args.out, run=args.run, camera=camera, cache=args.cache, boxes=boxes,
                    max_objects=args.max_objects, up_axis=args.up_axis, blend=not args.no_blend)
    print(f"{len(res['objects'])} objects: {args.out}/scene.json, overlay.png" + ("" if args.no_blend else ", scene.blend"))
    return 0


def add_walkthrough_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a video file, or a folder of pictures taken in order (sorted by name)")
    p.add_argument("--library", required=True, help="asset library: a mesh folder, a folder of .blend files or one .blend")
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--fov", type=float, default=None, metavar="DEG", help="the frames' horizontal field of view")
    cam.add_argument("--focal-px", type=float, default=None, metavar="F",
                     help="the focal length in pixels of the source pictures (principal point in the middle)")
    p.add_argument("--every", type=int, default=None, metavar="N", help="video: one frame in N (default ~2 a second)")
    p.add_argument("--max-frames", type=int, default=80, help="at most this many frames on the track (default 80)")
    p.add_argument("--scene-frames", type=int, default=8, help="frames the objects are looked for in (default 8)")
    p.add_argument("--max-objects", type=int, default=16)
    p.add_argument("--cache", default=None, help="folder for the asset index (default ~/.cache/rotationnet/index)")
    p.add_argument("--up-axis", choices=("Z", "Y"), default="Z", help="the library's up axis")
    p.add_argument("--no-blend", action="store_true", help="skip scene.blend")
    p.add_argument("--out", required=True, help="output folder: walkthrough.json, scene.blend, contact_sheet.png, "
                                                "frames/")


def walkthrough_main(args: argparse.Namespace) -> int:
    from .scenejob import run_walkthrough, source_size

    camera = _camera_request(args.fov, args.focal_px, lambda: source_size(args.source))
    res = run_walkthrough(args.source, args.library, args.out, camera=camera, every=args.every,
                          max_frames=args.max_frames, scene_frames=args.scene_frames, max_objects=args.max_objects,
                          cache=args.cache, up_axis=args.up_axis, blend=not args.no_blend)
    print(f"{len(res['frames'])} frames, {len(res['objects'])} objects: {args.out}/walkthrough.json, "
          "contact_sheet.png" + ("" if args.no_blend else ", scene.blend"))
    return 0
