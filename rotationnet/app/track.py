"""The camera track of a walk-through, by structure from motion (COLMAP through pycolmap).

SIFT features of every frame, matched (every pair for up to
:data:`EXHAUSTIVE_UP_TO` frames, else each frame with its neighbours in time),
then COLMAP's incremental mapper.  With a known K the camera is PINHOLE and
kept fixed; without, SIMPLE_PINHOLE (one focal length, principal point in the
middle) refined by bundle adjustment, from COLMAP's default guess (1.2 × the
long side) or the photos' EXIF.  The largest reconstruction is the track;
frames outside it are reported, never fatal.

Frames: the **world** is the first registered frame's camera frame, Blender
camera convention (x right, y up, −z forward); ``rotations[i]`` take the world
to camera i (Blender camera), ``positions[i]`` are camera centres in the world.
Structure from motion knows no scale: the track's unit is arbitrary until
:func:`Track.scaled` (the walk-through sets it from the assets' own sizes).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rotationnet.core.camera import Intrinsics
from rotationnet.core.errors import DataError

log = logging.getLogger("rotationnet.app.track")

__all__ = ["Track", "camera_track", "EXHAUSTIVE_UP_TO", "CV_TO_BLENDER"]

EXHAUSTIVE_UP_TO = 30  # frames matched pair by pair; more: each with its SEQUENTIAL_OVERLAP neighbours
SEQUENTIAL_OVERLAP = 10  # (and, COLMAP's quadratic overlap, those 2, 4, 8, ... frames away)
MAX_FEATURES = 4096  # SIFT features a frame (COLMAP's default 8192 halves the speed for little gain here)
CV_TO_BLENDER = np.diag([1.0, -1.0, -1.0])  # OpenCV/COLMAP camera (y down, z forward) ↔ Blender camera


@dataclass
class Track:
    """A walk-through's cameras.

    Attributes:
        intr: the frames' intrinsics (given, or refined by structure from motion: source ``estimated``).
        frames: indices (into the walk-through's frames) of the registered frames, in order.
        rotations: (N, 3, 3) world → camera of each registered frame (Blender camera).
        positions: (N, 3) camera centres in the world.
        points: (M, 3) the reconstruction's 3D points in the world.
        observations: per registered frame, (pixels (k, 2), point rows (k,)) of
            the points it sees (rows into ``points``).
        skipped: frame index → why it is not on the track.
        unit: world units per structure-from-motion unit (1 until :meth:`scaled`).
    """

    intr: Intrinsics
    frames: list[int]
    rotations: np.ndarray
    positions: np.ndarray
    points: np.ndarray
    observations: list[tuple[np.ndarray, np.ndarray]]
    skipped: dict[int, str] = field(default_factory=dict)
    unit: float = 1.0

    def row(self, frame: int) -> int:
        """The track row of walk-through frame ``frame`` (KeyError: not registered)."""
        try:
            return self.frames.index(frame)
        except ValueError:
            raise KeyError(frame) from None

    def to_camera(self, i: int, world_points: np.ndarray) -> np.ndarray:
        """(n, 3) world points → camera frame of track row ``i``."""
        return (np.asarray(world_points) - self.positions[i]) @ self.rotations[i].T

    def to_world(self, i: int, rotation: np.ndarray, location: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An asset pose in track row ``i``'s camera frame → the world frame."""
        rt = self.rotations[i].T
        return rt @ rotation, rt @ location + self.positions[i]

    def depths(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (k, 2) of the points row ``i`` sees and their depths (k,) in front of it."""
        uv, rows = self.observations[i]
        return uv, -self.to_camera(i, self.points[rows])[:, 2]

    def scaled(self, unit: float) -> "Track":
        """The same track with world lengths multiplied by ``unit`` (positions, points)."""
        return replace(self, positions=self.positions * unit, points=self.points * unit, unit=self.unit * unit)


def _log_quiet():
    import pycolmap

    try:
        pycolmap.logging.minloglevel = 2  # warnings and errors only; COLMAP's progress goes nowhere
    except AttributeError:  # pragma: no cover - older bindings
        pass


def camera_track(images: Sequence[Path], intr: Intrinsics | None, work: Path, *, sequential: bool | None = None,
                 threads: int = -1, progress: Callable[[float, str], None] | None = None) -> Track:
    """Structure from motion over the frames ``images`` (one camera).

    Args:
        images: the frames' files, in order (same folder, same size).
        intr: the frames' intrinsics, or None (estimated: a focal length refined from COLMAP's guess).
        work: folder for COLMAP's database and model (recreated).
        sequential: match neighbours in time only (default: when there are more than EXHAUSTIVE_UP_TO frames).
    Raises:
        DataError: no two frames could be matched into a reconstruction.
    """
    import pycolmap

    say = progress or (lambda f, m: None)
    _log_quiet()
    images = [Path(p) for p in images]
    folder = images[0].parent
    names = [p.name for p in images]
    work = Path(work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    db = work / "database.db"
    reader = pycolmap.ImageReaderOptions()
    if intr is not None:
        k = intr.K
        reader.camera_model = "PINHOLE"
        reader.camera_params = f"{k[0, 0]},{k[1, 1]},{k[0, 2]},{k[1, 2]}"
    else:
        reader.camera_model = "SIMPLE_PINHOLE"
    extract = pycolmap.FeatureExtractionOptions()
    extract.num_threads = threads
    extract.sift.max_num_features = MAX_FEATURES
    say(0.0, f"structure from motion: features of {len(images)} frames")
    pycolmap.extract_features(db, folder, image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                              reader_options=reader, extraction_options=extract, device=pycolmap.Device.cpu)
    sequential = len(images) > EXHAUSTIVE_UP_TO if sequential is None else sequential
    say(0.3, f"structure from motion: matching ({'neighbours in time' if sequential else 'every pair'})")
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = threads
    if sequential:
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = SEQUENTIAL_OVERLAP
        pycolmap.match_sequential(db, matching_options=matching, pairing_options=pairing, device=pycolmap.Device.cpu)
    else:
        pycolmap.match_exhaustive(db, matching_options=matching, device=pycolmap.Device.cpu)
    say(0.6, "structure from motion: registering the frames")
    opts = pycolmap.IncrementalPipelineOptions()
    opts.num_threads = threads
    opts.ba_refine_principal_point = False
    opts.ba_refine_extra_params = False
    opts.ba_refine_focal_length = intr is None
    opts.min_model_size = 2
    recs = pycolmap.incremental_mapping(db, folder, work / "sparse", opts)
    if not recs:
        raise DataError(f"{folder}: structure from motion could not match any two of the {len(images)} frames "
                        "(too little texture, or frames too far apart: walk slower or take more pictures)")
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    return _track_of(rec, names, intr)


def _track_of(rec, names: list[str], intr: Intrinsics | None) -> Track:
    """A pycolmap Reconstruction → :class:`Track` (world = the first registered frame's Blender camera)."""
    by_name = {im.name: im for im in rec.images.values() if im.has_pose}
    frames = [n for n, name in enumerate(names) if name in by_name]
    skipped = {n: "structure from motion could not place this frame (too few features matched with the others)"
               for n, name in enumerate(names) if name not in by_name}
    cam = next(iter(rec.cameras.values()))
    if intr is None:
        k = np.asarray(cam.calibration_matrix(), np.float64)
        intr = Intrinsics(k, int(cam.width), int(cam.height), "estimated")
    rs, ts = [], []
    for n in frames:
        pose = by_name[names[n]].cam_from_world()
        rs.append(np.asarray(pose.rotation.matrix(), np.float64))
        ts.append(np.asarray(pose.translation, np.float64))
    r0, t0 = rs[0], ts[0]
    f = CV_TO_BLENDER

    def world(x):  # COLMAP world points (n, 3) → our world (the first frame's Blender camera)
        return (np.asarray(x) @ r0.T + t0) @ f.T

    rotations = np.stack([f @ r @ r0.T @ f for r in rs])
    positions = world(np.stack([-r.T @ t for r, t in zip(rs, ts)]))
    ids = sorted(rec.points3D)
    row_of = {pid: i for i, pid in enumerate(ids)}
    points = world(np.array([rec.points3D[i].xyz for i in ids]).reshape(-1, 3))
    observations = []
    for n in frames:
        im = by_name[names[n]]
        uv, rows = [], []
        for p in im.points2D:
            if p.has_point3D():
                uv.append(p.xy)
                rows.append(row_of[p.point3D_id])
        observations.append((np.asarray(uv, np.float64).reshape(-1, 2), np.asarray(rows, np.int64)))
    return Track(intr, frames, rotations, positions, points, observations, skipped)
