"""A walk-through's frames: photos in order, or a video sampled by time and sharpness.

Every used frame is written as a numbered picture ``OUT/frames/frame_000001.jpg``,
``frame_000002.jpg``, ... in order: structure from motion reads files, and the
Blender camera's background shows them as one image sequence.  They are
written into a folder beside it first, which then takes its place: a
walk-through that fails leaves an earlier one's frames as they were.  Large pictures
are written at most :data:`MAX_SIDE` pixels on the long side (the reply's
camera is the written frames').

A video is read once with OpenCV's ``VideoCapture``: one frame is kept per
window of ``every`` frames (by default about :data:`PER_SECOND` a second,
fewer when ``max_frames`` would be exceeded), the sharpest of its window (the
variance of the Laplacian: motion blur is what a walking camera suffers most).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rotationnet.core.errors import DataError
from rotationnet.core.fileio import atomic_path

__all__ = ["Frame", "video_frames", "picture_frames", "sharpness", "MAX_SIDE", "PER_SECOND"]

MAX_SIDE = 1280  # frames are written at most this many pixels on the long side
PER_SECOND = 2.0  # a video's default sampling rate (frames a second)
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Frame:
    """One used frame: ``image`` the written picture, ``source`` where it came
    from (a photo's path, or the video's), ``time_s`` its time in the video
    (None for photos), ``scale`` written size / source size."""

    image: Path
    source: str
    time_s: float | None
    scale: float = 1.0


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey picture at ≤ 320 px (higher: sharper)."""
    import cv2

    g = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)
    s = 320.0 / max(g.shape)
    if s < 1.0:
        g = cv2.resize(g, (round(g.shape[1] * s), round(g.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(g, cv2.CV_32F).var())


def _write(rgb: np.ndarray, path: Path) -> float:
    """Write ``rgb`` as a JPEG at most MAX_SIDE on the long side; returns the scale used."""
    import cv2

    s = min(1.0, MAX_SIDE / max(rgb.shape[:2]))
    if s < 1.0:
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(rgb[..., :3])).save(tmp, format="JPEG", quality=JPEG_QUALITY)
    return s


def _staging(final: Path) -> Path:
    """A new empty folder beside ``final`` the frames are written into: the
    frames an earlier walk-through left there (a scene.blend's background)
    stay until the new ones are all written (:func:`_publish`)."""
    staging = final.with_name(f".{final.name}-new-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def _publish(staging: Path, final: Path) -> None:
    """The written frames take the place of the folder's earlier ones."""
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)


def picture_frames(paths: Sequence, out: Path, max_frames: int = 80,
                   progress: Callable[[float, str], None] | None = None) -> list[Frame]:
    """Photos in the given order → frames (every ``len/max_frames``-th when
    there are more).  Raises DataError naming a picture that cannot be read
    or whose size differs from the first's (one camera for the whole track)."""
    from rotationnet.nn.data import load_image

    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: walk-through picture not found")
    if len(paths) > max_frames:
        pick = np.round(np.linspace(0, len(paths) - 1, max_frames)).astype(int)
        paths = [paths[i] for i in pick]
    final = Path(out) / "frames"
    folder = _staging(final)
    frames, size = [], None
    try:
        for n, p in enumerate(paths):
            rgb = load_image(p)  # DataError names the file
            if size is None:
                size = rgb.shape[:2]
            elif rgb.shape[:2] != size:
                raise DataError(f"{p}: {rgb.shape[1]}×{rgb.shape[0]} pixels, but the walk-through's first picture "
                                f"{paths[0]} is {size[1]}×{size[0]}: one camera takes the whole walk-through")
            name = f"frame_{n + 1:06d}.jpg"
            frames.append(Frame(final / name, str(p), None, _write(rgb, folder / name)))
            if progress:
                progress((n + 1) / len(paths), f"read picture {n + 1}/{len(paths)}")
        _publish(folder, final)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return frames


def video_frames(path, out: Path, every: int | None = None, max_frames: int = 80,
                 progress: Callable[[float, str], None] | None = None) -> list[Frame]:
    """A video → its sharpest frame in every window of ``every`` frames.

    Raises:
        DataError: the file is missing, OpenCV cannot decode it, or it has fewer than two frames.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: video not found")
    cap = cv2.VideoCapture(str(path))
    folder = None
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: OpenCV cannot open this video (an unsupported or damaged file)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and math.isfinite(fps) and fps > 0 else 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        step = every or max(1, round(fps / PER_SECOND))
        if count > 0 and count / step > max_frames:
            step = math.ceil(count / max_frames)
        final = Path(out) / "frames"
        folder = _staging(final)
        frames: list[Frame] = []
        best, best_sharp, best_i, i = None, -1.0, -1, 0

        def keep():
            name = f"frame_{len(frames) + 1:06d}.jpg"
            frames.append(Frame(final / name, str(path), round(best_i / fps, 4), _write(best, folder / name)))

        while len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = bgr[..., ::-1]
            sh = sharpness(rgb)
            if sh > best_sharp:
                best, best_sharp, best_i = rgb, sh, i
            i += 1
            if i % step == 0:
                keep()
                best, best_sharp = None, -1.0
                if progress and count:
                    progress(min(1.0, i / count), f"read video frame {i}/{count}")
        if best is not None and len(frames) < max_frames and i % step >= step / 2:
            keep()
        if len(frames) < 2:
            raise DataError(f"{path}: {'no frame' if not frames else 'one frame'} could be read from this video: a "
                            "walk-through needs at least two")
        _publish(folder, final)
    finally:
        cap.release()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return frames
