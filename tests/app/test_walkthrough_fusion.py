"""Walk-throughs, piece by piece: frames from a video (time and sharpness),
the camera track by structure from motion on real photos (lmo-dev) against
their ground truth, and the fusion of per-frame sightings into one object per
physical object (grouping, robust rotation mean, triangulation, the unit).
The whole way through the worker runs in tests/app/test_scene.py."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rotationnet.core.camera import Intrinsics
from rotationnet.core.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
LMO = ROOT.parent / "shared" / "data" / "lmo-dev"
FLIP = np.diag([1.0, -1.0, -1.0])


def _rot(axis, deg):
    from rotationnet.app.walkthrough import _axis_angle

    return _axis_angle(np.asarray(axis, float), deg)


# ----------------------------------------------------------------------------
# frames
# ----------------------------------------------------------------------------

def _video(path, frames, fps=10):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    assert w.isOpened()
    for f in frames:
        w.write(np.ascontiguousarray(f[..., ::-1]))
    w.release()


def test_a_video_gives_its_sharpest_frame_of_every_window(tmp_path):
    import cv2

    from rotationnet.app.frames import sharpness, video_frames

    rng = np.random.default_rng(0)
    base = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    frames = []
    for i in range(40):  # a texture sliding right; every frame blurred except one in four (i % 4 == 2)
        f = np.roll(base, 2 * i, axis=1)
        frames.append(f if i % 4 == 2 else cv2.GaussianBlur(f, (0, 0), 3))
    _video(tmp_path / "walk.mp4", frames, fps=8)
    out = video_frames(tmp_path / "walk.mp4", tmp_path / "out", every=4)
    assert len(out) == 10
    assert [f.time_s for f in out] == pytest.approx([(4 * k + 2) / 8 for k in range(10)])
    assert [f.image.name for f in out] == [f"frame_{k + 1:06d}.jpg" for k in range(10)]
    from rotationnet.nn.data import load_image

    kept = load_image(out[3].image)
    assert sharpness(kept) > 2 * sharpness(cv2.GaussianBlur(kept, (0, 0), 3))
    # at most max_frames, spread over the whole video
    few = video_frames(tmp_path / "walk.mp4", tmp_path / "few", max_frames=5)
    assert len(few) == 5 and few[-1].time_s > 3.5


def test_bad_walkthrough_sources_name_the_file(tmp_path):
    from PIL import Image

    from rotationnet.app.frames import picture_frames, video_frames

    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="broken.mp4"):
        video_frames(tmp_path / "broken.mp4", tmp_path / "o")
    with pytest.raises(DataError, match="missing.mp4: video not found"):
        video_frames(tmp_path / "missing.mp4", tmp_path / "o")
    Image.new("RGB", (64, 48)).save(tmp_path / "a.png")
    Image.new("RGB", (48, 64)).save(tmp_path / "b.png")
    earlier = picture_frames([tmp_path / "a.png", tmp_path / "a.png"], tmp_path / "o")  # an earlier walk-through
    with pytest.raises(DataError, match="b.png: 48×64 pixels.*one camera"):
        picture_frames([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "o")
    # its frames (a scene.blend's background) are as they were, nothing half-written beside them
    assert all(f.image.is_file() for f in earlier) and sorted(p.name for p in (tmp_path / "o").iterdir()) == ["frames"]
    assert len(list((tmp_path / "o" / "frames").iterdir())) == 2


# ----------------------------------------------------------------------------
# the camera track on real photos
# ----------------------------------------------------------------------------

@pytest.mark.skipif(not LMO.is_dir(), reason="../shared/data/lmo-dev is absent")
def test_track_of_real_photos_matches_their_ground_truth(tmp_path):
    """Six lmo-dev photos of one run in which the objects stand still: every one
    registered; after the similarity that aligns the camera centres, rotations
    within 2° and centres within 2 % of the track's size of the truth (the
    ape's pose in each photo gives its camera)."""
    from rotationnet.app.frames import picture_frames
    from rotationnet.app.track import camera_track

    ann = json.loads((LMO / "annotations.json").read_text())
    names = ["000153", "000156", "000162", "000166", "000175", "000176"]
    gt = {}
    for a in ann["annotations"]:
        if a["object"] == "ape" and Path(a["photo"]).stem in names:
            u, _, vt = np.linalg.svd(np.reshape(a["R_model_to_camera"], (3, 3)))
            gt[Path(a["photo"]).stem] = (FLIP @ (u @ vt), FLIP @ np.asarray(a["t_model_to_camera_mm"]))
    k = np.reshape(ann["camera_K"], (3, 3))
    frames = picture_frames([LMO / "photos" / f"{n}.jpg" for n in names], tmp_path)
    track = camera_track([f.image for f in frames], Intrinsics(k, 640, 480), tmp_path / "sfm", threads=2)
    assert track.frames == list(range(6)) and not track.skipped
    # the truth in the first photo's camera frame: world → camera k = R_k R_0ᵀ
    r0, t0 = gt[names[0]]
    gt_rot = [gt[n][0] @ r0.T for n in names]
    gt_pos = np.array([-(r @ r0.T).T @ (gt[n][1] - r @ r0.T @ t0) for n, (r, _) in ((n, gt[n]) for n in names)])
    est = track.positions
    mu_e, mu_g = est.mean(0), gt_pos.mean(0)
    u, s, vt = np.linalg.svd((gt_pos - mu_g).T @ (est - mu_e))
    d = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    ra = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / ((est - mu_e) ** 2).sum()
    aligned = scale * (est - mu_e) @ ra.T + mu_g
    size = np.ptp(gt_pos, axis=0).max()
    assert np.median(np.linalg.norm(aligned - gt_pos, axis=1)) < 0.02 * size
    from rotationnet.core.views import geodesic_deg

    errs = [float(geodesic_deg(r @ ra.T, g)) for r, g in zip(track.rotations, gt_rot)]
    assert np.median(errs) < 2.0 and max(errs) < 4.0
    # the points it sees project where it saw them
    uv, rows = track.observations[2]
    assert np.median(np.linalg.norm(track.intr.project(track.to_camera(2, track.points[rows])) - uv, axis=1)) < 1.5


# ----------------------------------------------------------------------------
# fusion
# ----------------------------------------------------------------------------

def _entry(vertices):
    """An index entry of a box mesh, normalised as the index does (render.meshes.normalize)."""
    from render.meshes import normalize

    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4], [2, 3, 7], [2, 7, 6],
                      [1, 2, 6], [1, 6, 5], [0, 3, 7], [0, 7, 4]])
    v, norm = normalize(np.asarray(vertices, np.float64), faces)
    return SimpleNamespace(mesh=SimpleNamespace(vertices=v, faces=faces), scale=norm["scale"],
                           center=np.asarray(norm["center"]))


def _box(lo, hi):
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    return _entry([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                   [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]])


def _orbit(n, radius=3.0):
    """A camera track of n frames on a circle around the origin, looking at it (world = frame 0's camera)."""
    from rotationnet.app.track import Track

    rots, pos = [], []
    for k in range(n):
        a = np.radians(25 * k)
        c = np.array([radius * np.sin(a), 1.0, radius * np.cos(a)])  # the set at the origin, seen from around
        z = c / np.linalg.norm(c)  # camera +z points back, away from the set
        x = np.cross([0.0, 1.0, 0.0], z)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        rots.append(np.stack([x, y, z]))  # world → camera
        pos.append(c)
    intr = Intrinsics.from_fov(60.0, 640, 480)
    return Track(intr, list(range(n)), np.stack(rots), np.stack(pos), np.zeros((0, 3)),
                 [(np.zeros((0, 2)), np.zeros(0, int))] * n)


def _sighting(track, row, asset, r_world, t_world, conf, depth_error=1.0):
    from rotationnet.app.scene import Detection, PlacedObject
    from rotationnet.app.walkthrough import Sighting

    r = track.rotations[row] @ r_world
    t = (track.rotations[row] @ (t_world - track.positions[row])) * depth_error
    det = Detection((0, 0, 10, 10), np.zeros((480, 640), np.float32), [(asset, 0.5)], 0.5)
    return Sighting(row, track.intr, PlacedObject(asset, r, t, np.zeros(4), 0.5, conf, det, None), None)


def test_sightings_of_one_object_fuse_into_one_triangulated_placed_object():
    """Two objects, seen from four frames each with depth-from-size errors of
    ±10 % and rotation noise: two objects come out, each at its true place (the
    lines of sight are triangulated, not the depths averaged), its rotation the
    robust mean (one sighting 90° off is left out); a frame that names another
    asset for one of them loses the vote; an object seen once is less sure than one seen four times."""
    from rotationnet.app.walkthrough import fuse, group, to_world

    track = _orbit(6)
    entries = {"box": _box([-0.2, -0.2, 0], [0.2, 0.2, 0.5]), "crate": _box([-0.3, -0.3, 0], [0.3, 0.3, 0.3]),
               "lamp": _box([-0.1, -0.1, 0], [0.1, 0.1, 0.8])}
    up = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # asset +Z → world +Y
    truth = {"box": (_rot([0, 1, 0], 30) @ up, np.array([0.6, 0.0, 0.2])),
             "crate": (_rot([0, 1, 0], -70) @ up, np.array([-0.7, 0.0, -0.3])),
             "lamp": (up, np.array([0.0, 0.0, 1.5]))}
    rng = np.random.default_rng(1)
    sights = []
    for row in range(4):
        for a in ("box", "crate"):
            r, t = truth[a]
            noise = _rot(rng.normal(size=3), 3.0)
            name = "lamp" if (a == "box" and row == 2) else a  # one frame names another asset
            sights.append(_sighting(track, row, name, noise @ r, t, 0.7, depth_error=(0.9, 1.1, 1.05, 0.95)[row]))
    sights.append(_sighting(track, 4, "crate", _rot([1, 0, 0], 90) @ truth["crate"][0], truth["crate"][1], 0.3))
    sights.append(_sighting(track, 5, "lamp", *truth["lamp"], 0.8))
    to_world(sights, track)
    groups = group(sights, track, entries)
    objs = sorted((fuse(g, track, entries) for g in groups), key=lambda o: o.asset)
    assert [o.asset for o in objs] == ["box", "crate", "lamp"]
    for o in objs:
        r, t = truth[o.asset]
        from rotationnet.core.views import geodesic_deg

        assert float(geodesic_deg(o.rotation, r)) < 3.0, o.asset
        assert np.linalg.norm(o.location - t) < 0.03, o.asset  # 1 % of the 3-unit distance; depths were ±10 % off
    box, crate, lamp = objs
    assert box.rows == [0, 1, 2, 3] and box.alternatives[0][0] == "lamp"
    assert lamp.rows == [5] and crate.rows == [0, 1, 2, 3, 4]
    assert lamp.evidence["own"] > crate.evidence["own"] and lamp.confidence < crate.confidence


def test_the_track_unit_comes_from_the_assets_sizes():
    """A reconstruction in an arbitrary unit (here 1/3.7 of the assets'): the
    points seen inside a sighting's mask (on the faces the camera sees) against
    the placed asset's nearest surface give the unit back."""
    from rotationnet.app.scene import Detection, PlacedObject
    from rotationnet.app.walkthrough import Sighting, track_unit

    track = _orbit(2)
    entry = _box([-0.3, -0.3, -0.3], [0.3, 0.3, 0.3])
    # points on the cube's faces in the world (the cube at the origin, axis-aligned)
    rng = np.random.default_rng(0)
    p = rng.uniform(-0.3, 0.3, (1200, 3))
    axis = rng.integers(0, 3, 1200)
    p[np.arange(1200), axis] = rng.choice([-0.3, 0.3], 1200)
    normal = np.zeros_like(p)
    normal[np.arange(1200), axis] = np.sign(p[np.arange(1200), axis])
    p = p[((track.positions[0] - p) * normal).sum(1) > 0][:400]  # the faces the camera sees (it sees only those)
    uv = track.intr.project(track.to_camera(0, p))
    mask = np.zeros((480, 640), np.float32)
    lo, hi = np.floor(uv.min(0)).astype(int), np.ceil(uv.max(0)).astype(int)
    mask[lo[1]:hi[1], lo[0]:hi[0]] = 1.0
    unit = 3.7
    small = track.scaled(1.0 / unit)
    small.points = p / unit
    small.observations = [(uv, np.arange(len(p))), small.observations[1]]
    det = Detection(tuple(map(float, (*lo, *(hi - lo)))), mask, [("cube", 0.5)], 0.5)
    obj = PlacedObject("cube", track.rotations[0], track.to_camera(0, np.zeros((1, 3)))[0], np.zeros(4), 0.5, 0.9,
                       det, None)
    got = track_unit([Sighting(0, track.intr, obj, None)], small, {"cube": entry})
    assert got == pytest.approx(unit, rel=0.03)


def test_walkthrough_sources_and_the_command_line_name_bad_ones(tmp_path):
    """A folder's pictures in natural order (IMG_9 before IMG_10), other files
    ignored; a folder with one picture, a file that is no video, a missing path:
    errors naming it, from the command line too (exit status 2, no traceback)."""
    import subprocess
    import sys

    from PIL import Image

    from rotationnet.app.scenejob import walkthrough_sources
    from rotationnet.core.errors import RotationNetError

    for n in (10, 9, 100):
        Image.new("RGB", (8, 8)).save(tmp_path / f"IMG_{n}.jpg")
    (tmp_path / "notes.txt").write_text("not a picture")
    assert [Path(p).name for p in walkthrough_sources(tmp_path)["images"]] == ["IMG_9.jpg", "IMG_10.jpg",
                                                                               "IMG_100.jpg"]
    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (8, 8)).save(one / "a.png")
    with pytest.raises(RotationNetError, match="one: a walk-through needs two or more pictures"):
        walkthrough_sources(one)
    with pytest.raises(RotationNetError, match="notes.txt: not a video"):
        walkthrough_sources(tmp_path / "notes.txt")
    p = subprocess.run([sys.executable, "-m", "rotationnet.cli", "walkthrough", str(tmp_path / "missing"),
                        "--library", str(tmp_path), "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 2 and "missing: no such video or folder of pictures" in p.stderr
    assert "Traceback" not in p.stderr
